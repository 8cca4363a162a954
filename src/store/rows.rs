//! Rows into records, once for both backends: each backend's row type
//! answers [`StoredRow`]'s few typed getters, and the functions here build
//! releases, images, apps and devices from them (column order as in the
//! `*_COLUMNS` lists, which both backends select).

use super::{rollout_from, Event, RolloutRow, SavedView, StoreError};
use crate::app::App;
use crate::device::Device;
use crate::release::{ImageRecord, ImageStatus, Release, SourceKind, Status};
use crate::rollout::Rollout;

pub const RELEASE_COLUMNS: &str = "id, hash, app, commit_sha, source, status, device_types, \
     started_at_ms, ended_at_ms, composition, error, hooks, queued_at_ms, source_url";

pub const IMAGE_COLUMNS: &str = "id, service, device_type, arch, platform, status, \
     project_type, plugin, dockerfile, reference, image_id, size_bytes, context_bytes, log, \
     error, started_at_ms, ended_at_ms, command, builder, registry_reference";

pub const APP_COLUMNS: &str = "name, device_types, created_at_ms, target_release, track_latest";

pub const ROLLOUT_COLUMNS: &str = "id, app, release_id, plan, state, current_phase, \
     phase_started_at_ms, created_at_ms, reason";

pub const EVENT_COLUMNS: &str = "id, at_ms, app, kind, subject, detail";

pub const VIEW_COLUMNS: &str = "id, name, filter, created_at_ms";

pub const DEVICE_COLUMNS: &str = "uuid, app, name, device_type, key_hash, tags, pin_release, \
     created_at_ms, last_seen_ms, report";

/// Typed access to the columns of one result row.
pub trait StoredRow {
    fn int(&self, index: usize) -> Result<i64, StoreError>;
    fn opt_int(&self, index: usize) -> Result<Option<i64>, StoreError>;
    fn text(&self, index: usize) -> Result<String, StoreError>;
    fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError>;
    /// SQLite keeps it as an integer, PostgreSQL as a boolean.
    fn flag(&self, index: usize) -> Result<bool, StoreError>;
}

impl StoredRow for rusqlite::Row<'_> {
    fn int(&self, index: usize) -> Result<i64, StoreError> {
        Ok(self.get(index)?)
    }
    fn opt_int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.get(index)?)
    }
    fn text(&self, index: usize) -> Result<String, StoreError> {
        Ok(self.get(index)?)
    }
    fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError> {
        Ok(self.get(index)?)
    }
    fn flag(&self, index: usize) -> Result<bool, StoreError> {
        Ok(self.get::<_, i64>(index)? != 0)
    }
}

impl StoredRow for postgres::Row {
    fn int(&self, index: usize) -> Result<i64, StoreError> {
        Ok(self.try_get(index)?)
    }
    fn opt_int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        Ok(self.try_get(index)?)
    }
    fn text(&self, index: usize) -> Result<String, StoreError> {
        Ok(self.try_get(index)?)
    }
    fn opt_text(&self, index: usize) -> Result<Option<String>, StoreError> {
        Ok(self.try_get(index)?)
    }
    fn flag(&self, index: usize) -> Result<bool, StoreError> {
        Ok(self.try_get(index)?)
    }
}

/// A JSON column that must parse, or the store is corrupt.
fn json_column<T: serde::de::DeserializeOwned>(
    text: String,
    field: &'static str,
) -> Result<T, StoreError> {
    serde_json::from_str(&text).map_err(|_| StoreError::Corrupt { field, value: text })
}

