//! A release as one device type sees it: the image of each service for its
//! arch (by digest when the registry has it), commands and hooks. Releases
//! never change once built, so each (release, device type) is built once
//! and shared by every device that polls it.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::Fleet;
use crate::release::Status;
use crate::store::{SharedStore, StoreError};

pub struct ReleaseState {
    /// Quoted, as sent in the `ETag` header.
    pub etag: String,
    /// The same, ready to send.
    pub etag_header: axum::http::HeaderValue,
    /// Everything but the `device` part.
    pub body: Map<String, Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("release {0} did not succeed: it has nothing to run")]
    NotRunnable(i64),
    #[error("release {release} has no image for {device_type}")]
    NoImage { release: i64, device_type: String },
}

/// The `ETag` of "nothing to run".
pub const NO_TARGET_ETAG: &str = "\"none\"";

pub async fn state_of(
    fleet: &Fleet,
    store: &SharedStore,
    release: i64,
    device_type: &str,
) -> Result<Arc<ReleaseState>, StateError> {
    if let Some(found) = cached(fleet, release, device_type) {
        return Ok(found);
    }
    let (record, images) = store
        .call(move |s| Ok((s.get(release)?, s.images(release)?)))
        .await?;
    if record.status != Status::Success {
        return Err(StateError::NotRunnable(release));
    }
    let mut services = Map::new();
    for image in images.iter().filter(|i| i.device_type == device_type) {
        services.insert(
            image.service.clone(),
            json!({
                "image": image.registry_reference.clone().unwrap_or_else(|| image.reference.clone()),
                "command": image.command.as_ref().map(|c| c.argv()),
                // What the device checks its free disk against before pulling.
                "size_bytes": image.size_bytes,
                "environment": {},
                "labels": {
                    "io.slipway.release": record.hash,
                    "io.slipway.service": image.service,
                },
            }),
        );
    }
    if services.is_empty() {
        return Err(StateError::NoImage {
            release,
            device_type: device_type.to_string(),
        });
    }
    let mut hooks = Map::new();
    for hook in &record.hooks {
        hooks.insert(
            hook.phase.as_str().to_string(),
            json!({"service": hook.service, "command": hook.command.argv()}),
        );
    }
    let mut body = Map::new();
    body.insert("release_id".into(), json!(record.id));
    body.insert("release_hash".into(), json!(record.hash));
    body.insert("services".into(), Value::Object(services));
    body.insert("hooks".into(), Value::Object(hooks));
    let digest = Sha256::digest(Value::Object(body.clone()).to_string().as_bytes());
    let etag = format!("\"{release}-{}\"", hex::encode(&digest[..8]));
    let state = Arc::new(ReleaseState {
        etag_header: axum::http::HeaderValue::from_str(&etag)
            .unwrap_or_else(|_| axum::http::HeaderValue::from_static("\"?\"")),
        etag,
        body,
    });
    fleet
        .states
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .entry(release)
        .or_default()
        .insert(device_type.to_string(), state.clone());
    Ok(state)
}

/// The state of `release` for `device_type`, when built already.
pub fn cached(fleet: &Fleet, release: i64, device_type: &str) -> Option<Arc<ReleaseState>> {
    fleet
        .states
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&release)
        .and_then(|by_type| by_type.get(device_type))
        .cloned()
}
