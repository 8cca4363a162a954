//! Which backend a process uses: the embedded SQLite file under the data
//! dir, or a PostgreSQL database several replicas share.

use std::path::PathBuf;

use super::{PgStore, SharedStore, SqliteStore, Store, StoreError};

#[derive(Debug, Clone)]
pub enum Database {
    /// `<data_dir>/releases.sqlite`.
    Sqlite(PathBuf),
    /// A `postgres://` URL.
    Postgres(String),
}

/// Connections a process keeps to PostgreSQL.
pub const POSTGRES_POOL: usize = 8;

impl Database {
    /// `--database` when given (a `postgres://` or `postgresql://` URL),
    /// else SQLite under `data_dir`.
    pub fn from_url(url: Option<&str>, data_dir: PathBuf) -> Result<Database, StoreError> {
        match url {
            None | Some("") => Ok(Database::Sqlite(data_dir)),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Database::Postgres(url.to_string()))
            }
            Some(url) => Err(StoreError::BadUrl(super::postgres::redact(url))),
        }
    }

    /// Whether other processes may share this database (several replicas).
    pub fn is_shared(&self) -> bool {
        matches!(self, Database::Postgres(_))
    }

    /// The URL or path as it may be shown (no password).
    pub fn display(&self) -> String {
        match self {
            Database::Sqlite(dir) => dir.join("releases.sqlite").display().to_string(),
            Database::Postgres(url) => super::postgres::redact(url),
        }
    }
}

/// Opens one connection; `owner` names this process in build leases.
pub fn open(
    database: &Database,
    owner: &str,
    lease_ms: i64,
) -> Result<Box<dyn Store + Send>, StoreError> {
    Ok(match database {
        Database::Sqlite(dir) => Box::new(SqliteStore::open(dir)?),
        Database::Postgres(url) => Box::new(PgStore::open(url, owner, lease_ms)?),
    })
}

/// A store for async callers: one connection for SQLite (its file locks
/// tie builds to the connection that claimed them), a pool for PostgreSQL.
pub fn open_shared(
    database: &Database,
    owner: &str,
    lease_ms: i64,
) -> Result<SharedStore, StoreError> {
    let size = if database.is_shared() {
        POSTGRES_POOL
    } else {
        1
    };
    let connections = (0..size)
        .map(|_| open(database, owner, lease_ms))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SharedStore::pool(connections))
}
