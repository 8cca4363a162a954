//! `/releases`: list with filters and a cursor, one release, its logs, cancel.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, Query, State as Extract};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::release::{ReleaseFilter, Status};
use crate::service::auth::Caller;
use crate::service::error::ApiError;
use crate::service::state::State;
use crate::service::watch;

/// Releases on one page unless `limit` says otherwise, and at most.
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

pub fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/releases", get(list))
        .route("/releases/{id}", get(show))
        .route("/releases/{id}/logs", get(logs))
        .route("/releases/{id}/cancel", post(cancel))
        .route("/releases/{id}/state", get(device_state))
}

/// The query of `GET /releases` (also what a saved view stores).
pub fn parse_filter(query: &HashMap<String, String>) -> Result<ReleaseFilter, ApiError> {
    let bad = |field: &str, why: String| {
        ApiError::bad_request("invalid_filter", format!("{field}: {why}"))
    };
    let mut filter = ReleaseFilter::default();
    for (key, value) in query {
        match key.as_str() {
            "app" => {
                crate::app::check_name(value).map_err(|e| bad("app", e.to_string()))?;
                filter.app = Some(value.clone());
            }
            "status" => {
                filter.status = Some(Status::parse(value).ok_or_else(|| {
                    bad(
                        "status",
                        format!(
                            "`{}` is not one of {}",
                            crate::source::unpack::printable(value),
                            Status::ALL.map(|s| s.as_str()).join(", ")
                        ),
                    )
                })?)
            }
            "commit" => {
                if value.is_empty()
                    || value.len() > 64
                    || !value.bytes().all(|b| b.is_ascii_hexdigit())
                {
                    return Err(bad(
                        "commit",
                        "expected a commit id or a prefix of one (hex)".into(),
                    ));
                }
                filter.commit = Some(value.to_ascii_lowercase());
            }
            "device_type" => {
                crate::target::lookup(value).map_err(|e| bad("device_type", e.to_string()))?;
                filter.device_type = Some(value.clone());
            }
            "since" => filter.since_ms = Some(parse_time(value).map_err(|e| bad("since", e))?),
            "until" => filter.until_ms = Some(parse_time(value).map_err(|e| bad("until", e))?),
            "limit" => {
                let limit: u32 = value
                    .parse()
                    .map_err(|_| bad("limit", "expected a whole number".into()))?;
                if limit == 0 || limit > MAX_PAGE {
                    return Err(bad("limit", format!("expected 1 to {MAX_PAGE}")));
                }
                filter.limit = Some(limit);
            }
            "cursor" => {
                filter.before_id = Some(
                    value
                        .parse()
                        .map_err(|_| bad("cursor", "not a cursor this API returned".into()))?,
                )
            }
            other => return Err(bad(
                &crate::source::unpack::printable(other),
                "unknown filter (app, status, commit, device_type, since, until, limit, cursor)"
                    .into(),
            )),
        }
    }
    Ok(filter)
}

/// RFC 3339 (`2026-11-25T10:00:00Z`) or Unix milliseconds.
fn parse_time(value: &str) -> Result<i64, String> {
    if let Ok(ms) = value.parse::<i64>() {
        return Ok(ms);
    }
    humantime::parse_rfc3339_weak(value)
        .map_err(|_| {
            format!(
                "`{}`: expected RFC 3339 time or Unix milliseconds",
                crate::source::unpack::printable(value)
            )
        })
        .map(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_millis() as i64
        })
}

async fn list(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    let mut filter = parse_filter(&query)?;
    match (&caller.scope, &filter.app) {
        (crate::access::Scope::App(own), None) => filter.app = Some(own.clone()),
        (_, Some(app)) => caller.check_app(app)?,
        _ => {}
    }
    let limit = filter.limit.unwrap_or(DEFAULT_PAGE);
    // One more than the page tells whether another page follows.
    filter.limit = Some(limit + 1);
    let mut releases = state.store.call(move |s| s.list(&filter)).await?;
    let next_cursor = if releases.len() > limit as usize {
        releases.truncate(limit as usize);
        releases.last().map(|r| r.id.to_string())
    } else {
        None
    };
    Ok(Json(
        json!({ "releases": releases, "next_cursor": next_cursor }),
    ))
}

/// How many devices run each release, in one pass over the fleet.
pub(crate) fn running_counts(state: &State) -> HashMap<i64, u64> {
    let data = state.fleet.read();
    let mut counts = HashMap::new();
    for release in data.devices.values().filter_map(|d| d.running_release()) {
        *counts.entry(release).or_insert(0) += 1;
    }
    counts
}

