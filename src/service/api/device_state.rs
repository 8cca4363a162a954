//! The device API, authenticated by the device's own key (which reaches its
//! own state and nothing else):
//!
//! - `GET /device/state`: the release it should run, for its arch, with an
//!   `ETag`; `304` on a matching `If-None-Match`; `?wait=SECONDS` holds the
//!   answer until the target changes. This path reads memory only: the key
//!   lookup, the resolution and the state are in the fleet index and cache.
//! - `PATCH /device/state`: what it runs now. Reports are idempotent; one
//!   with an older `seq` than the last is ignored.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State as Extract};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::access::{same_secret, token_hash};
use crate::device::Device;
use crate::device::Report;
use crate::release::now_ms;
use crate::rollout::resolve::Target;
use crate::service::body;
use crate::service::error::ApiError;
use crate::service::fleet::{evaluate, target_state, FleetData};
use crate::service::state::State;

/// The longest long-poll.
const MAX_WAIT: u64 = 300;
/// A report body's cap.
const MAX_REPORT: usize = 64 * 1024;

pub fn router() -> Router<Arc<State>> {
    Router::new().route("/device/state", get(get_state).patch(report))
}

/// The device whose key the request carries, if any.
fn keyed_device<'a>(data: &'a FleetData, headers: &HeaderMap) -> Option<&'a Device> {
    let key = headers
        .get(header::AUTHORIZATION)
        .filter(|v| v.len() <= 1024)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))?;
    let hash = token_hash(key.trim());
    let (stored, uuid) = data.by_key.get_key_value(&hash)?;
    if !same_secret(stored.as_bytes(), hash.as_bytes()) {
        return None;
    }
    data.devices.get(uuid)
}

/// The device a key belongs to: (uuid, app, device type), counted against its rate.
fn device_of(state: &State, headers: &HeaderMap) -> Result<(String, String, String), ApiError> {
    let data = state.fleet.read();
    let device = keyed_device(&data, headers).ok_or_else(ApiError::unauthorized)?;
    if !data.admit(&device.uuid, now_ms()) {
        return Err(rate_limited());
    }
    Ok((
        device.uuid.clone(),
        device.app.clone(),
        device.device_type.clone(),
    ))
}

fn target_of(state: &State, uuid: &str) -> Option<Target> {
    let data = state.fleet.read();
    data.devices
        .get(uuid)
        .map(|d| data.target_for_device(d, now_ms()))
}

fn rate_limited() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!(
            "this device made more than {} requests in a second: use If-None-Match and ?wait= instead of polling fast",
            crate::service::fleet::DEVICE_REQUESTS_PER_SECOND
        ),
    )
}

#[derive(Deserialize)]
struct Wait {
    wait: Option<u64>,
}

/// The poll most devices make: their key, the ETag they have, and nothing
/// changed. Answered under one read lock with no allocation but the reply;
/// `None` when the full path is needed.
fn unchanged(state: &State, headers: &HeaderMap) -> Option<Response> {
    let presented = headers.get(header::IF_NONE_MATCH)?.as_bytes();
    let data = state.fleet.read();
    let device = keyed_device(&data, headers)?;
    let uuid = &device.uuid;
    if data.forced.contains(uuid) {
        return None;
    }
    let release = data.target_for_device(device, now_ms()).release?;
    let cached = target_state::cached(&state.fleet, release, &device.device_type)?;
    if cached.etag.as_bytes() != presented {
        return None;
    }
    if !data.admit(uuid, now_ms()) {
        return Some(rate_limited().into_response());
    }
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    response
        .headers_mut()
        .insert(header::ETAG, cached.etag_header.clone());
    Some(response)
}

