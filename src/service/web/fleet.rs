//! `/apps` and `/apps/APP`: a fleet's target, its devices (name, type, tags,
//! online or not, what they run or why they failed, pin and unpin), a tag
//! filter, and its rollouts.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Path, Query, State as Extract};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;

use super::html::{self, esc, url_part, Frame};
use super::session::{Signed, SignedForm};
use crate::service::api::apps::find_app;
use crate::service::api::devices::{set_pin, view};
use crate::service::error::ApiError;
use crate::service::state::State;

pub fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/apps", get(apps))
        .route("/apps/{app}", get(show))
        .route("/apps/{app}/devices/{uuid}/pin", post(pin))
}

async fn apps(Extract(state): Extract<Arc<State>>, signed: Signed) -> Response {
    let mut rows = String::new();
    {
        let data = state.fleet.read();
        let mut names: Vec<&String> = data
            .apps
            .keys()
            .filter(|a| signed.caller.scope.allows_app(a))
            .collect();
        names.sort();
        for name in names {
            let devices = data.devices.values().filter(|d| &d.app == name).count();
            let _ = write!(
                rows,
                r#"<li><a href="/apps/{n}">{n}</a> <span class="hint">{devices} devices</span></li>"#,
                n = esc(name)
            );
        }
    }
    let frame = Frame {
        title: "Fleets",
        csrf: Some(&signed.csrf),
    };
    let body = if rows.is_empty() {
        r#"<p class="empty">No apps yet.</p>"#.to_string()
    } else {
        format!(r#"<ul class="card">{rows}</ul>"#)
    };
    html::page(&frame, &body).into_response()
}

/// What a device shows as its state: offline, updating with progress,
/// running a release, failed with the reason.
fn device_state(device: &Value) -> String {
    let online = if device["online"] == true {
        html::status_badge("online")
    } else {
        html::status_badge("offline")
    };
    let release = device["release_id"]
        .as_i64()
        .map(|r| format!(r##" <a href="/releases/{r}">#{r}</a>"##))
        .unwrap_or_default();
    let update = match device["update_status"].as_str() {
        Some("failed") => format!(
            r#"{} {release}<br><small class="error">{}</small>"#,
            html::status_badge("failed"),
            esc(device["error"].as_str().unwrap_or(""))
        ),
        Some("running") => format!("{} {release}", html::status_badge("running")),
        Some(other) => {
            let progress = device["progress"]
                .as_u64()
                .map(|p| format!(r#" <progress max="100" value="{p}" aria-label="Update progress">{p}%</progress>"#))
                .unwrap_or_default();
            format!("{} {release}{progress}", html::status_badge(other))
        }
        None => r#"<span class="hint">no report yet</span>"#.to_string(),
    };
    format!("{online} {update}")
}

async fn show(
    Extract(state): Extract<Arc<State>>,
    signed: Signed,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let app = match find_app(&state, &signed.caller, &name).await {
        Ok(app) => app,
        Err(error) => return super::api_error_page(&signed, error),
    };
    let tag = query.get("tag").map(|t| t.trim()).filter(|t| !t.is_empty());
    let wanted = tag.and_then(|t| t.split_once(':'));
    let (target, devices, rollouts) = {
        let data = state.fleet.read();
        let fleet = data.apps.get(&app.name);
        let target = match (
            fleet.and_then(|f| f.target),
            fleet.is_none_or(|f| f.track_latest),
        ) {
            (Some(r), true) => format!(r##"tracks latest (now <a href="/releases/{r}">#{r}</a>)"##),
            (None, true) => "tracks latest (no successful release yet)".to_string(),
            (Some(r), false) => format!(r##"<a href="/releases/{r}">#{r}</a> (fixed)"##),
            (None, false) => "none".to_string(),
        };
        let mut devices: Vec<Value> = data
            .devices
            .values()
            .filter(|d| d.app == app.name)
            .filter(|d| wanted.is_none_or(|(k, v)| d.tags.get(k).is_some_and(|t| t == v)))
            .map(|d| view(&data, d))
            .collect();
        devices.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        let rollouts: Vec<(i64, i64, String)> = data
            .rollouts
            .get(&app.name)
            .into_iter()
            .flatten()
            .rev()
            .map(|r| (r.id, r.release_id, r.state.as_str().to_string()))
            .collect();
        (target, devices, rollouts)
    };
    let title = format!("Fleet {}", app.name);
    let frame = Frame {
        title: &title,
        csrf: Some(&signed.csrf),
    };
    let mut body = format!(
        r#"<section class="card"><dl class="facts"><dt>Target</dt><dd id="target">{target}</dd><dt>Device types</dt><dd>{types}</dd></dl></section>
<form method="get" action="/apps/{app}" class="filters" role="search" aria-label="Filter devices"><div><label for="f-tag">Tag</label><input id="f-tag" name="tag" value="{tag}" placeholder="key:value"></div><div class="actions"><button type="submit">Filter</button> <a href="/apps/{app}">Clear</a></div></form>"#,
        types = esc(&app.device_types.join(", ")),
        app = esc(&app.name),
        tag = esc(tag.unwrap_or("")),
    );
    let mut rows = String::new();
    for device in &devices {
        let uuid = device["uuid"].as_str().unwrap_or("");
        let tags = device["tags"]
            .as_object()
            .map(|tags| {
                tags.iter()
                    .map(|(k, v)| {
                        let pair = format!("{k}:{}", v.as_str().unwrap_or(""));
                        format!(
                            r#"<a class="tag" href="/apps/{app}?tag={q}">{t}</a>"#,
                            app = esc(&app.name),
                            q = url_part(&pair),
                            t = esc(&pair)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let pin = match device["pin_release"].as_i64() {
            Some(pinned) => format!(
                r##"pinned to <a href="/releases/{pinned}">#{pinned}</a> <form method="post" action="/apps/{app}/devices/{uuid}/pin" class="inline">{csrf}<input type="hidden" name="release_id" value=""><button type="submit" class="link">Unpin</button></form>"##,
                app = esc(&app.name),
                uuid = esc(uuid),
                csrf = html::csrf_field(&signed.csrf),
            ),
            None => format!(
                r#"<form method="post" action="/apps/{app}/devices/{uuid}/pin" class="inline pin">{csrf}<label class="sr-only" for="pin-{uuid}">Release to pin {name} to</label><input id="pin-{uuid}" name="release_id" inputmode="numeric" pattern="[0-9]+" size="5" placeholder="release" required> <button type="submit">Pin</button></form>"#,
                app = esc(&app.name),
                uuid = esc(uuid),
                name = esc(device["name"].as_str().unwrap_or("")),
                csrf = html::csrf_field(&signed.csrf),
            ),
        };
        let _ = writeln!(
            rows,
            r#"<tr id="device-{uuid}"><td>{name}</td><td>{kind}</td><td>{tags}</td><td>{state}</td><td>{pin}</td></tr>"#,
            uuid = esc(uuid),
            name = esc(device["name"].as_str().unwrap_or("")),
            kind = esc(device["device_type"].as_str().unwrap_or("")),
            state = device_state(device),
        );
    }
    if devices.is_empty() {
        body.push_str(r#"<p class="empty">No devices here.</p>"#);
    } else {
        let _ = write!(
            body,
            r#"<h2>Devices</h2><div class="scroll"><table id="devices"><thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Tags</th><th scope="col">State</th><th scope="col">Pin</th></tr></thead><tbody>{rows}</tbody></table></div>"#
        );
    }
    body.push_str("<h2>Rollouts</h2>");
    if rollouts.is_empty() {
        body.push_str(r#"<p class="empty">No rollouts.</p>"#);
    } else {
        body.push_str(r#"<ul class="card" id="rollouts">"#);
        for (id, release, state) in rollouts {
            let _ = write!(
                body,
                r#"<li><a href="/rollouts/{id}">Rollout {id}</a> of release #{release} {}</li>"#,
                html::status_badge(&state)
            );
        }
        body.push_str("</ul>");
    }
    html::page(&frame, &body).into_response()
}

async fn pin(
    Extract(state): Extract<Arc<State>>,
    Path((app, uuid)): Path<(String, String)>,
    SignedForm { signed, form }: SignedForm,
) -> Response {
    let release = match form.get("release_id").map(|r| r.trim()).unwrap_or("") {
        "" => None,
        text => match text.trim_start_matches('#').parse::<i64>() {
            Ok(release) => Some(release),
            Err(_) => {
                return super::api_error_page(
                    &signed,
                    ApiError::bad_request("invalid_release", "release: give a release number"),
                )
            }
        },
    };
    match set_pin(&state, &signed.caller, &uuid, release).await {
        Ok(device) => Redirect::to(&format!("/apps/{}", url_part(&device.app))).into_response(),
        Err(error) => {
            tracing::debug!(app, "pin refused");
            super::api_error_page(&signed, error)
        }
    }
}
