//! The closing line of a build's event stream (`slipway build --json`, the
//! upload API): the release and one short record per image (no logs).

use serde_json::{json, Value};

use super::{ImageRecord, Release};

pub fn summary_json(release: &Release, images: &[ImageRecord]) -> Value {
    json!({
        "kind": "summary",
        "release": release,
        "images": images.iter().map(image_json).collect::<Vec<_>>(),
    })
}

pub fn image_json(image: &ImageRecord) -> Value {
    json!({
        "service": image.service,
        "arch": image.arch,
        "device_type": image.device_type,
        "platform": image.platform,
        "status": image.status,
        "project_type": image.project_type,
        "plugin": image.plugin,
        "builder": image.builder,
        "image": image.reference,
        "image_id": image.image_id,
        "registry_reference": image.registry_reference,
        "size_bytes": image.size_bytes,
        "context_bytes": image.context_bytes,
        "duration_ms": image.duration_ms,
        "error": image.error,
    })
}
