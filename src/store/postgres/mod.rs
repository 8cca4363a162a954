//! The shared backend: PostgreSQL, for several `slipway serve` replicas on
//! one database. Builds are owned through leases (`owner`,
//! `lease_until_ms`) that the builder renews; a builder that dies stops
//! renewing and any replica closes its release as interrupted. Changes
//! other replicas must see are announced with `NOTIFY` on [`CHANNEL`]
//! (delivered when the statement commits); see `service::replicas`.

mod apps;
mod build_log;
mod fleet;
pub mod migrations;
mod releases;
mod views;

use std::cell::RefCell;

use postgres::{Client, NoTls};

use super::StoreError;
use migrations::MIGRATIONS;

/// The channel every change announcement goes out on.
pub const CHANNEL: &str = "slipway";

/// What a notification on [`CHANNEL`] says changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A release was queued or a build slot freed.
    Queue,
    /// Apps, targets or rollouts.
    Fleet,
    /// One device (added, changed, reported, deleted).
    Device(String),
    /// New stored events of a build.
    Log(i64),
    /// Someone asked to cancel a running build.
    Cancel(i64),
}

impl Change {
    pub fn payload(&self) -> String {
        match self {
            Change::Queue => "queue".into(),
            Change::Fleet => "fleet".into(),
            Change::Device(uuid) => format!("device:{uuid}"),
            Change::Log(release) => format!("log:{release}"),
            Change::Cancel(release) => format!("cancel:{release}"),
        }
    }

    pub fn parse(payload: &str) -> Option<Change> {
        match payload {
            "queue" => Some(Change::Queue),
            "fleet" => Some(Change::Fleet),
            _ => {
                if let Some(uuid) = payload.strip_prefix("device:") {
                    return Some(Change::Device(uuid.to_string()));
                }
                let (kind, id) = payload.split_once(':')?;
                let id = id.parse().ok()?;
                match kind {
                    "log" => Some(Change::Log(id)),
                    "cancel" => Some(Change::Cancel(id)),
                    _ => None,
                }
            }
        }
    }
}

pub struct PgStore {
    /// In a cell: the store's read methods take `&self`, the client wants
    /// `&mut` for every statement.
    client: RefCell<Client>,
    /// To connect again after the connection broke (database restarted).
    url: String,
    /// Statements of the hot read paths, prepared once per connection
    /// (saves a round trip per query).
    prepared: RefCell<std::collections::HashMap<String, postgres::Statement>>,
    /// Who this process is in `releases.owner`.
    owner: String,
    /// How long a lease lasts without renewal.
    lease_ms: i64,
}

/// A database URL as it may be shown: without its password.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_string(),
    }
}

impl PgStore {
    /// Connects to `url`, migrates the schema, and closes the releases of
    /// builders whose lease ran out. `owner` names this process in leases.
    pub fn open(url: &str, owner: &str, lease_ms: i64) -> Result<PgStore, StoreError> {
        let database = redact(url);
        let open_error = |source| StoreError::PgOpen {
            database: database.clone(),
            source,
        };
        let mut client = Client::connect(url, NoTls).map_err(open_error)?;
        migrate(&mut client, &database)?;
        let mut store = PgStore {
            client: RefCell::new(client),
            url: url.to_string(),
            prepared: RefCell::default(),
            owner: owner.to_string(),
            lease_ms: lease_ms.max(1000),
        };
        use super::ReleaseStore;
        store.reap_abandoned()?;
        Ok(store)
    }

    /// The connection, made again first if it broke (the database
    /// restarted, a proxy dropped it): one failed call, not a dead process.
    fn db(&self) -> Result<std::cell::RefMut<'_, Client>, StoreError> {
        let mut client = self.client.borrow_mut();
        if client.is_closed() {
            tracing::warn!("database connection lost: connecting again");
            *client = Client::connect(&self.url, NoTls).map_err(|source| StoreError::PgOpen {
                database: redact(&self.url),
                source,
            })?;
            self.prepared.borrow_mut().clear();
        }
        Ok(client)
    }

    /// Runs a read through a statement prepared once per connection.
    fn query_prepared(
        &self,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>, StoreError> {
        let mut client = self.db()?;
        let known = self.prepared.borrow().get(sql).cloned();
        let statement = match known {
            Some(statement) => statement,
            None => {
                let statement = client.prepare(sql)?;
                self.prepared
                    .borrow_mut()
                    .insert(sql.to_string(), statement.clone());
                statement
            }
        };
        Ok(client.query(&statement, params)?)
    }

    /// Runs `query` on the connection.
    fn read<T>(
        &self,
        query: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let mut client = self.db()?;
        Ok(query(&mut client)?)
    }

    /// Announces `change` to every replica (on commit).
    fn notify(&self, change: Change) -> Result<(), StoreError> {
        self.db()?
            .execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &change.payload()])?;
        Ok(())
    }
}

/// Applies the migrations the database has not seen, one transaction each,
/// under an advisory lock so two replicas starting at once do not race.
fn migrate(client: &mut Client, database: &str) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock(7391001)", &[])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
    let version: i64 = match tx.query_opt("SELECT version FROM schema_version", &[])? {
        Some(row) => row.try_get(0)?,
        None => {
            tx.execute("INSERT INTO schema_version (version) VALUES (0)", &[])?;
            0
        }
    };
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::PgSchemaTooNew {
            database: database.to_string(),
            found: version,
            known,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(sql)?;
        tx.execute(
            "UPDATE schema_version SET version = $1",
            &[&(index as i64 + 1)],
        )?;
    }
    tx.commit()?;
    Ok(())
}