async fn get_state(
    Extract(state): Extract<Arc<State>>,
    headers: HeaderMap,
    Query(wait): Query<Wait>,
) -> Result<Response, ApiError> {
    if wait.wait.unwrap_or(0) == 0 {
        if let Some(response) = unchanged(&state, &headers) {
            return Ok(response);
        }
    }
    let (uuid, app, device_type) = device_of(&state, &headers)?;
    let presented = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // Subscribed before the target is read: a change in between is not missed.
    // A plain poll does not subscribe at all.
    let wait = Duration::from_secs(wait.wait.unwrap_or(0).min(MAX_WAIT));
    let mut changes = (!wait.is_zero()).then(|| state.fleet.watch(&app));
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let target = target_of(&state, &uuid).ok_or_else(ApiError::unauthorized)?;
        let release_state = match target.release {
            Some(release) => Some(
                target_state::state_of(&state.fleet, &state.store, release, &device_type)
                    .await
                    .map_err(ApiError::internal)?,
            ),
            None => None,
        };
        let forced = state.fleet.read().forced.contains(&uuid);
        let mut etag = release_state
            .as_ref()
            .map_or(target_state::NO_TARGET_ETAG.to_string(), |s| s.etag.clone());
        if forced {
            // Another answer than the unforced one: the device must see it.
            etag = format!("{}-force\"", etag.trim_end_matches('"'));
        }
        let etag = etag.as_str();
        if presented.as_deref() != Some(etag) {
            let mut body = release_state
                .as_ref()
                .map(|s| s.body.clone())
                .unwrap_or_else(|| {
                    let mut empty = serde_json::Map::new();
                    empty.insert("release_id".into(), Value::Null);
                    empty.insert("release_hash".into(), Value::Null);
                    empty.insert("services".into(), json!({}));
                    empty.insert("hooks".into(), json!({}));
                    empty
                });
            body.insert(
                "device".into(),
                json!({"uuid": uuid, "device_type": device_type}),
            );
            body.insert("target".into(), json!(target));
            body.insert("force_update".into(), json!(forced));
            let mut response = Json(Value::Object(body)).into_response();
            response.headers_mut().insert(
                header::ETAG,
                HeaderValue::from_str(etag).map_err(ApiError::internal)?,
            );
            return Ok(response);
        }
        let woke = match &mut changes {
            Some(changes) => tokio::select! {
                changed = changes.changed() => changed.is_ok(),
                _ = tokio::time::sleep_until(deadline) => false,
            },
            None => false,
        };
        if !woke {
            let mut response = StatusCode::NOT_MODIFIED.into_response();
            response.headers_mut().insert(
                header::ETAG,
                HeaderValue::from_str(etag).map_err(ApiError::internal)?,
            );
            return Ok(response);
        }
    }
}

async fn report(
    Extract(state): Extract<Arc<State>>,
    headers: HeaderMap,
    request: Body,
) -> Result<impl IntoResponse, ApiError> {
    let (uuid, app, _) = device_of(&state, &headers)?;
    let now = now_ms();
    let mut report: Report = body::json(request, MAX_REPORT).await?;
    if let Some(error) = &mut report.error {
        error.truncate(4096);
    }
    if report.progress.is_some_and(|p| p > 100) {
        return Err(ApiError::bad_request(
            "invalid_report",
            "progress: 0 to 100",
        ));
    }
    let (previous, changed) = {
        let mut data = state.fleet.write();
        let Some(device) = data.devices.get_mut(&uuid) else {
            return Err(ApiError::unauthorized());
        };
        // A late report from before the last one says nothing new.
        if let (Some(new), Some(old)) = (report.seq, device.report.seq) {
            if new < old {
                return Ok(Json(
                    json!({ "accepted": false, "reason": "an older report than the last one" }),
                ));
            }
        }
        let previous = device.report.clone();
        let changed = previous != report;
        device.report = report.clone();
        // A forced update is done once the device runs something again.
        if report.update_status == Some(crate::device::UpdateStatus::Running)
            && data.forced.remove(&uuid)
        {
            state.fleet.changed(&app);
        }
        (previous, changed)
    };
    if !changed {
        return Ok(Json(json!({ "accepted": true })));
    }
    let (id, stored, app_name) = (uuid.clone(), report.clone(), app.clone());
    let status_moved =
        previous.update_status != report.update_status || previous.release_id != report.release_id;
    state
        .store
        .call(move |s| {
            s.save_report(&id, &stored)?;
            if status_moved {
                s.record_event(
                    Some(&app_name),
                    "device.report",
                    Some(&id),
                    &json!({"release_id": stored.release_id, "update_status": stored.update_status, "error": stored.error}),
                )?;
            }
            Ok(())
        })
        .await?;
    // Among replicas only the rollout leader decides (it hears of this
    // report through the store within its next tick).
    let leads = state
        .leads_rollouts
        .load(std::sync::atomic::Ordering::Relaxed);
    if status_moved && leads {
        let changed = evaluate::evaluate_app(&state.fleet, &app, now);
        evaluate::persist(&state, changed).await;
        // A stopped rollout's reach depends on what devices run.
        state.fleet.changed(&app);
    } else if status_moved {
        state.fleet.changed(&app);
    }
    Ok(Json(json!({ "accepted": true })))
}
