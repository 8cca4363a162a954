//! The one store: apps and their fleet targets, access tokens, releases and
//! their images, the build queue (queued releases), saved views, devices,
//! rollouts and the audit log, behind one interface.
//!
//! [`Store`] is what callers use; each part of it is a trait of its own so
//! every backend file keeps one job. [`sqlite::SqliteStore`] is the embedded
//! backend (one machine); [`postgres::PgStore`] is the shared one (several
//! replicas, one database). Both keep time as integer milliseconds and JSON
//! as text, so rows mean the same on either.

pub mod liveness;
mod migrations;
pub mod open;
pub mod postgres;
mod release_query;
mod rollout_row;
pub mod rows;
pub mod shared;
pub mod sqlite;

use std::path::PathBuf;

use serde::Serialize;

use crate::access::Scope;
use crate::app::App;
use crate::device::{Device, Report};
use crate::release::{
    ImageOutcome, ImageRecord, NewImage, NewRelease, Release, ReleaseFilter, Status,
};
use crate::rollout::Rollout;

pub use open::{open, open_shared, Database};
pub use postgres::PgStore;
pub use release_query::{list_tail, Param};
pub use rollout_row::{rollout_from, rollout_plan, RolloutRow};
pub use shared::SharedStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("release database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("release database {path} has schema version {found}, newer than this slipway knows ({known}); upgrade slipway")]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("release database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("database {database}: {source}")]
    PgOpen {
        /// The URL without its password.
        database: String,
        #[source]
        source: ::postgres::Error,
    },
    #[error("database {database} has schema version {found}, newer than this slipway knows ({known}); upgrade slipway")]
    PgSchemaTooNew {
        database: String,
        found: i64,
        known: i64,
    },
    #[error("database: {0}")]
    Postgres(#[from] ::postgres::Error),
    #[error("--database {0}: give a postgres:// URL (or nothing, for SQLite under the data dir)")]
    BadUrl(String),
    #[error("release data dir {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no release {0}")]
    NotFound(i64),
    #[error(
        "release {0} is no longer this builder's: its lease ran out and another replica closed it"
    )]
    NotOurs(i64),
    #[error("no app `{0}`")]
    NoApp(String),
    #[error("{what} `{name}` already exists")]
    Exists { what: &'static str, name: String },
    #[error("release database call stopped unexpectedly: {0}")]
    Task(String),
    #[error("release database holds an unknown {field} `{value}`")]
    Corrupt { field: &'static str, value: String },
}

/// What the images still queued or running become when their release closes.
pub fn closing_image_status(status: Status) -> crate::release::ImageStatus {
    use crate::release::ImageStatus;
    match status {
        Status::Success => ImageStatus::Success,
        Status::Failed | Status::Cancelled => ImageStatus::Cancelled,
        Status::Interrupted | Status::Queued | Status::Running | Status::Unknown => {
            ImageStatus::Interrupted
        }
    }
}

/// The last stored event of every build (written after all of its events,
/// or by whoever closes a build whose builder vanished).
pub const END_OF_BUILD: &str = r#"{"kind":"end"}"#;

/// Releases, their images and the build queue.
pub trait ReleaseStore {
    /// Opens a release as `running`, owned by this process until it is finished.
    fn create_release(&mut self, new: &NewRelease) -> Result<Release, StoreError>;
    /// Records a release as `queued`: it waits for [`ReleaseStore::claim_next`].
    fn enqueue_release(&mut self, new: &NewRelease) -> Result<Release, StoreError>;
    /// Cancels a release that has not started; false when it is not queued.
    fn cancel_queued(&mut self, release: i64) -> Result<bool, StoreError>;
    /// The oldest queued release whose app has no running build, now
    /// `running` and owned by this process; `None` when nothing can start.
    fn claim_next(&mut self) -> Result<Option<Release>, StoreError>;
    /// What detection found for a claimed release (composition, hooks).
    fn record_plan(&mut self, release: i64, new: &NewRelease) -> Result<Release, StoreError>;
    fn add_image(&mut self, release: i64, image: &NewImage) -> Result<i64, StoreError>;
    fn start_image(&mut self, image: i64, at_ms: i64) -> Result<(), StoreError>;
    fn finish_image(&mut self, image: i64, outcome: &ImageOutcome) -> Result<(), StoreError>;
    /// Where an image was pushed (`HOST/APP/SERVICE@sha256:...`).
    fn set_registry_reference(&mut self, image: i64, reference: &str) -> Result<(), StoreError>;
    /// The log of a running image so far, so a killed build keeps what it printed.
    fn save_log(&mut self, image: i64, log: &str) -> Result<(), StoreError>;
    /// Closes a release; images still queued or running take the release's status.
    fn finish_release(
        &mut self,
        release: i64,
        status: Status,
        error: Option<&str>,
        ended_at_ms: i64,
    ) -> Result<(), StoreError>;
    fn list(&self, filter: &ReleaseFilter) -> Result<Vec<Release>, StoreError>;
    fn get(&self, id: i64) -> Result<Release, StoreError>;
    fn images(&self, release: i64) -> Result<Vec<ImageRecord>, StoreError>;
    /// How many releases are in each status (for metrics).
    fn count_by_status(&self) -> Result<Vec<(Status, i64)>, StoreError>;
    /// Tells the others this process still builds `releases` (PostgreSQL:
    /// pushes their leases on; SQLite: the process's file locks say it).
    /// Returns those of them someone asked to cancel.
    fn renew_leases(&mut self, releases: &[i64]) -> Result<Vec<i64>, StoreError>;
    /// Asks whoever builds `release` to stop; false when it is not running.
    fn request_cancel(&mut self, release: i64) -> Result<bool, StoreError>;
    /// Takes or keeps the lease `name` for `ttl_ms` (one holder among
    /// processes sharing the store); false while another holds it.
    fn hold_lease(&mut self, name: &str, owner: &str, ttl_ms: i64) -> Result<bool, StoreError>;
    /// Closes as `interrupted` every running release whose builder is gone
    /// (lease expired, or file lock free); returns their ids.
    fn reap_abandoned(&mut self) -> Result<Vec<i64>, StoreError>;
    /// Whether the database answers.
    fn ping(&mut self) -> Result<(), StoreError>;
}

/// A build's events as stored for watchers on other replicas: numbered
/// from 1 per release, so a reader that remembers the last number it saw
/// never misses or repeats one.
pub trait BuildLogStore {
    /// Appends `events` (JSON each) numbered from `first_seq` on.
    fn append_build_events(
        &mut self,
        release: i64,
        first_seq: i64,
        events: &[String],
    ) -> Result<(), StoreError>;
    /// Up to `limit` events numbered above `after_seq`, in order.
    fn build_events(
        &self,
        release: i64,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<(i64, String)>, StoreError>;
}

/// Apps and their webhook secrets.
pub trait AppStore {
    fn create_app(&mut self, app: &App) -> Result<(), StoreError>;
    fn app(&self, name: &str) -> Result<Option<App>, StoreError>;
    fn apps(&self) -> Result<Vec<App>, StoreError>;
    /// The secret GitHub signs pushes with. Kept as given: checking an HMAC
    /// needs the key itself.
    fn set_webhook_secret(&mut self, app: &str, secret: &str) -> Result<(), StoreError>;
    fn webhook_secret(&self, app: &str) -> Result<Option<String>, StoreError>;
    /// The fleet's target release, and whether new releases replace it.
    fn set_fleet_target(
        &mut self,
        app: &str,
        release: Option<i64>,
        track_latest: bool,
    ) -> Result<(), StoreError>;
}

/// Devices, their keys (hashed) and reports.
pub trait DeviceStore {
    fn add_device(&mut self, device: &Device, key_hash: &str) -> Result<(), StoreError>;
    /// Every device with its key hash (the service indexes them in memory).
    fn all_devices(&self) -> Result<Vec<(Device, String)>, StoreError>;
    fn set_device_tags(
        &mut self,
        uuid: &str,
        tags: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), StoreError>;
    fn set_device_pin(&mut self, uuid: &str, release: Option<i64>) -> Result<(), StoreError>;
    fn delete_device(&mut self, uuid: &str) -> Result<bool, StoreError>;
    /// One device with its key hash (another replica changed it).
    fn device(&self, uuid: &str) -> Result<Option<(Device, String)>, StoreError>;
    fn save_report(&mut self, uuid: &str, report: &Report) -> Result<(), StoreError>;
    /// Last-seen times, written in batches.
    fn touch_devices(&mut self, seen: &[(String, i64)]) -> Result<(), StoreError>;
}

/// Rollouts, whole (plans are small).
pub trait RolloutStore {
    /// Stores a new rollout; its id is assigned here.
    fn create_rollout(&mut self, rollout: &Rollout) -> Result<i64, StoreError>;
    fn update_rollout(&mut self, rollout: &Rollout) -> Result<(), StoreError>;
    fn all_rollouts(&self) -> Result<Vec<Rollout>, StoreError>;
}

/// One entry of the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub id: i64,
    pub at_ms: i64,
    pub app: Option<String>,
    pub kind: String,
    pub subject: Option<String>,
    pub detail: serde_json::Value,
}

/// The audit log: every change of target, pin, rollout state, every report.
pub trait EventStore {
    fn record_event(
        &mut self,
        app: Option<&str>,
        kind: &str,
        subject: Option<&str>,
        detail: &serde_json::Value,
    ) -> Result<(), StoreError>;
    fn events(
        &self,
        app: Option<&str>,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<Event>, StoreError>;
}

/// Access tokens, by the SHA-256 of the token (the token itself is never stored).
pub trait TokenStore {
    fn add_token(&mut self, hash: &str, scope: &Scope) -> Result<(), StoreError>;
    fn token_scope(&self, hash: &str) -> Result<Option<Scope>, StoreError>;
    fn has_admin_token(&self) -> Result<bool, StoreError>;
}

/// A named release filter people come back to.
#[derive(Debug, Clone, Serialize)]
pub struct SavedView {
    pub id: i64,
    pub name: String,
    pub filter: serde_json::Value,
    pub created_at_ms: i64,
}

pub trait ViewStore {
    fn save_view(
        &mut self,
        name: &str,
        filter: &serde_json::Value,
    ) -> Result<SavedView, StoreError>;
    fn views(&self) -> Result<Vec<SavedView>, StoreError>;
    /// Whether a view with that id was there.
    fn delete_view(&mut self, id: i64) -> Result<bool, StoreError>;
}

/// Everything a backend keeps.
pub trait Store:
    ReleaseStore
    + AppStore
    + TokenStore
    + ViewStore
    + DeviceStore
    + RolloutStore
    + EventStore
    + BuildLogStore
{
}

impl<T> Store for T where
    T: ReleaseStore
        + AppStore
        + TokenStore
        + ViewStore
        + DeviceStore
        + RolloutStore
        + EventStore
        + BuildLogStore
{
}
