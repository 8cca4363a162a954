//! The fleet target (`/apps/APP/target`), rollouts (`/apps/APP/rollouts`,
//! `/rollouts/ID[/pause|resume|stop]`) and the audit log (`/apps/APP/events`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State as Extract};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::apps::find_app;
use super::devices::check_runnable;
use crate::release::now_ms;
use crate::rollout::{self, Phase, Rollout, RolloutState, Selector};
use crate::service::auth::Caller;
use crate::service::body;
use crate::service::error::ApiError;
use crate::service::fleet::evaluate;
use crate::service::state::State;

pub fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/apps/{app}/target", get(show_target).put(set_target))
        .route("/apps/{app}/rollouts", post(create).get(list))
        .route("/apps/{app}/events", get(events))
        .route("/rollouts/{id}", get(show))
        .route("/rollouts/{id}/{action}", post(act))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetTarget {
    release_id: Option<i64>,
    track_latest: Option<bool>,
}

async fn show_target(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let app = find_app(&state, &caller, &name).await?;
    let data = state.fleet.read();
    let fleet = data.apps.get(&app.name);
    Ok(Json(json!({
        "release_id": fleet.and_then(|f| f.target),
        "track_latest": fleet.is_none_or(|f| f.track_latest),
    })))
}

async fn set_target(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(name): Path<String>,
    request: Body,
) -> Result<impl IntoResponse, ApiError> {
    let app = find_app(&state, &caller, &name).await?;
    let wanted: SetTarget = body::json(request, state.config.limits.json_bytes).await?;
    let (release, track_latest) = match (wanted.release_id, wanted.track_latest) {
        (Some(release), None | Some(false)) => {
            check_runnable(&state, &app.name, release).await?;
            (Some(release), false)
        }
        (None, Some(true)) => {
            let name = app.name.clone();
            let latest = state
                .store
                .call(move |s| {
                    s.list(&crate::release::ReleaseFilter {
                        app: Some(name),
                        status: Some(crate::release::Status::Success),
                        limit: Some(1),
                        ..Default::default()
                    })
                })
                .await?;
            (latest.first().map(|r| r.id), true)
        }
        _ => {
            return Err(ApiError::bad_request(
                "invalid_target",
                "give {\"release_id\": N} or {\"track_latest\": true}",
            ))
        }
    };
    let name = app.name.clone();
    state
        .store
        .call(move |s| {
            s.set_fleet_target(&name, release, track_latest)?;
            s.record_event(
                Some(&name),
                "fleet.target",
                None,
                &json!({"release_id": release, "track_latest": track_latest}),
            )
        })
        .await?;
    if let Some(fleet) = state.fleet.write().apps.get_mut(&app.name) {
        fleet.target = release;
        fleet.track_latest = track_latest;
    }
    state.fleet.changed(&app.name);
    Ok(Json(
        json!({ "release_id": release, "track_latest": track_latest }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRollout {
    release_id: i64,
    #[serde(default)]
    selector: Selector,
    phases: Vec<Phase>,
    #[serde(default = "default_error_threshold")]
    error_threshold: u8,
    #[serde(default = "default_min_finished")]
    min_finished: u32,
    max_per_minute: Option<u32>,
}

fn default_error_threshold() -> u8 {
    5
}

fn default_min_finished() -> u32 {
    5
}

async fn create(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(name): Path<String>,
    request: Body,
) -> Result<impl IntoResponse, ApiError> {
    let app = find_app(&state, &caller, &name).await?;
    let new: NewRollout = body::json(request, state.config.limits.json_bytes).await?;
    rollout::check(&new.phases, new.error_threshold)
        .map_err(|e| ApiError::bad_request("invalid_rollout", e.to_string()))?;
    crate::device::check_tags(&new.selector.tags)
        .map_err(|e| ApiError::bad_request("invalid_rollout", format!("selector.{e}")))?;
    check_runnable(&state, &app.name, new.release_id).await?;
    let now = now_ms();
    let mut rollout = Rollout {
        id: 0,
        app: app.name.clone(),
        release_id: new.release_id,
        selector: new.selector,
        phases: new.phases,
        error_threshold: new.error_threshold,
        min_finished: new.min_finished,
        max_per_minute: new.max_per_minute,
        state: RolloutState::Active,
        current_phase: 0,
        phase_started_at_ms: now,
        created_at_ms: now,
        reason: None,
    };
    let stored = rollout.clone();
    rollout.id = state
        .store
        .call(move |s| {
            let id = s.create_rollout(&stored)?;
            s.record_event(
                Some(&stored.app),
                "rollout.created",
                Some(&id.to_string()),
                &json!({"release_id": stored.release_id, "phases": stored.phases, "selector": stored.selector}),
            )?;
            Ok(id)
        })
        .await?;
    state
        .fleet
        .write()
        .rollouts
        .entry(app.name.clone())
        .or_default()
        .push(rollout.clone());
    state.fleet.changed(&app.name);
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": rollout.id, "state": rollout.state })),
    ))
}

/// A rollout with its per-phase counts.
pub(crate) fn rollout_view(data: &crate::service::fleet::FleetData, rollout: &Rollout) -> Value {
    let counts = evaluate::counts(data, rollout);
    let phases: Vec<Value> = rollout
        .phases
        .iter()
        .zip(&counts)
        .enumerate()
        .map(|(index, (phase, counts))| {
            json!({
                "percent": phase.percent,
                "success_threshold": phase.success_threshold,
                "soak_seconds": phase.soak_seconds,
                "reached": rollout.state == RolloutState::Completed || index <= rollout.current_phase,
                "targeted": counts.targeted,
                "updating": counts.updating,
                "running": counts.running,
                "failed": counts.failed,
            })
        })
        .collect();
    json!({
        "id": rollout.id,
        "app": rollout.app,
        "release_id": rollout.release_id,
        "selector": rollout.selector,
        "state": rollout.state,
        "current_phase": rollout.current_phase + 1,
        "phase_started_at_ms": rollout.phase_started_at_ms,
        "error_threshold": rollout.error_threshold,
        "min_finished": rollout.min_finished,
        "max_per_minute": rollout.max_per_minute,
        "reason": rollout.reason,
        "created_at_ms": rollout.created_at_ms,
        "phases": phases,
    })
}

async fn list(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let app = find_app(&state, &caller, &name).await?;
    let data = state.fleet.read();
    let rollouts: Vec<Value> = data
        .rollouts
        .get(&app.name)
        .into_iter()
        .flatten()
        .rev()
        .map(|r| rollout_view(&data, r))
        .collect();
    Ok(Json(json!({ "rollouts": rollouts })))
}

pub(crate) fn find(state: &State, caller: &Caller, id: i64) -> Result<Rollout, ApiError> {
    let data = state.fleet.read();
    match data.rollout(id) {
        Some(rollout) if caller.scope.allows_app(&rollout.app) => Ok(rollout.clone()),
        _ => Err(ApiError::not_found(format!("no rollout {id}"))),
    }
}

async fn show(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let rollout = find(&state, &caller, id)?;
    let data = state.fleet.read();
    Ok(Json(rollout_view(&data, &rollout)))
}

async fn act(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path((id, action)): Path<(i64, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let current = act_on(&state, &caller, id, &action).await?;
    let data = state.fleet.read();
    Ok(Json(rollout_view(&data, &current)))
}

/// An operator's `pause`, `resume` or `stop`; the rollout after it.
pub(crate) async fn act_on(
    state: &State,
    caller: &Caller,
    id: i64,
    action: &str,
) -> Result<Rollout, ApiError> {
    let rollout = find(state, caller, id)?;
    let (from, to, done): (&[RolloutState], RolloutState, &str) = match action {
        "pause" => (&[RolloutState::Active], RolloutState::Paused, "paused"),
        "resume" => (&[RolloutState::Paused], RolloutState::Active, "resumed"),
        "stop" => (
            &[RolloutState::Active, RolloutState::Paused],
            RolloutState::Stopped,
            "stopped",
        ),
        other => {
            return Err(ApiError::not_found(format!(
                "no rollout action `{}` (pause, resume, stop)",
                crate::source::unpack::printable(other)
            )))
        }
    };
    if !from.contains(&rollout.state) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "invalid_state",
            format!(
                "rollout {id} is {}: it cannot {action}",
                rollout.state.as_str()
            ),
        ));
    }
    let updated = {
        let mut data = state.fleet.write();
        let Some(found) = data.rollout_mut(id) else {
            return Err(ApiError::not_found(format!("no rollout {id}")));
        };
        found.state = to;
        found.reason = match to {
            RolloutState::Paused => Some("paused by an operator".into()),
            RolloutState::Stopped => Some("stopped by an operator".into()),
            _ => None,
        };
        if to == RolloutState::Active {
            // The soak of the current phase starts again from the resume.
            found.phase_started_at_ms = now_ms();
        }
        found.clone()
    };
    evaluate::persist(
        state,
        vec![(updated.clone(), format!("{done} by an operator"))],
    )
    .await;
    let changed = evaluate::evaluate_app(&state.fleet, &updated.app, now_ms());
    evaluate::persist(state, changed).await;
    let data = state.fleet.read();
    Ok(data.rollout(id).cloned().unwrap_or(updated))
}

async fn events(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    let app = find_app(&state, &caller, &name).await?;
    let limit: u32 = query
        .get("limit")
        .map(|l| {
            l.parse()
                .map_err(|_| ApiError::bad_request("invalid_filter", "limit: expected 1 to 500"))
        })
        .transpose()?
        .unwrap_or(100)
        .clamp(1, 500);
    let before: Option<i64> = query
        .get("cursor")
        .map(|c| {
            c.parse().map_err(|_| {
                ApiError::bad_request("invalid_filter", "cursor: not a cursor this API returned")
            })
        })
        .transpose()?;
    let events = state
        .store
        .call(move |s| s.events(Some(&app.name), before, limit + 1))
        .await?;
    let next = (events.len() > limit as usize).then(|| events[limit as usize - 1].id.to_string());
    let events: Vec<_> = events.into_iter().take(limit as usize).collect();
    Ok(Json(json!({ "events": events, "next_cursor": next })))
}
