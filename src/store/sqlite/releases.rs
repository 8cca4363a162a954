//! Releases, images and the queue in SQLite.

use rusqlite::{params, OptionalExtension};

use super::{liveness, SqliteStore};
use crate::release::{
    now_ms, ImageOutcome, ImageRecord, NewImage, NewRelease, Release, ReleaseFilter, Status,
};
use crate::store::rows::{image_from, release_from, IMAGE_COLUMNS, RELEASE_COLUMNS};
use crate::store::{list_tail, Param, ReleaseStore, StoreError};

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

    fn enqueue_release(&mut self, new: &NewRelease) -> Result<Release, StoreError> {
        let now = now_ms();
        self.conn.execute(
            "INSERT INTO releases (hash, app, commit_sha, source, status, device_types,
                                   started_at_ms, queued_at_ms, composition, hooks, source_url)
             VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6, ?6, ?7, ?8, ?9)",
            params![
                new.hash,
                new.app,
                new.commit,
                new.source.as_str(),
                serde_json::to_string(&new.device_types).unwrap_or_default(),
                now,
                new.composition,
                serde_json::to_string(&new.hooks).unwrap_or_else(|_| "[]".into()),
                new.source_url
            ],
        )?;
        let id = self.conn.last_insert_rowid();
        self.get(id)
    }

    fn cancel_queued(&mut self, release: i64) -> Result<bool, StoreError> {
        let changed = self.conn.execute(
            "UPDATE releases SET status = 'cancelled', error = 'cancelled by the user',
                                 ended_at_ms = ?2
             WHERE id = ?1 AND status = 'queued'",
            params![release, now_ms()],
        )?;
        Ok(changed == 1)
    }

    fn claim_next(&mut self) -> Result<Option<Release>, StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        let next: Option<(i64, String)> = tx
            .query_row(
                "SELECT id, hash FROM releases r
                 WHERE status = 'queued'
                   AND NOT EXISTS (SELECT 1 FROM releases o
                                   WHERE o.app = r.app AND o.status = 'running')
                 ORDER BY id LIMIT 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let Some((id, hash)) = next else {
            return Ok(None);
        };
        let ownership = liveness::claim(&self.locks, &hash).map_err(|source| StoreError::Io {
            path: self.locks.clone(),
            source,
        })?;
        tx.execute(
            "UPDATE releases SET status = 'running', started_at_ms = ?2
             WHERE id = ?1 AND status = 'queued'",
            params![id, now_ms()],
        )?;
        tx.commit()?;
        self.owned.insert(id, ownership);
        Ok(Some(self.get(id)?))
    }

    fn record_plan(&mut self, release: i64, new: &NewRelease) -> Result<Release, StoreError> {
        self.conn.execute(
            "UPDATE releases SET composition = ?2, hooks = ?3, commit_sha = COALESCE(?4, commit_sha)
             WHERE id = ?1",
            params![
                release,
                new.composition,
                serde_json::to_string(&new.hooks).unwrap_or_else(|_| "[]".into()),
                new.commit
            ],
        )?;
        self.get(release)
    }

    fn set_registry_reference(&mut self, image: i64, reference: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE images SET registry_reference = ?2 WHERE id = ?1",
            params![image, reference],
        )?;
        Ok(())
    }

    fn renew_leases(&mut self, releases: &[i64]) -> Result<Vec<i64>, StoreError> {
        // The file locks taken when the build started last as long as it;
        // what is left to say is who asked to cancel.
        let mut statement = self.conn.prepare_cached(
            "SELECT cancel_requested FROM releases WHERE id = ?1 AND status = 'running'",
        )?;
        let mut cancelled = Vec::new();
        for &id in releases {
            let asked: Option<i64> = statement
                .query_row(params![id], |row| row.get(0))
                .optional()?;
            if asked.is_some_and(|asked| asked != 0) {
                cancelled.push(id);
            }
        }
        Ok(cancelled)
    }

    fn request_cancel(&mut self, release: i64) -> Result<bool, StoreError> {
        Ok(self.conn.execute(
            "UPDATE releases SET cancel_requested = 1 WHERE id = ?1 AND status = 'running'",
            params![release],
        )? == 1)
    }

    fn hold_lease(&mut self, name: &str, owner: &str, ttl_ms: i64) -> Result<bool, StoreError> {
        let now = now_ms();
        let held = self
            .conn
            .query_row(
                "INSERT INTO leases (name, owner, until_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms
                 WHERE leases.owner = excluded.owner OR leases.until_ms < ?4
                 RETURNING owner",
                params![name, owner, now + ttl_ms, now],
                |row| row.get::<_, String>(0),
            )
            .optional()?;
        Ok(held.is_some())
    }

    fn reap_abandoned(&mut self) -> Result<Vec<i64>, StoreError> {
        self.mark_interrupted()
    }

    fn ping(&mut self) -> Result<(), StoreError> {
        self.conn.query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }

    fn count_by_status(&self) -> Result<Vec<(Status, i64)>, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT status, COUNT(*) FROM releases GROUP BY status")?;
        let rows = statement.query_map([], |row| {
            let status: String = row.get(0)?;
            Ok((
                Status::parse(&status).unwrap_or(Status::Unknown),
                row.get(1)?,
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
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
        let (tail, params) = list_tail(filter, |n| format!("?{n}"));
        let sql = format!("SELECT {RELEASE_COLUMNS} FROM releases{tail}");
        let values = params.into_iter().map(|param| match param {
            Param::Text(text) => rusqlite::types::Value::Text(text),
            Param::Int(n) => rusqlite::types::Value::Integer(n),
        });
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map(rusqlite::params_from_iter(values), |row| {
            Ok(release_from(row))
        })?;
        let mut releases = Vec::new();
        for row in rows {
            releases.push(row??);
        }
        Ok(releases)
    }

    fn get(&self, id: i64) -> Result<Release, StoreError> {
        let sql = format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE id = ?1");
        self.conn
            .query_row(&sql, params![id], |row| Ok(release_from(row)))
            .optional()?
            .ok_or(StoreError::NotFound(id))?
    }

    fn images(&self, release: i64) -> Result<Vec<ImageRecord>, StoreError> {
        let sql = format!(
            "SELECT {IMAGE_COLUMNS} FROM images WHERE release_id = ?1 ORDER BY service, arch"
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map(params![release], |row| Ok(image_from(row)))?;
        let mut images = Vec::new();
        for row in rows {
            images.push(row??);
        }
        Ok(images)
    }
}
