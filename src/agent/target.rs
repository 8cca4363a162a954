//! A target state as `GET /api/v1/device/state` serves it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// `HOST/APP/SERVICE@sha256:...` (or a local tag without a registry).
    pub image: String,
    /// The argv, when the release replaces the image's own.
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// The image's size, when the server knows it: checked against the
    /// free disk before pulling.
    #[serde(default)]
    pub size_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookSpec {
    pub service: String,
    pub command: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetState {
    /// None: nothing to run yet.
    pub release_id: Option<i64>,
    #[serde(default)]
    pub services: BTreeMap<String, ServiceSpec>,
    #[serde(default)]
    pub hooks: BTreeMap<String, HookSpec>,
}
