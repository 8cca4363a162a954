//! `/rollouts/ID`: a rollout's phases as progress bars with their counts,
//! its state and why, and the operator's pause, resume and stop.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Path, State as Extract};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use super::html::{self, esc, Frame};
use super::session::{Signed, SignedForm};
use crate::service::api::rollouts::{act_on, find, rollout_view};
use crate::service::state::State;

pub fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/rollouts/{id}", get(show))
        .route("/rollouts/{id}/{action}", post(act))
}

async fn show(
    Extract(state): Extract<Arc<State>>,
    signed: Signed,
    Path(id): Path<i64>,
) -> Response {
    let rollout = match find(&state, &signed.caller, id) {
        Ok(rollout) => rollout,
        Err(error) => return super::api_error_page(&signed, error),
    };
    let view = {
        let data = state.fleet.read();
        rollout_view(&data, &rollout)
    };
    let title = format!("Rollout {id}");
    let frame = Frame {
        title: &title,
        csrf: Some(&signed.csrf),
    };
    let state_name = view["state"].as_str().unwrap_or("");
    let mut body = format!(
        r##"<section class="card"><dl class="facts"><dt>App</dt><dd><a href="/apps/{app}">{app}</a></dd><dt>Release</dt><dd><a href="/releases/{release}">#{release}</a></dd><dt>State</dt><dd id="rollout-state">{badge}</dd><dt>Why</dt><dd>{reason}</dd><dt>Phase</dt><dd>{phase} of {phases}</dd><dt>Error threshold</dt><dd>{errors}%</dd></dl>"##,
        app = esc(view["app"].as_str().unwrap_or("")),
        release = view["release_id"],
        badge = html::status_badge(state_name),
        reason = esc(view["reason"].as_str().unwrap_or("–")),
        phase = view["current_phase"],
        phases = view["phases"].as_array().map_or(0, Vec::len),
        errors = view["error_threshold"],
    );
    let actions: &[&str] = match state_name {
        "active" => &["pause", "stop"],
        "paused" => &["resume", "stop"],
        _ => &[],
    };
    for action in actions {
        let _ = write!(
            body,
            r#"<form method="post" action="/rollouts/{id}/{action}" class="inline">{csrf}<button type="submit"{danger}>{label}</button></form> "#,
            csrf = html::csrf_field(&signed.csrf),
            danger = if *action == "stop" {
                r#" class="danger""#
            } else {
                ""
            },
            label = match *action {
                "pause" => "Pause",
                "resume" => "Resume",
                _ => "Stop",
            },
        );
    }
    body.push_str("</section><h2>Phases</h2><ol class=\"phases\">");
    for (index, phase) in view["phases"].as_array().into_iter().flatten().enumerate() {
        let targeted = phase["targeted"].as_u64().unwrap_or(0);
        let running = phase["running"].as_u64().unwrap_or(0);
        let done = (running * 100).checked_div(targeted).unwrap_or(0);
        let _ = write!(
            body,
            r#"<li class="card phase{reached}"><h3>Phase {n}: {percent}% of the fleet</h3>
<progress max="100" value="{done}" aria-label="Phase {n}: {done}% running">{done}%</progress>
<p>{targeted} devices: {running} running, {updating} updating, {failed} failed{reached_text}</p></li>"#,
            n = index + 1,
            percent = phase["percent"],
            updating = phase["updating"],
            failed = phase["failed"],
            reached = if phase["reached"] == true {
                " reached"
            } else {
                ""
            },
            reached_text = if phase["reached"] == true {
                ""
            } else {
                " (not reached yet)"
            },
        );
    }
    body.push_str("</ol>");
    html::page(&frame, &body).into_response()
}

async fn act(
    Extract(state): Extract<Arc<State>>,
    Path((id, action)): Path<(i64, String)>,
    SignedForm { signed, .. }: SignedForm,
) -> Response {
    match act_on(&state, &signed.caller, id, &action).await {
        Ok(_) => Redirect::to(&format!("/rollouts/{id}")).into_response(),
        Err(error) => super::api_error_page(&signed, error),
    }
}
