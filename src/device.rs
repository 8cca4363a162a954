//! A device of an app's fleet and what it last reported.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where a device's update stands, as it reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpdateStatus {
    Downloading,
    /// Downloaded, held by an update lock (`updates.lock`) of a service.
    Waiting,
    Installing,
    Starting,
    Running,
    Failed,
    RolledBack,
    Idle,
}

impl UpdateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateStatus::Downloading => "downloading",
            UpdateStatus::Waiting => "waiting",
            UpdateStatus::Installing => "installing",
            UpdateStatus::Starting => "starting",
            UpdateStatus::Running => "running",
            UpdateStatus::Failed => "failed",
            UpdateStatus::RolledBack => "rolled-back",
            UpdateStatus::Idle => "idle",
        }
    }

    pub fn parse(text: &str) -> Option<UpdateStatus> {
        serde_json::from_value(serde_json::Value::String(text.to_string())).ok()
    }

    /// Still on its way to the release.
    pub fn is_updating(self) -> bool {
        matches!(
            self,
            UpdateStatus::Downloading | UpdateStatus::Installing | UpdateStatus::Starting
        )
    }
}

/// What a device said about itself last.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub release_id: Option<i64>,
    pub update_status: Option<UpdateStatus>,
    pub progress: Option<u8>,
    pub error: Option<String>,
    /// Per service, what runs (free-form, capped by the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<serde_json::Value>,
    /// The device's own counter: a report older than the last one is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Device {
    pub uuid: String,
    pub app: String,
    pub name: String,
    pub device_type: String,
    pub tags: BTreeMap<String, String>,
    /// A release this device runs whatever the fleet does.
    pub pin_release: Option<i64>,
    pub created_at_ms: i64,
    pub last_seen_ms: Option<i64>,
    pub report: Report,
}

impl Device {
    /// The release it runs, when it reports the update finished.
    pub fn running_release(&self) -> Option<i64> {
        match self.report.update_status {
            Some(UpdateStatus::Running) => self.report.release_id,
            _ => None,
        }
    }
}

/// The most tags per device, and their longest key and value.
pub const MAX_TAGS: usize = 32;
pub const MAX_TAG_TEXT: usize = 128;

/// Checks tags: keys `[A-Za-z0-9._-]`, printable values, sizes capped.
pub fn check_tags(tags: &BTreeMap<String, String>) -> Result<(), String> {
    if tags.len() > MAX_TAGS {
        return Err(format!("tags: at most {MAX_TAGS}"));
    }
    for (key, value) in tags {
        let key_ok = !key.is_empty()
            && key.len() <= MAX_TAG_TEXT
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !key_ok {
            return Err(format!(
                "tags: key `{}`: use 1 to {MAX_TAG_TEXT} letters, digits, `.`, `_`, `-`",
                key.chars().take(80).collect::<String>()
            ));
        }
        if value.len() > MAX_TAG_TEXT || value.chars().any(char::is_control) {
            return Err(format!(
                "tags.{key}: use at most {MAX_TAG_TEXT} printable characters"
            ));
        }
    }
    Ok(())
}
