//! `/apps/APP/devices` and `/devices/UUID`: register devices (their key shown
//! once, stored hashed), list them with tag and status filters, tag, pin,
//! delete. Every change is in the audit log and wakes the device.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State as Extract};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::apps::find_app;
use crate::access::{new_token, token_hash};
use crate::device::{check_tags, Device, Report};
use crate::release::{now_ms, Status};
use crate::service::auth::Caller;
use crate::service::body;
use crate::service::error::ApiError;
use crate::service::state::State;

/// A device not seen for this long is offline.
pub const OFFLINE_AFTER_MS: i64 = 5 * 60 * 1000;
/// The longest device name.
const MAX_NAME: usize = 128;

pub fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/apps/{app}/devices", post(add).get(list))
        .route("/devices/{uuid}", get(show).delete(remove))
        .route("/devices/{uuid}/tags", put(set_tags))
        .route("/devices/{uuid}/pin", put(pin))
        .route("/devices/{uuid}/update", post(update))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDevice {
    name: String,
    device_type: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

async fn add(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(name): Path<String>,
    request: Body,
) -> Result<impl IntoResponse, ApiError> {
    let app = find_app(&state, &caller, &name).await?;
    let new: NewDevice = body::json(request, state.config.limits.json_bytes).await?;
    if new.name.trim().is_empty()
        || new.name.len() > MAX_NAME
        || new.name.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(
            "invalid_device",
            format!("name: use 1 to {MAX_NAME} printable characters"),
        ));
    }
    if !app.device_types.contains(&new.device_type) {
        return Err(ApiError::bad_request(
            "invalid_device",
            format!(
                "device_type: `{}` is not one of app `{}`'s device types ({})",
                crate::source::unpack::printable(&new.device_type),
                app.name,
                app.device_types.join(", ")
            ),
        ));
    }
    check_tags(&new.tags).map_err(|e| ApiError::bad_request("invalid_device", e))?;
    let key = new_token().map_err(ApiError::internal)?;
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(ApiError::internal)?;
    let device = Device {
        uuid: hex::encode(raw),
        app: app.name.clone(),
        name: new.name,
        device_type: new.device_type,
        tags: new.tags,
        pin_release: None,
        created_at_ms: now_ms(),
        last_seen_ms: None,
        report: Report::default(),
    };
    let hash = token_hash(&key);
    let stored = (device.clone(), hash.clone());
    state
        .store
        .call(move |s| {
            s.add_device(&stored.0, &stored.1)?;
            s.record_event(
                Some(&stored.0.app),
                "device.added",
                Some(&stored.0.uuid),
                &json!({"name": stored.0.name, "device_type": stored.0.device_type, "tags": stored.0.tags}),
            )
        })
        .await?;
    state.fleet.write().insert_device(device.clone(), hash);
    Ok((
        StatusCode::CREATED,
        Json(
            json!({ "uuid": device.uuid, "device_key": key, "name": device.name, "device_type": device.device_type }),
        ),
    ))
}

/// A device as the API shows it: what it is, what it should run and why,
/// what it reports.
pub fn view(data: &crate::service::fleet::FleetData, device: &Device) -> Value {
    let target = data.target_of(device);
    let last_seen = data.last_seen(device);
    let online = last_seen.is_some_and(|t| now_ms() - t < OFFLINE_AFTER_MS);
    json!({
        "uuid": device.uuid,
        "app": device.app,
        "name": device.name,
        "device_type": device.device_type,
        "tags": device.tags,
        "pin_release": device.pin_release,
        "target": target,
        "release_id": device.report.release_id,
        "update_status": device.report.update_status,
        "progress": device.report.progress,
        "error": device.report.error,
        "last_seen_ms": last_seen,
        "online": online,
        "created_at_ms": device.created_at_ms,
    })
}

async fn list(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<impl IntoResponse, ApiError> {
    let app = find_app(&state, &caller, &name).await?;
    let mut tags = Vec::new();
    let mut status = None;
    for (key, value) in &query {
        match key.as_str() {
            "tag" => {
                let (k, v) = value.split_once(':').ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_filter",
                        "tag: expected KEY:VALUE, e.g. site:berlin",
                    )
                })?;
                tags.push((k.to_string(), v.to_string()));
            }
            "status" => status = Some(value.clone()),
            other => {
                return Err(ApiError::bad_request(
                    "invalid_filter",
                    format!(
                        "{}: unknown filter (tag, status)",
                        crate::source::unpack::printable(other)
                    ),
                ))
            }
        }
    }
    if let Some(status) = &status {
        let known = ["online", "offline"].contains(&status.as_str())
            || crate::device::UpdateStatus::parse(status).is_some();
        if !known {
            return Err(ApiError::bad_request(
                "invalid_filter",
                format!("status: `{}`: expected online, offline or an update status (downloading, installing, starting, running, failed, rolled-back, idle)", crate::source::unpack::printable(status)),
            ));
        }
    }
    let data = state.fleet.read();
    let mut devices: Vec<Value> = data
        .devices
        .values()
        .filter(|d| d.app == app.name)
        .filter(|d| tags.iter().all(|(k, v)| d.tags.get(k) == Some(v)))
        .map(|d| view(&data, d))
        .filter(|v| match status.as_deref() {
            None => true,
            Some("online") => v["online"] == true,
            Some("offline") => v["online"] == false,
            Some(other) => v["update_status"] == other,
        })
        .collect();
    devices.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Ok(Json(json!({ "devices": devices })))
}

