//! A fresh PostgreSQL database per test, on the server the test command
//! starts (`scripts/setup-postgres.sh`, URL in SLIPWAY_TEST_POSTGRES).
//! Without one a test skips, unless SLIPWAY_REQUIRE_POSTGRES=1.

/// The URL of a new, empty database, or `None` (skipped) when no server.
pub fn fresh_database(test: &str) -> Option<String> {
    let admin = std::env::var("SLIPWAY_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://slipway:slipway@127.0.0.1:5432/postgres".into());
    let mut client = match postgres::Client::connect(&admin, postgres::NoTls) {
        Ok(client) => client,
        Err(error) => {
            assert_ne!(
                std::env::var("SLIPWAY_REQUIRE_POSTGRES").as_deref(),
                Ok("1"),
                "PostgreSQL is required here ({error}): run scripts/setup-postgres.sh"
            );
            eprintln!("SKIPPED {test}: no PostgreSQL ({error})");
            return None;
        }
    };
    let name = format!(
        "slipway_test_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create a test database");
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    Some(format!("{base}/{name}"))
}
