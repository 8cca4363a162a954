//! Devices, rollouts and the audit log in PostgreSQL. Every change other
//! replicas keep in memory is announced (see [`Change`]).

use std::collections::BTreeMap;

use super::{Change, PgStore};
use crate::device::{Device, Report};
use crate::rollout::Rollout;
use crate::store::rows::{
    device_from, event_from, rollout_from_row, DEVICE_COLUMNS, EVENT_COLUMNS, ROLLOUT_COLUMNS,
};
use crate::store::{rollout_plan, DeviceStore, Event, EventStore, RolloutStore, StoreError};

impl PgStore {
    /// Runs a statement about one device and announces the device changed.
    fn change_device(
        &mut self,
        uuid: &str,
        sql: &str,
        params: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        let changed = self.db()?.execute(sql, params)?;
        self.notify(Change::Device(uuid.to_string()))?;
        Ok(changed)
    }
}

impl DeviceStore for PgStore {
    fn add_device(&mut self, device: &Device, key_hash: &str) -> Result<(), StoreError> {
        self.change_device(
            &device.uuid,
            "INSERT INTO devices (uuid, app, name, device_type, key_hash, tags, pin_release,
                                  created_at_ms, report)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &device.uuid,
                &device.app,
                &device.name,
                &device.device_type,
                &key_hash,
                &serde_json::to_string(&device.tags).unwrap_or_else(|_| "{}".into()),
                &device.pin_release,
                &device.created_at_ms,
                &serde_json::to_string(&device.report).unwrap_or_else(|_| "{}".into()),
            ],
        )?;
        Ok(())
    }

    fn all_devices(&self) -> Result<Vec<(Device, String)>, StoreError> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices");
        let rows = self.read(|client| client.query(&sql, &[]))?;
        rows.iter().map(|row| device_from(row)).collect()
    }

    fn device(&self, uuid: &str) -> Result<Option<(Device, String)>, StoreError> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE uuid = $1");
        let row = self.read(|client| client.query_opt(&sql, &[&uuid]))?;
        row.as_ref().map(|row| device_from(row)).transpose()
    }

    fn set_device_tags(
        &mut self,
        uuid: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), StoreError> {
        let tags = serde_json::to_string(tags).unwrap_or_else(|_| "{}".into());
        self.change_device(
            uuid,
            "UPDATE devices SET tags = $2 WHERE uuid = $1",
            &[&uuid, &tags],
        )?;
        Ok(())
    }

    fn set_device_pin(&mut self, uuid: &str, release: Option<i64>) -> Result<(), StoreError> {
        self.change_device(
            uuid,
            "UPDATE devices SET pin_release = $2 WHERE uuid = $1",
            &[&uuid, &release],
        )?;
        Ok(())
    }

    fn delete_device(&mut self, uuid: &str) -> Result<bool, StoreError> {
        Ok(self.change_device(uuid, "DELETE FROM devices WHERE uuid = $1", &[&uuid])? == 1)
    }

    fn save_report(&mut self, uuid: &str, report: &Report) -> Result<(), StoreError> {
        let report = serde_json::to_string(report).unwrap_or_else(|_| "{}".into());
        self.change_device(
            uuid,
            "UPDATE devices SET report = $2 WHERE uuid = $1",
            &[&uuid, &report],
        )?;
        Ok(())
    }

    fn touch_devices(&mut self, seen: &[(String, i64)]) -> Result<(), StoreError> {
        if seen.is_empty() {
            return Ok(());
        }
        // Last-seen times are not announced: each replica keeps the ones it
        // heard, and the store keeps the latest of them.
        let (uuids, times): (Vec<&str>, Vec<i64>) =
            seen.iter().map(|(uuid, at)| (uuid.as_str(), *at)).unzip();
        self.db()?.execute(
            "UPDATE devices d SET last_seen_ms = GREATEST(COALESCE(d.last_seen_ms, 0), s.at)
             FROM UNNEST($1::TEXT[], $2::BIGINT[]) AS s (uuid, at) WHERE d.uuid = s.uuid",
            &[&uuids, &times],
        )?;
        Ok(())
    }
}

impl RolloutStore for PgStore {
    fn create_rollout(&mut self, rollout: &Rollout) -> Result<i64, StoreError> {
        let row = self.db()?.query_one(
            "INSERT INTO rollouts (app, release_id, plan, state, current_phase,
                                   phase_started_at_ms, created_at_ms, reason)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            &[
                &rollout.app,
                &rollout.release_id,
                &rollout_plan(rollout),
                &rollout.state.as_str(),
                &(rollout.current_phase as i64),
                &rollout.phase_started_at_ms,
                &rollout.created_at_ms,
                &rollout.reason,
            ],
        )?;
        self.notify(Change::Fleet)?;
        Ok(row.try_get(0)?)
    }

    fn update_rollout(&mut self, rollout: &Rollout) -> Result<(), StoreError> {
        self.db()?.execute(
            "UPDATE rollouts SET state = $2, current_phase = $3, phase_started_at_ms = $4,
                                 reason = $5
             WHERE id = $1",
            &[
                &rollout.id,
                &rollout.state.as_str(),
                &(rollout.current_phase as i64),
                &rollout.phase_started_at_ms,
                &rollout.reason,
            ],
        )?;
        self.notify(Change::Fleet)
    }

    fn all_rollouts(&self) -> Result<Vec<Rollout>, StoreError> {
        let sql = format!("SELECT {ROLLOUT_COLUMNS} FROM rollouts ORDER BY id");
        let rows = self.read(|client| client.query(&sql, &[]))?;
        rows.iter().map(|row| rollout_from_row(row)).collect()
    }
}

impl EventStore for PgStore {
    fn record_event(
        &mut self,
        app: Option<&str>,
        kind: &str,
        subject: Option<&str>,
        detail: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.db()?.execute(
            "INSERT INTO events (at_ms, app, kind, subject, detail) VALUES ($1, $2, $3, $4, $5)",
            &[
                &crate::release::now_ms(),
                &app,
                &kind,
                &subject,
                &detail.to_string(),
            ],
        )?;
        Ok(())
    }

    fn events(
        &self,
        app: Option<&str>,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events
             WHERE ($1::TEXT IS NULL OR app = $1) AND ($2::BIGINT IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3"
        );
        let rows =
            self.read(|client| client.query(&sql, &[&app, &before_id, &i64::from(limit)]))?;
        rows.iter().map(|row| event_from(row)).collect()
    }
}