/// The device, after checking the caller may reach its app.
fn find_device(state: &State, caller: &Caller, uuid: &str) -> Result<Device, ApiError> {
    let data = state.fleet.read();
    match data.devices.get(uuid) {
        Some(device) if caller.scope.allows_app(&device.app) => Ok(device.clone()),
        _ => Err(ApiError::not_found(format!(
            "no device `{}`",
            crate::source::unpack::printable(uuid)
        ))),
    }
}

async fn show(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(uuid): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let device = find_device(&state, &caller, &uuid)?;
    let data = state.fleet.read();
    Ok(Json(view(&data, &device)))
}

async fn remove(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(uuid): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let device = find_device(&state, &caller, &uuid)?;
    let (id, app) = (device.uuid.clone(), device.app.clone());
    state
        .store
        .call(move |s| {
            s.delete_device(&id)?;
            s.record_event(Some(&app), "device.deleted", Some(&id), &json!({}))
        })
        .await?;
    state.fleet.write().remove_device(&device.uuid);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Tags {
    tags: BTreeMap<String, String>,
}

async fn set_tags(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(uuid): Path<String>,
    request: Body,
) -> Result<impl IntoResponse, ApiError> {
    let device = find_device(&state, &caller, &uuid)?;
    let tags: Tags = body::json(request, state.config.limits.json_bytes).await?;
    check_tags(&tags.tags).map_err(|e| ApiError::bad_request("invalid_tags", e))?;
    let (id, app, stored) = (device.uuid.clone(), device.app.clone(), tags.tags.clone());
    state
        .store
        .call(move |s| {
            s.set_device_tags(&id, &stored)?;
            s.record_event(
                Some(&app),
                "device.tags",
                Some(&id),
                &json!({"tags": stored}),
            )
        })
        .await?;
    if let Some(found) = state.fleet.write().devices.get_mut(&device.uuid) {
        found.tags = tags.tags;
    }
    state.fleet.changed(&device.app);
    let data = state.fleet.read();
    Ok(Json(view(
        &data,
        data.devices.get(&device.uuid).unwrap_or(&device),
    )))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Pin {
    release_id: Option<i64>,
}

/// A release devices of `app` may be pointed at: one of its own, built.
pub async fn check_runnable(state: &State, app: &str, release: i64) -> Result<(), ApiError> {
    let found = state.store.call(move |s| s.get(release)).await;
    match found {
        Ok(found) if found.app == app && found.status == Status::Success => Ok(()),
        Ok(found) if found.app == app => Err(ApiError::bad_request(
            "invalid_release",
            format!(
                "release_id: release {release} is {}, not success: it has nothing to run",
                found.status
            ),
        )),
        Ok(_) | Err(crate::store::StoreError::NotFound(_)) => Err(ApiError::bad_request(
            "invalid_release",
            format!("release_id: app `{app}` has no release {release}"),
        )),
        Err(e) => Err(e.into()),
    }
}

async fn pin(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(uuid): Path<String>,
    request: Body,
) -> Result<impl IntoResponse, ApiError> {
    let pin: Pin = body::json(request, state.config.limits.json_bytes).await?;
    let device = set_pin(&state, &caller, &uuid, pin.release_id).await?;
    let data = state.fleet.read();
    Ok(Json(view(
        &data,
        data.devices.get(&device.uuid).unwrap_or(&device),
    )))
}

/// Pins a device to a release of its app (`None`: unpins it): stored, an
/// event recorded, the device's long poll woken.
pub(crate) async fn set_pin(
    state: &State,
    caller: &Caller,
    uuid: &str,
    release: Option<i64>,
) -> Result<Device, ApiError> {
    let device = find_device(state, caller, uuid)?;
    if let Some(release) = release {
        check_runnable(state, &device.app, release).await?;
    }
    let (id, app) = (device.uuid.clone(), device.app.clone());
    state
        .store
        .call(move |s| {
            s.set_device_pin(&id, release)?;
            s.record_event(
                Some(&app),
                "device.pin",
                Some(&id),
                &json!({"release_id": release}),
            )
        })
        .await?;
    if let Some(found) = state.fleet.write().devices.get_mut(&device.uuid) {
        found.pin_release = release;
    }
    state.fleet.changed(&device.app);
    Ok(device)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    /// Override the device's update locks for its next update.
    force: bool,
}

/// `POST /devices/UUID/update {"force": true}`: the device's next update
/// goes ahead even while a service holds its update lock (balena's
/// "override the update lock"). The device sees it on its next poll.
async fn update(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(uuid): Path<String>,
    request: Body,
) -> Result<impl IntoResponse, ApiError> {
    let device = find_device(&state, &caller, &uuid)?;
    let asked: UpdateRequest = body::json(request, state.config.limits.json_bytes).await?;
    {
        let mut data = state.fleet.write();
        if asked.force {
            data.forced.insert(device.uuid.clone());
        } else {
            data.forced.remove(&device.uuid);
        }
    }
    let (id, app, force) = (device.uuid.clone(), device.app.clone(), asked.force);
    state
        .store
        .call(move |s| {
            s.record_event(
                Some(&app),
                "device.update",
                Some(&id),
                &json!({"force": force}),
            )
        })
        .await?;
    state.fleet.changed(&device.app);
    Ok(Json(json!({"uuid": device.uuid, "force": asked.force})))
}
