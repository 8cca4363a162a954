//! The release record: what was built, from what, how it went.
//!
//! A release is created when a build starts (`running`) and closed when it
//! ends (`success`, `failed` or `cancelled`). A process killed mid-build cannot
//! close its release, so every start of a store marks releases whose builder is
//! gone as `interrupted` (see [`liveness`]).
//!
//! A release the service accepted waits `queued` until a build slot and its
//! app are free. The records are kept by the [`crate::store`].

pub mod summary;

use serde::Serialize;

use crate::plan::{Command, Hook};

pub use crate::store::{SharedStore, SqliteStore, Store, StoreError};

/// Where the release stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Accepted by the service, waiting for a build slot.
    Queued,
    Running,
    Success,
    Failed,
    Cancelled,
    Interrupted,
    /// A value this version does not know (a newer writer, a damaged row):
    /// shown as such instead of failing every listing.
    Unknown,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Queued,
        Status::Running,
        Status::Success,
        Status::Failed,
        Status::Cancelled,
        Status::Interrupted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Success => "success",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
            Status::Interrupted => "interrupted",
            Status::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// Whether the release can still change.
    pub fn is_open(self) -> bool {
        matches!(self, Status::Queued | Status::Running)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a release's project came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    Local,
    Git,
    Tar,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Local => "local",
            SourceKind::Git => "git",
            SourceKind::Tar => "tar",
        }
    }

    pub fn parse(s: &str) -> Option<SourceKind> {
        [SourceKind::Local, SourceKind::Git, SourceKind::Tar]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A release about to start.
#[derive(Debug, Clone)]
pub struct NewRelease {
    /// From [`new_release_hash`]; known before the release is recorded, because
    /// templates (`%%BALENA_RELEASE_HASH%%`) are resolved with it.
    pub hash: String,
    pub app: String,
    pub commit: Option<String>,
    pub source: SourceKind,
    /// Where the service fetches the commit from (a linked repo's clone URL).
    pub source_url: Option<String>,
    pub device_types: Vec<String>,
    /// The compose file, or the default single-service composition.
    pub composition: String,
    /// Commands the rollout runs around this release going live.
    pub hooks: Vec<Hook>,
}

/// One recorded release.
#[derive(Debug, Clone, Serialize)]
pub struct Release {
    pub id: i64,
    /// `%%BALENA_RELEASE_HASH%%` and the image tags derive from it.
    pub hash: String,
    pub app: String,
    pub commit: Option<String>,
    pub source: SourceKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    pub status: Status,
    pub device_types: Vec<String>,
    /// Unix milliseconds.
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub duration_ms: Option<i64>,
    pub composition: String,
    pub hooks: Vec<Hook>,
    pub error: Option<String>,
    /// When the service accepted it (none for a local build).
    pub queued_at_ms: Option<i64>,
}

/// The state of one image of a release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageStatus {
    Queued,
    Running,
    Success,
    Failed,
    Cancelled,
    Interrupted,
    /// A service that uses a prebuilt image: nothing was built.
    Prebuilt,
    /// A value this version does not know.
    Unknown,
}

impl ImageStatus {
    const ALL: [ImageStatus; 7] = [
        ImageStatus::Queued,
        ImageStatus::Running,
        ImageStatus::Success,
        ImageStatus::Failed,
        ImageStatus::Cancelled,
        ImageStatus::Interrupted,
        ImageStatus::Prebuilt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImageStatus::Queued => "queued",
            ImageStatus::Running => "running",
            ImageStatus::Success => "success",
            ImageStatus::Failed => "failed",
            ImageStatus::Cancelled => "cancelled",
            ImageStatus::Interrupted => "interrupted",
            ImageStatus::Prebuilt => "prebuilt",
            ImageStatus::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<ImageStatus> {
        ImageStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
    }
}

/// An image to build (or a prebuilt one to use) for one service and arch.
#[derive(Debug, Clone)]
pub struct NewImage {
    pub service: String,
    pub device_type: String,
    pub arch: String,
    pub platform: String,
    pub project_type: Option<String>,
    /// `name@version` of the plugin that planned the service.
    pub plugin: Option<String>,
    pub dockerfile: Option<String>,
    /// The tag it is built as, or the prebuilt image it refers to.
    pub reference: String,
    /// The process the service runs, when the plan replaces the image's.
    pub command: Option<Command>,
    pub status: ImageStatus,
    /// `buildkit` or `classic`; none for a prebuilt image.
    pub builder: Option<String>,
}

/// How an image build ended.
#[derive(Debug, Clone)]
pub struct ImageOutcome {
    pub status: ImageStatus,
    pub image_id: Option<String>,
    pub size_bytes: Option<i64>,
    pub context_bytes: Option<i64>,
    pub log: String,
    pub error: Option<String>,
    pub started_at_ms: Option<i64>,
    pub ended_at_ms: i64,
}

/// One recorded image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageRecord {
    pub id: i64,
    pub service: String,
    pub device_type: String,
    pub arch: String,
    pub platform: String,
    pub status: ImageStatus,
    pub project_type: Option<String>,
    pub plugin: Option<String>,
    pub dockerfile: Option<String>,
    pub reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    pub builder: Option<String>,
    pub image_id: Option<String>,
    /// Where the image was pushed, `HOST/APP/SERVICE@sha256:...`.
    pub registry_reference: Option<String>,
    pub size_bytes: Option<i64>,
    pub context_bytes: Option<i64>,
    pub log: String,
    pub error: Option<String>,
    pub started_at_ms: Option<i64>,
    pub ended_at_ms: Option<i64>,
    pub duration_ms: Option<i64>,
}

/// Which releases to list.
#[derive(Debug, Clone, Default)]
pub struct ReleaseFilter {
    pub app: Option<String>,
    pub status: Option<Status>,
    /// A full commit id or a prefix of one.
    pub commit: Option<String>,
    /// Releases built for this device type.
    pub device_type: Option<String>,
    /// Started at or after (Unix milliseconds).
    pub since_ms: Option<i64>,
    /// Started before (Unix milliseconds).
    pub until_ms: Option<i64>,
    /// Only releases older than this id (the cursor of the previous page).
    pub before_id: Option<i64>,
    pub limit: Option<u32>,
}

/// Now, as Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Unix milliseconds as an RFC 3339 UTC timestamp, for people.
pub fn format_ms(ms: i64) -> String {
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(time).to_string()
}

/// A fresh release hash: 32 hex digits, unique enough to tag images with.
pub fn new_release_hash(app: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(nanos.to_le_bytes());
    hasher.update(std::process::id().to_le_bytes());
    hasher.update(
        COUNTER
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_le_bytes(),
    );
    hasher.update(app.as_bytes());
    hex::encode(&hasher.finalize()[..16])
}