pub(crate) async fn find(
    state: &State,
    caller: &Caller,
    id: i64,
) -> Result<crate::release::Release, ApiError> {
    let release = state.store.call(move |s| s.get(id)).await?;
    if !caller.scope.allows_app(&release.app) {
        // Other apps' releases are not even confirmed to exist.
        return Err(ApiError::not_found(format!("no release {id}")));
    }
    Ok(release)
}

async fn show(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let release = find(&state, &caller, id).await?;
    let images = state.store.call(move |s| s.images(id)).await?;
    let images: Vec<_> = images
        .iter()
        .map(crate::release::summary::image_json)
        .collect();
    let mut body = serde_json::to_value(&release).map_err(ApiError::internal)?;
    body["images"] = json!(images);
    body["logs"] = json!(format!("/api/v1/releases/{id}/logs"));
    body["device_count"] = json!(running_counts(&state).get(&id).copied().unwrap_or(0));
    Ok(Json(body))
}

#[derive(serde::Deserialize)]
struct ForDeviceType {
    device_type: String,
}

/// `GET /releases/ID/state?device_type=SLUG`: the target state a device of
/// that type gets for this release (what `slipway preload` packs), the same
/// body the device API serves.
async fn device_state(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(query): Query<ForDeviceType>,
) -> Result<impl IntoResponse, ApiError> {
    find(&state, &caller, id).await?;
    let release_state = crate::service::fleet::target_state::state_of(
        &state.fleet,
        &state.store,
        id,
        &query.device_type,
    )
    .await
    .map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "no_target_state",
            e.to_string(),
        )
    })?;
    let mut body = release_state.body.clone();
    body.insert("device".into(), json!({"device_type": query.device_type}));
    Ok(Json(serde_json::Value::Object(body)))
}

async fn logs(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let release = find(&state, &caller, id).await?;
    let follow = query.get("follow").is_some_and(|v| v == "true" || v == "1");
    let text_headers = [
        (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        (header::CACHE_CONTROL, "no-cache"),
        (
            axum::http::HeaderName::from_static("x-accel-buffering"),
            "no",
        ),
    ];
    if follow && release.status.is_open() && (state.shared || state.hubs.get(id).is_some()) {
        let body = watch::follow(state.clone(), id, watch::Text);
        return Ok((text_headers, body).into_response());
    }
    let images = state.store.call(move |s| s.images(id)).await?;
    let mut text = String::new();
    for image in &images {
        text.push_str(&format!(
            "=== {} {} ({})\n",
            image.service,
            image.arch,
            image.status.as_str()
        ));
        text.push_str(&image.log);
        if !image.log.ends_with('\n') && !image.log.is_empty() {
            text.push('\n');
        }
    }
    if let Some(error) = &release.error {
        text.push_str(&format!(
            "=== release {} {}: {error}\n",
            release.id, release.status
        ));
    }
    Ok((text_headers, Body::from(text)).into_response())
}

async fn cancel(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let status = cancel_release(&state, &caller, id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "release": id, "status": status })),
    ))
}

/// Cancels a queued or running release: `cancelled` (it never started) or
/// `cancelling` (its build stops).
pub(crate) async fn cancel_release(
    state: &State,
    caller: &Caller,
    id: i64,
) -> Result<&'static str, ApiError> {
    let release = find(state, caller, id).await?;
    if state.store.call(move |s| s.cancel_queued(id)).await? {
        let done = state
            .store
            .call(move |s| Ok((s.get(id)?, s.images(id)?)))
            .await?;
        state
            .hubs
            .close(id, crate::service::hub::Update::Done(Box::new(done)));
        return Ok("cancelled");
    }
    // Built by another replica: it hears of the request through the store.
    if state.shared
        && !state
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&id)
        && state.store.call(move |s| s.request_cancel(id)).await?
    {
        return Ok("cancelling");
    }
    // Claimed a moment ago: its job registers its stop token right after.
    for _ in 0..50 {
        let token = state
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned();
        if let Some(token) = token {
            token.cancel();
            return Ok("cancelling");
        }
        let status = state.store.call(move |s| s.get(id)).await?.status;
        if !status.is_open() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "not_running",
        format!("release {id} is {}: nothing to cancel", release.status),
    ))
}
