//! Devices, rollouts and the audit log in SQLite.

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension};

use super::SqliteStore;
use crate::device::{Device, Report};
use crate::rollout::Rollout;
use crate::store::rows::{
    device_from, event_from, rollout_from_row, DEVICE_COLUMNS, EVENT_COLUMNS, ROLLOUT_COLUMNS,
};
use crate::store::{rollout_plan, DeviceStore, Event, EventStore, RolloutStore, StoreError};

impl DeviceStore for SqliteStore {
    fn add_device(&mut self, device: &Device, key_hash: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO devices (uuid, app, name, device_type, key_hash, tags, pin_release,
                                  created_at_ms, report)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                device.uuid,
                device.app,
                device.name,
                device.device_type,
                key_hash,
                serde_json::to_string(&device.tags).unwrap_or_else(|_| "{}".into()),
                device.pin_release,
                device.created_at_ms,
                serde_json::to_string(&device.report).unwrap_or_else(|_| "{}".into()),
            ],
        )?;
        Ok(())
    }

    fn all_devices(&self) -> Result<Vec<(Device, String)>, StoreError> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices");
        let mut statement = self.conn.prepare(&sql)?;
        let rows = statement.query_map([], |row| Ok(device_from(row)))?;
        let mut devices = Vec::new();
        for row in rows {
            devices.push(row??);
        }
        Ok(devices)
    }

    fn device(&self, uuid: &str) -> Result<Option<(Device, String)>, StoreError> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE uuid = ?1");
        self.conn
            .query_row(&sql, params![uuid], |row| Ok(device_from(row)))
            .optional()?
            .transpose()
    }

    fn set_device_tags(
        &mut self,
        uuid: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE devices SET tags = ?2 WHERE uuid = ?1",
            params![
                uuid,
                serde_json::to_string(tags).unwrap_or_else(|_| "{}".into())
            ],
        )?;
        Ok(())
    }

    fn set_device_pin(&mut self, uuid: &str, release: Option<i64>) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE devices SET pin_release = ?2 WHERE uuid = ?1",
            params![uuid, release],
        )?;
        Ok(())
    }

    fn delete_device(&mut self, uuid: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .execute("DELETE FROM devices WHERE uuid = ?1", params![uuid])?
            == 1)
    }

    fn save_report(&mut self, uuid: &str, report: &Report) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE devices SET report = ?2 WHERE uuid = ?1",
            params![
                uuid,
                serde_json::to_string(report).unwrap_or_else(|_| "{}".into())
            ],
        )?;
        Ok(())
    }

    fn touch_devices(&mut self, seen: &[(String, i64)]) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut statement = tx.prepare_cached(
                "UPDATE devices SET last_seen_ms = MAX(COALESCE(last_seen_ms, 0), ?2) WHERE uuid = ?1",
            )?;
            for (uuid, at) in seen {
                statement.execute(params![uuid, at])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

impl RolloutStore for SqliteStore {
    fn create_rollout(&mut self, rollout: &Rollout) -> Result<i64, StoreError> {
        self.conn.execute(
            "INSERT INTO rollouts (app, release_id, plan, state, current_phase,
                                   phase_started_at_ms, created_at_ms, reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                rollout.app,
                rollout.release_id,
                rollout_plan(rollout),
                rollout.state.as_str(),
                rollout.current_phase as i64,
                rollout.phase_started_at_ms,
                rollout.created_at_ms,
                rollout.reason
            ],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    fn update_rollout(&mut self, rollout: &Rollout) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE rollouts SET state = ?2, current_phase = ?3, phase_started_at_ms = ?4,
                                 reason = ?5
             WHERE id = ?1",
            params![
                rollout.id,
                rollout.state.as_str(),
                rollout.current_phase as i64,
                rollout.phase_started_at_ms,
                rollout.reason
            ],
        )?;
        Ok(())
    }

    fn all_rollouts(&self) -> Result<Vec<Rollout>, StoreError> {
        let sql = format!("SELECT {ROLLOUT_COLUMNS} FROM rollouts ORDER BY id");
        let mut statement = self.conn.prepare(&sql)?;
        let rows = statement.query_map([], |row| Ok(rollout_from_row(row)))?;
        let mut rollouts = Vec::new();
        for row in rows {
            rollouts.push(row??);
        }
        Ok(rollouts)
    }
}

impl EventStore for SqliteStore {
    fn record_event(
        &mut self,
        app: Option<&str>,
        kind: &str,
        subject: Option<&str>,
        detail: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO events (at_ms, app, kind, subject, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                crate::release::now_ms(),
                app,
                kind,
                subject,
                detail.to_string()
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
             WHERE (?1 IS NULL OR app = ?1) AND (?2 IS NULL OR id < ?2)
             ORDER BY id DESC LIMIT ?3"
        );
        let mut statement = self.conn.prepare(&sql)?;
        let rows =
            statement.query_map(params![app, before_id, limit], |row| Ok(event_from(row)))?;
        let mut events = Vec::new();
        for row in rows {
            events.push(row??);
        }
        Ok(events)
    }
}
