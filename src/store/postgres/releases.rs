//! Releases, images, the queue and builder leases in PostgreSQL.

use super::{Change, PgStore};
use crate::release::{
    now_ms, ImageOutcome, ImageRecord, NewImage, NewRelease, Release, ReleaseFilter, Status,
};
use crate::store::rows::{image_from, release_from, IMAGE_COLUMNS, RELEASE_COLUMNS};
use crate::store::{closing_image_status, list_tail, Param, ReleaseStore, StoreError};

/// Why a release whose builder vanished was closed.
const ABANDONED: &str = "the builder stopped renewing its lease before the release was finished";

fn json<T: serde::Serialize>(value: &T, empty: &str) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| empty.to_string())
}

impl PgStore {
    /// Closes a release this process builds. One whose lease ran out was
    /// closed by another replica meanwhile: it stays as that one left it.
    fn close(
        &mut self,
        release: i64,
        status: Status,
        error: Option<&str>,
        ended_at_ms: i64,
    ) -> Result<(), StoreError> {
        let owner = self.owner.clone();
        let mut client = self.db()?;
        let mut tx = client.transaction()?;
        let changed = tx.execute(
            "UPDATE releases SET status = $2, error = $3, ended_at_ms = $4,
                                 owner = NULL, lease_until_ms = NULL
             WHERE id = $1 AND status = 'running' AND owner = $5",
            &[&release, &status.as_str(), &error, &ended_at_ms, &owner],
        )?;
        if changed == 0 {
            let exists = tx
                .query_opt("SELECT 1 FROM releases WHERE id = $1", &[&release])?
                .is_some();
            return Err(if exists {
                StoreError::NotOurs(release)
            } else {
                StoreError::NotFound(release)
            });
        }
        tx.execute(
            "UPDATE images SET status = $2, ended_at_ms = COALESCE(ended_at_ms, $3)
             WHERE release_id = $1 AND status IN ('queued', 'running')",
            &[
                &release,
                &closing_image_status(status).as_str(),
                &ended_at_ms,
            ],
        )?;
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&super::CHANNEL, &Change::Queue.payload()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Claims one queued release, or says why not. The candidate row is
    /// locked with `SKIP LOCKED` (builders never wait on each other's
    /// candidates); the app's advisory lock then makes "one running build
    /// per app" hold when two builders pick releases of one app at once.
    fn try_claim(&mut self) -> Result<Claim, StoreError> {
        let now = now_ms();
        let mut client = self.db()?;
        let mut tx = client.transaction()?;
        let candidate = tx.query_opt(
            "SELECT id, app FROM releases r
             WHERE status = 'queued'
               AND NOT EXISTS (SELECT 1 FROM releases o
                               WHERE o.app = r.app AND o.status = 'running')
             ORDER BY id LIMIT 1
             FOR UPDATE SKIP LOCKED",
            &[],
        )?;
        let Some(candidate) = candidate else {
            return Ok(Claim::Empty);
        };
        let (id, app): (i64, String) = (candidate.try_get(0)?, candidate.try_get(1)?);
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&app])?;
        let busy: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM releases WHERE app = $1 AND status = 'running')",
                &[&app],
            )?
            .try_get(0)?;
        if busy {
            return Ok(Claim::Raced);
        }
        tx.execute(
            "UPDATE releases SET status = 'running', started_at_ms = $2, owner = $3,
                                 lease_until_ms = $4
             WHERE id = $1 AND status = 'queued'",
            &[&id, &now, &self.owner, &(now + self.lease_ms)],
        )?;
        tx.commit()?;
        Ok(Claim::Claimed(id))
    }
}

enum Claim {
    Claimed(i64),
    /// Another builder started a build of the same app meanwhile.
    Raced,
    Empty,
}

