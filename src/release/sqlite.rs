//! The embedded backend: one SQLite file under the data dir, in WAL mode so
//! `slipway releases` reads while a build writes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::liveness::{self, Ownership};
use super::migrations::MIGRATIONS;
use super::{
    now_ms, ImageOutcome, ImageRecord, ImageStatus, NewImage, NewRelease, Release, ReleaseFilter,
    ReleaseStore, SourceKind, Status, StoreError,
};

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

    fn mark_interrupted(&self) -> Result<(), StoreError> {
        let mut running = self
            .conn
            .prepare("SELECT id, hash FROM releases WHERE status = 'running'")?;
        let rows: Vec<(i64, String)> = running
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (id, hash) in rows {
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
            }
        }
        Ok(())
    }

    fn close(
        &self,
        release: i64,
        status: Status,
        error: Option<&str>,
        ended_at_ms: i64,
    ) -> Result<(), StoreError> {
        let image_status = match status {
            Status::Success => ImageStatus::Success,
            Status::Failed | Status::Cancelled => ImageStatus::Cancelled,
            Status::Interrupted | Status::Running | Status::Unknown => ImageStatus::Interrupted,
        };
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

const RELEASE_COLUMNS: &str = "id, hash, app, commit_sha, source, status, device_types, \
     started_at_ms, ended_at_ms, composition, error, hooks";

fn release_from_row(row: &Row) -> rusqlite::Result<Result<Release, StoreError>> {
    let source: String = row.get(4)?;
    let status: String = row.get(5)?;
    let device_types: String = row.get(6)?;
    let started_at_ms: i64 = row.get(7)?;
    let ended_at_ms: Option<i64> = row.get(8)?;
    let Some(source) = SourceKind::parse(&source) else {
        return Ok(Err(StoreError::Corrupt {
            field: "source",
            value: source,
        }));
    };
    let id: i64 = row.get(0)?;
    let status = Status::parse(&status).unwrap_or_else(|| {
        tracing::warn!(release = id, status, "unknown release status in the store");
        Status::Unknown
    });
    let hooks: String = row.get(11)?;
    let Ok(hooks) = serde_json::from_str(&hooks) else {
        return Ok(Err(StoreError::Corrupt {
            field: "hooks",
            value: hooks,
        }));
    };
    Ok(Ok(Release {
        id,
        hash: row.get(1)?,
        app: row.get(2)?,
        commit: row.get(3)?,
        source,
        status,
        device_types: serde_json::from_str(&device_types).unwrap_or_default(),
        started_at_ms,
        ended_at_ms,
        duration_ms: ended_at_ms.map(|end| end - started_at_ms),
        composition: row.get(9)?,
        hooks,
        error: row.get(10)?,
    }))
}

impl ReleaseStore for SqliteStore {
    fn create_release(&mut self, new: &NewRelease) -> Result<Release, StoreError> {
        let hash = new.hash.clone();
        // Own the release before it exists as `running`, so no other process
        // starting meanwhile can take it for abandoned.
        let ownership = liveness::claim(&self.locks, &hash).map_err(|source| StoreError::Io {
            path: self.locks.clone(),
            source,
        })?;
        let started_at_ms = now_ms();
        let device_types = serde_json::to_string(&new.device_types).unwrap_or_default();
        let hooks = serde_json::to_string(&new.hooks).unwrap_or_else(|_| "[]".into());
        self.conn.execute(
            "INSERT INTO releases (hash, app, commit_sha, source, status, device_types,
                                   started_at_ms, composition, hooks)
             VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6, ?7, ?8)",
            params![
                hash,
                new.app,
                new.commit,
                new.source.as_str(),
                device_types,
                started_at_ms,
                new.composition,
                hooks
            ],
        )?;
        let id = self.conn.last_insert_rowid();
        self.owned.insert(id, ownership);
        self.get(id)
    }

    fn add_image(&mut self, release: i64, image: &NewImage) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO images (release_id, service, device_type, arch, platform, status,
                                 project_type, plugin, dockerfile, reference, command, builder)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                release,
                image.service,
                image.device_type,
                image.arch,
                image.platform,
                image.status.as_str(),
                image.project_type,
                image.plugin,
                image.dockerfile,
                image.reference,
                image
                    .command
                    .as_ref()
                    .and_then(|c| serde_json::to_string(c).ok()),
                image.builder
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn start_image(&mut self, image: i64, at_ms: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE images SET status = 'running', started_at_ms = ?2 WHERE id = ?1",
            params![image, at_ms],
        )?;
        Ok(())
    }

    fn finish_image(&mut self, image: i64, outcome: &ImageOutcome) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE images SET status = ?2, image_id = ?3, size_bytes = ?4, context_bytes = ?5,
                               log = ?6, error = ?7,
                               started_at_ms = COALESCE(started_at_ms, ?8), ended_at_ms = ?9
             WHERE id = ?1",
            params![
                image,
                outcome.status.as_str(),
                outcome.image_id,
                outcome.size_bytes,
                outcome.context_bytes,
                outcome.log,
                outcome.error,
                outcome.started_at_ms,
                outcome.ended_at_ms
            ],
        )?;
        Ok(())
    }

    fn save_log(&mut self, image: i64, log: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE images SET log = ?2 WHERE id = ?1 AND status IN ('queued', 'running')",
            params![image, log],
        )?;
        Ok(())
    }

    fn finish_release(
        &mut self,
        release: i64,
        status: Status,
        error: Option<&str>,
        ended_at_ms: i64,
    ) -> Result<(), StoreError> {
        self.close(release, status, error, ended_at_ms)?;
        self.owned.remove(&release);
        Ok(())
    }

    fn list(&self, filter: &ReleaseFilter) -> Result<Vec<Release>, StoreError> {
        let sql = format!(
            "SELECT {RELEASE_COLUMNS} FROM releases
             WHERE (?1 IS NULL OR app = ?1) AND (?2 IS NULL OR status = ?2)
             ORDER BY id DESC LIMIT ?3"
        );
        let mut statement = self.conn.prepare(&sql)?;
        let rows = statement.query_map(
            params![
                filter.app,
                filter.status.map(Status::as_str),
                filter.limit.map(i64::from).unwrap_or(-1)
            ],
            release_from_row,
        )?;
        let mut releases = Vec::new();
        for row in rows {
            releases.push(row??);
        }
        Ok(releases)
    }

    fn get(&self, id: i64) -> Result<Release, StoreError> {
        let sql = format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE id = ?1");
        self.conn
            .query_row(&sql, params![id], release_from_row)
            .optional()?
            .ok_or(StoreError::NotFound(id))?
    }

    fn images(&self, release: i64) -> Result<Vec<ImageRecord>, StoreError> {
        let mut statement = self.conn.prepare(
            "SELECT id, service, device_type, arch, platform, status, project_type, plugin,
                    dockerfile, reference, image_id, size_bytes, context_bytes, log, error,
                    started_at_ms, ended_at_ms, command, builder
             FROM images WHERE release_id = ?1 ORDER BY service, arch",
        )?;
        let rows = statement.query_map(params![release], |row| {
            let status: String = row.get(5)?;
            let started_at_ms: Option<i64> = row.get(15)?;
            let ended_at_ms: Option<i64> = row.get(16)?;
            let status = ImageStatus::parse(&status).unwrap_or(ImageStatus::Unknown);
            let command: Option<String> = row.get(17)?;
            let command = match command.map(|c| (serde_json::from_str(&c), c)) {
                None => None,
                Some((Ok(command), _)) => Some(command),
                Some((Err(_), value)) => {
                    return Ok(Err(StoreError::Corrupt {
                        field: "image command",
                        value,
                    }))
                }
            };
            Ok(Ok(ImageRecord {
                id: row.get(0)?,
                service: row.get(1)?,
                device_type: row.get(2)?,
                arch: row.get(3)?,
                platform: row.get(4)?,
                status,
                project_type: row.get(6)?,
                plugin: row.get(7)?,
                dockerfile: row.get(8)?,
                reference: row.get(9)?,
                command,
                builder: row.get(18)?,
                image_id: row.get(10)?,
                size_bytes: row.get(11)?,
                context_bytes: row.get(12)?,
                log: row.get(13)?,
                error: row.get(14)?,
                started_at_ms,
                ended_at_ms,
                duration_ms: started_at_ms.zip(ended_at_ms).map(|(s, e)| e - s),
            }))
        })?;
        let mut images = Vec::new();
        for row in rows {
            images.push(row??);
        }
        Ok(images)
    }
}