pub fn release_from(row: &dyn StoredRow) -> Result<Release, StoreError> {
    let id = row.int(0)?;
    let source = row.text(4)?;
    let source = SourceKind::parse(&source).ok_or(StoreError::Corrupt {
        field: "source",
        value: source.clone(),
    })?;
    let status = row.text(5)?;
    let status = Status::parse(&status).unwrap_or_else(|| {
        tracing::warn!(release = id, status, "unknown release status in the store");
        Status::Unknown
    });
    let started_at_ms = row.int(7)?;
    let ended_at_ms = row.opt_int(8)?;
    Ok(Release {
        id,
        hash: row.text(1)?,
        app: row.text(2)?,
        commit: row.opt_text(3)?,
        source,
        status,
        device_types: serde_json::from_str(&row.text(6)?).unwrap_or_default(),
        started_at_ms,
        ended_at_ms,
        duration_ms: ended_at_ms.map(|end| end - started_at_ms),
        composition: row.text(9)?,
        hooks: json_column(row.text(11)?, "hooks")?,
        error: row.opt_text(10)?,
        queued_at_ms: row.opt_int(12)?,
        source_url: row.opt_text(13)?,
    })
}

pub fn image_from(row: &dyn StoredRow) -> Result<ImageRecord, StoreError> {
    let started_at_ms = row.opt_int(15)?;
    let ended_at_ms = row.opt_int(16)?;
    let command = match row.opt_text(17)? {
        None => None,
        Some(text) => Some(json_column(text, "image command")?),
    };
    Ok(ImageRecord {
        id: row.int(0)?,
        service: row.text(1)?,
        device_type: row.text(2)?,
        arch: row.text(3)?,
        platform: row.text(4)?,
        status: ImageStatus::parse(&row.text(5)?).unwrap_or(ImageStatus::Unknown),
        project_type: row.opt_text(6)?,
        plugin: row.opt_text(7)?,
        dockerfile: row.opt_text(8)?,
        reference: row.text(9)?,
        command,
        builder: row.opt_text(18)?,
        image_id: row.opt_text(10)?,
        registry_reference: row.opt_text(19)?,
        size_bytes: row.opt_int(11)?,
        context_bytes: row.opt_int(12)?,
        log: row.text(13)?,
        error: row.opt_text(14)?,
        started_at_ms,
        ended_at_ms,
        duration_ms: started_at_ms.zip(ended_at_ms).map(|(s, e)| e - s),
    })
}

pub fn app_from(row: &dyn StoredRow) -> Result<App, StoreError> {
    Ok(App {
        name: row.text(0)?,
        device_types: serde_json::from_str(&row.text(1)?).unwrap_or_default(),
        created_at_ms: row.int(2)?,
        target_release: row.opt_int(3)?,
        track_latest: row.flag(4)?,
    })
}

/// A device and its key hash.
pub fn device_from(row: &dyn StoredRow) -> Result<(Device, String), StoreError> {
    Ok((
        Device {
            uuid: row.text(0)?,
            app: row.text(1)?,
            name: row.text(2)?,
            device_type: row.text(3)?,
            tags: serde_json::from_str(&row.text(5)?).unwrap_or_default(),
            pin_release: row.opt_int(6)?,
            created_at_ms: row.int(7)?,
            last_seen_ms: row.opt_int(8)?,
            report: serde_json::from_str(&row.text(9)?).unwrap_or_default(),
        },
        row.text(4)?,
    ))
}

pub fn rollout_from_row(row: &dyn StoredRow) -> Result<Rollout, StoreError> {
    let stored = RolloutRow {
        id: row.int(0)?,
        app: row.text(1)?,
        release_id: row.int(2)?,
        state: row.text(4)?,
        current_phase: row.int(5)?,
        phase_started_at_ms: row.int(6)?,
        created_at_ms: row.int(7)?,
        reason: row.opt_text(8)?,
    };
    rollout_from(stored, &row.text(3)?)
}

pub fn event_from(row: &dyn StoredRow) -> Result<Event, StoreError> {
    Ok(Event {
        id: row.int(0)?,
        at_ms: row.int(1)?,
        app: row.opt_text(2)?,
        kind: row.text(3)?,
        subject: row.opt_text(4)?,
        detail: serde_json::from_str(&row.text(5)?).unwrap_or(serde_json::Value::Null),
    })
}

pub fn view_from(row: &dyn StoredRow) -> Result<SavedView, StoreError> {
    Ok(SavedView {
        id: row.int(0)?,
        name: row.text(1)?,
        filter: serde_json::from_str(&row.text(2)?).unwrap_or(serde_json::Value::Null),
        created_at_ms: row.int(3)?,
    })
}
