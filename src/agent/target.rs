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

impl TargetState {
    /// A built release as a device of `device_type` runs it, from the
    /// images on the engine that built it (local mode: no registry, the
    /// images are already on the device). `None`: no image for that type.
    pub fn of_local_release(
        release: &crate::release::Release,
        images: &[crate::release::ImageRecord],
        device_type: &str,
    ) -> Option<TargetState> {
        let services: BTreeMap<String, ServiceSpec> = images
            .iter()
            .filter(|image| image.device_type == device_type)
            .map(|image| {
                let spec = ServiceSpec {
                    image: image.reference.clone(),
                    command: image.command.as_ref().map(|c| c.argv()),
                    environment: BTreeMap::new(),
                    size_bytes: image.size_bytes.and_then(|b| u64::try_from(b).ok()),
                };
                (image.service.clone(), spec)
            })
            .collect();
        if services.is_empty() {
            return None;
        }
        let hooks = release
            .hooks
            .iter()
            .map(|hook| {
                let spec = HookSpec {
                    service: hook.service.clone(),
                    command: hook.command.argv(),
                };
                (hook.phase.as_str().to_string(), spec)
            })
            .collect();
        Some(TargetState {
            release_id: Some(release.id),
            services,
            hooks,
        })
    }
}