impl ReleaseStore for PgStore {
    fn create_release(&mut self, new: &NewRelease) -> Result<Release, StoreError> {
        let now = now_ms();
        let row = self.db()?.query_one(
            "INSERT INTO releases (hash, app, commit_sha, source, status, device_types,
                                   started_at_ms, composition, hooks, owner, lease_until_ms)
             VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $8, $9, $10) RETURNING id",
            &[
                &new.hash,
                &new.app,
                &new.commit,
                &new.source.as_str(),
                &json(&new.device_types, "[]"),
                &now,
                &new.composition,
                &json(&new.hooks, "[]"),
                &self.owner,
                &(now + self.lease_ms),
            ],
        )?;
        self.get(row.try_get(0)?)
    }

    fn enqueue_release(&mut self, new: &NewRelease) -> Result<Release, StoreError> {
        let now = now_ms();
        let row = self.db()?.query_one(
            "INSERT INTO releases (hash, app, commit_sha, source, status, device_types,
                                   started_at_ms, queued_at_ms, composition, hooks, source_url)
             VALUES ($1, $2, $3, $4, 'queued', $5, $6, $6, $7, $8, $9) RETURNING id",
            &[
                &new.hash,
                &new.app,
                &new.commit,
                &new.source.as_str(),
                &json(&new.device_types, "[]"),
                &now,
                &new.composition,
                &json(&new.hooks, "[]"),
                &new.source_url,
            ],
        )?;
        self.notify(Change::Queue)?;
        self.get(row.try_get(0)?)
    }

    fn cancel_queued(&mut self, release: i64) -> Result<bool, StoreError> {
        let mut client = self.db()?;
        let mut tx = client.transaction()?;
        let changed = tx.execute(
            "UPDATE releases SET status = 'cancelled', error = 'cancelled by the user',
                                 ended_at_ms = $2
             WHERE id = $1 AND status = 'queued'",
            &[&release, &now_ms()],
        )?;
        if changed == 1 {
            // Watchers on any replica stop here: no build will write more.
            tx.execute(
                "INSERT INTO build_events (release_id, seq, event) VALUES ($1, 1, $2)",
                &[&release, &crate::store::END_OF_BUILD],
            )?;
            tx.execute(
                "SELECT pg_notify($1, $2)",
                &[&super::CHANNEL, &Change::Log(release).payload()],
            )?;
        }
        tx.commit()?;
        Ok(changed == 1)
    }

    fn claim_next(&mut self) -> Result<Option<Release>, StoreError> {
        // A lost race leaves other apps' releases to try.
        for _ in 0..4 {
            match self.try_claim()? {
                Claim::Claimed(id) => return Ok(Some(self.get(id)?)),
                Claim::Raced => continue,
                Claim::Empty => return Ok(None),
            }
        }
        Ok(None)
    }

    fn record_plan(&mut self, release: i64, new: &NewRelease) -> Result<Release, StoreError> {
        self.db()?.execute(
            "UPDATE releases SET composition = $2, hooks = $3,
                                 commit_sha = COALESCE($4, commit_sha)
             WHERE id = $1",
            &[
                &release,
                &new.composition,
                &json(&new.hooks, "[]"),
                &new.commit,
            ],
        )?;
        self.get(release)
    }

    fn add_image(&mut self, release: i64, image: &NewImage) -> Result<i64, StoreError> {
        let command = image
            .command
            .as_ref()
            .and_then(|c| serde_json::to_string(c).ok());
        let row = self.db()?.query_one(
            "INSERT INTO images (release_id, service, device_type, arch, platform, status,
                                 project_type, plugin, dockerfile, reference, command, builder)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
            &[
                &release,
                &image.service,
                &image.device_type,
                &image.arch,
                &image.platform,
                &image.status.as_str(),
                &image.project_type,
                &image.plugin,
                &image.dockerfile,
                &image.reference,
                &command,
                &image.builder,
            ],
        )?;
        Ok(row.try_get(0)?)
    }

    fn start_image(&mut self, image: i64, at_ms: i64) -> Result<(), StoreError> {
        self.db()?.execute(
            "UPDATE images SET status = 'running', started_at_ms = $2 WHERE id = $1",
            &[&image, &at_ms],
        )?;
        Ok(())
    }

    fn finish_image(&mut self, image: i64, outcome: &ImageOutcome) -> Result<(), StoreError> {
        self.db()?.execute(
            "UPDATE images SET status = $2, image_id = $3, size_bytes = $4, context_bytes = $5,
                               log = $6, error = $7,
                               started_at_ms = COALESCE(started_at_ms, $8), ended_at_ms = $9
             WHERE id = $1",
            &[
                &image,
                &outcome.status.as_str(),
                &outcome.image_id,
                &outcome.size_bytes,
                &outcome.context_bytes,
                &outcome.log,
                &outcome.error,
                &outcome.started_at_ms,
                &outcome.ended_at_ms,
            ],
        )?;
        Ok(())
    }

    fn set_registry_reference(&mut self, image: i64, reference: &str) -> Result<(), StoreError> {
        self.db()?.execute(
            "UPDATE images SET registry_reference = $2 WHERE id = $1",
            &[&image, &reference],
        )?;
        Ok(())
    }

    fn save_log(&mut self, image: i64, log: &str) -> Result<(), StoreError> {
        self.db()?.execute(
            "UPDATE images SET log = $2 WHERE id = $1 AND status IN ('queued', 'running')",
            &[&image, &log],
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
        self.close(release, status, error, ended_at_ms)
    }

    fn list(&self, filter: &ReleaseFilter) -> Result<Vec<Release>, StoreError> {
        let (tail, params) = list_tail(filter, |n| format!("${n}"));
        let sql = format!("SELECT {RELEASE_COLUMNS} FROM releases{tail}");
        let values: Vec<Box<dyn postgres::types::ToSql + Sync>> = params
            .into_iter()
            .map(|param| -> Box<dyn postgres::types::ToSql + Sync> {
                match param {
                    Param::Text(text) => Box::new(text),
                    Param::Int(n) => Box::new(n),
                }
            })
            .collect();
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            values.iter().map(|value| value.as_ref()).collect();
        let rows = self.query_prepared(&sql, &refs)?;
        rows.iter().map(|row| release_from(row)).collect()
    }

    fn get(&self, id: i64) -> Result<Release, StoreError> {
        let sql = format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE id = $1");
        let rows = self.query_prepared(&sql, &[&id])?;
        release_from(rows.first().ok_or(StoreError::NotFound(id))?)
    }

    fn images(&self, release: i64) -> Result<Vec<ImageRecord>, StoreError> {
        let sql = format!(
            "SELECT {IMAGE_COLUMNS} FROM images WHERE release_id = $1 ORDER BY service, arch"
        );
        let rows = self.query_prepared(&sql, &[&release])?;
        rows.iter().map(|row| image_from(row)).collect()
    }

    fn count_by_status(&self) -> Result<Vec<(Status, i64)>, StoreError> {
        let rows = self.read(|client| {
            client.query("SELECT status, COUNT(*) FROM releases GROUP BY status", &[])
        })?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get(0)?;
                Ok((
                    Status::parse(&status).unwrap_or(Status::Unknown),
                    row.try_get(1)?,
                ))
            })
            .collect()
    }

    fn renew_leases(&mut self, releases: &[i64]) -> Result<Vec<i64>, StoreError> {
        if releases.is_empty() {
            return Ok(Vec::new());
        }
        let until = now_ms() + self.lease_ms;
        let rows = self.db()?.query(
            "UPDATE releases SET lease_until_ms = $3
             WHERE id = ANY($1) AND owner = $2 AND status = 'running'
             RETURNING id, cancel_requested",
            &[&releases, &self.owner, &until],
        )?;
        let mut cancelled = Vec::new();
        for row in rows {
            if row.try_get::<_, bool>(1)? {
                cancelled.push(row.try_get(0)?);
            }
        }
        Ok(cancelled)
    }

    fn request_cancel(&mut self, release: i64) -> Result<bool, StoreError> {
        let changed = self.db()?.execute(
            "UPDATE releases SET cancel_requested = TRUE WHERE id = $1 AND status = 'running'",
            &[&release],
        )?;
        if changed == 1 {
            self.notify(Change::Cancel(release))?;
        }
        Ok(changed == 1)
    }

    fn hold_lease(&mut self, name: &str, owner: &str, ttl_ms: i64) -> Result<bool, StoreError> {
        let now = now_ms();
        let held = self.db()?.query_opt(
            "INSERT INTO leases (name, owner, until_ms) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms
             WHERE leases.owner = excluded.owner OR leases.until_ms < $4
             RETURNING owner",
            &[&name, &owner, &(now + ttl_ms), &now],
        )?;
        Ok(held.is_some())
    }

    fn reap_abandoned(&mut self) -> Result<Vec<i64>, StoreError> {
        let now = now_ms();
        let mut client = self.db()?;
        let mut tx = client.transaction()?;
        let rows = tx.query(
            "UPDATE releases SET status = 'interrupted', error = $2, ended_at_ms = $1,
                                 owner = NULL, lease_until_ms = NULL
             WHERE status = 'running' AND lease_until_ms < $1
             RETURNING id",
            &[&now, &ABANDONED],
        )?;
        let ids: Vec<i64> = rows
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        if ids.is_empty() {
            return Ok(ids);
        }
        tx.execute(
            "UPDATE images SET status = 'interrupted', ended_at_ms = COALESCE(ended_at_ms, $2)
             WHERE release_id = ANY($1) AND status IN ('queued', 'running')",
            &[&ids, &now],
        )?;
        for id in &ids {
            // The end marker watchers on any replica stop at.
            tx.execute(
                "INSERT INTO build_events (release_id, seq, event)
                 SELECT $1, COALESCE(MAX(seq), 0) + 1, $2 FROM build_events WHERE release_id = $1",
                &[id, &crate::store::END_OF_BUILD],
            )?;
            tx.execute(
                "SELECT pg_notify($1, $2)",
                &[&super::CHANNEL, &Change::Log(*id).payload()],
            )?;
        }
        tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&super::CHANNEL, &Change::Queue.payload()],
        )?;
        tx.commit()?;
        for id in &ids {
            tracing::info!(release = id, "builder lease expired: release interrupted");
        }
        Ok(ids)
    }

    fn ping(&mut self) -> Result<(), StoreError> {
        self.db()?.query_one("SELECT 1", &[])?;
        Ok(())
    }
}
