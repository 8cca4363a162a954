//! The embedded backend: one SQLite file under the data dir, in WAL mode so
//! `slipway releases` reads while a build writes.

mod apps;
mod build_log;
mod fleet;
mod releases;
mod views;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection};

use super::liveness::{self, Ownership};
use super::migrations::MIGRATIONS;
use super::StoreError;
use crate::release::{now_ms, Status};

pub struct SqliteStore {
    conn: Connection,
    locks: PathBuf,
    /// Releases this process builds, by id; dropping one gives it up.
    owned: HashMap<i64, Ownership>,
}

impl SqliteStore {
    /// Opens (or creates) `<data_dir>/releases.sqlite`, migrates it, and marks
    /// releases whose builder died as interrupted.
    pub fn open(data_dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join("releases.sqlite");
        let open_error = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(open_error)?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(open_error)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_error)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_error)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_error)?;
        migrate(&conn, &path)?;
        let store = SqliteStore {
            conn,
            locks: data_dir.join("running"),
            owned: HashMap::new(),
        };
        store.mark_interrupted()?;
        Ok(store)
    }

    /// Running releases whose builder process is gone become interrupted.
    fn mark_interrupted(&self) -> Result<Vec<i64>, StoreError> {
        let mut running = self
            .conn
            .prepare("SELECT id, hash FROM releases WHERE status = 'running'")?;
        let rows: Vec<(i64, String)> = running
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut interrupted = Vec::new();
        for (id, hash) in rows {
            if self.owned.contains_key(&id) {
                continue;
            }
            let abandoned =
                liveness::is_abandoned(&self.locks, &hash).map_err(|source| StoreError::Io {
                    path: self.locks.clone(),
                    source,
                })?;
            if abandoned {
                tracing::info!(release = id, "builder gone: release interrupted");
                self.close(
                    id,
                    Status::Interrupted,
                    Some("the build process ended before the release was finished"),
                    now_ms(),
                )?;
                self.conn.execute(
                    "INSERT INTO build_events (release_id, seq, event)
                     SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2 FROM build_events WHERE release_id = ?1",
                    params![id, super::END_OF_BUILD],
                )?;
                interrupted.push(id);
            }
        }
        Ok(interrupted)
    }

    fn close(
        &self,
        release: i64,
        status: Status,
        error: Option<&str>,
        ended_at_ms: i64,
    ) -> Result<(), StoreError> {
        let image_status = super::closing_image_status(status);
        self.conn.execute(
            "UPDATE images SET status = ?2, ended_at_ms = COALESCE(ended_at_ms, ?3)
             WHERE release_id = ?1 AND status IN ('queued', 'running')",
            params![release, image_status.as_str(), ended_at_ms],
        )?;
        let changed = self.conn.execute(
            "UPDATE releases SET status = ?2, error = ?3, ended_at_ms = ?4 WHERE id = ?1",
            params![release, status.as_str(), error, ended_at_ms],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(release));
        }
        Ok(())
    }
}

fn migrate(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::SchemaTooNew {
            path: path.to_path_buf(),
            found: version,
            known,
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}
