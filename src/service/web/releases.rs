//! `/releases`: the release table with filters in the URL
//! (`?app=&status=&device_type=&since=&until=&q=`), saved views, paging by
//! cursor (one indexed query per page, whatever the number of releases).

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Path, Query, State as Extract};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use super::html::{self, esc, url_part, Frame};
use super::session::{Signed, SignedForm};
use crate::release::{Release, SourceKind, Status};
use crate::service::api::releases::{parse_filter, running_counts};
use crate::service::state::State;

/// Rows on one page.
const PAGE: u32 = 50;
/// The filters the page knows, in the order of the form.
const FILTERS: [&str; 6] = ["app", "status", "device_type", "since", "until", "q"];

pub fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/releases", get(list))
        .route("/views", post(save_view))
        .route("/views/{id}/delete", post(delete_view))
}

/// The page's filters (empty ones dropped) as the API's query: `q` searches
/// commits, a date (`2026-11-25`) covers its whole day.
fn api_query(page: &HashMap<String, String>) -> HashMap<String, String> {
    let mut query = HashMap::new();
    for key in FILTERS {
        let Some(value) = page.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) else {
            continue;
        };
        let value = match (key, value.len()) {
            ("since", 10) => format!("{value}T00:00:00Z"),
            ("until", 10) => format!("{value}T23:59:59Z"),
            _ => value.to_string(),
        };
        query.insert(if key == "q" { "commit" } else { key }.to_string(), value);
    }
    query
}

/// The current filters as a query string (without the cursor).
fn query_string(page: &HashMap<String, String>) -> String {
    FILTERS
        .iter()
        .filter_map(|key| {
            let value = page.get(*key)?.trim();
            (!value.is_empty()).then(|| format!("{key}={}", url_part(value)))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Where a release came from, as users say it.
pub fn source_label(release: &Release) -> &'static str {
    match (release.source, &release.source_url) {
        (SourceKind::Git, Some(_)) => "webhook",
        (SourceKind::Git, None) => "git push",
        (SourceKind::Tar, _) => "upload",
        (SourceKind::Local, _) => "local",
    }
}

async fn list(
    Extract(state): Extract<Arc<State>>,
    signed: Signed,
    Query(page): Query<HashMap<String, String>>,
) -> Response {
    let frame = Frame {
        title: "Releases",
        csrf: Some(&signed.csrf),
    };
    let mut body = String::new();
    body.push_str(&views_section(&state, &signed, &page).await);
    body.push_str(&filter_form(&state, &signed, &page));
    let mut query = api_query(&page);
    if let Some(cursor) = page.get("cursor").filter(|c| !c.is_empty()) {
        query.insert("cursor".into(), cursor.clone());
    }
    let mut filter = match parse_filter(&query) {
        Ok(filter) => filter,
        Err(error) => {
            let _ = write!(
                body,
                r#"<p class="error" role="alert">{}</p>"#,
                esc(&error.detail)
            );
            return (StatusCode::BAD_REQUEST, html::page(&frame, &body)).into_response();
        }
    };
    match (&signed.caller.scope, &filter.app) {
        (crate::access::Scope::App(own), None) => filter.app = Some(own.clone()),
        (_, Some(app)) if !signed.caller.scope.allows_app(app) => {
            return super::api_error_page(
                &signed,
                crate::service::error::ApiError::forbidden(format!(
                    "this token is not allowed to use app `{app}`"
                )),
            )
        }
        _ => {}
    }
    filter.limit = Some(PAGE + 1);
    let mut releases = match state.store.call(move |s| s.list(&filter)).await {
        Ok(releases) => releases,
        Err(error) => return super::api_error_page(&signed, error.into()),
    };
    let more = releases.len() > PAGE as usize;
    releases.truncate(PAGE as usize);
    let counts = running_counts(&state);
    body.push_str(&table(&releases, &counts));
    if more {
        if let Some(last) = releases.last() {
            let query = query_string(&page);
            let _ = write!(
                body,
                r#"<p class="pager"><a href="/releases?{query}{amp}cursor={}" rel="next">Older releases →</a></p>"#,
                last.id,
                amp = if query.is_empty() { "" } else { "&" },
            );
        }
    }
    html::page(&frame, &body).into_response()
}

fn table(releases: &[Release], counts: &HashMap<i64, u64>) -> String {
    if releases.is_empty() {
        return r#"<p class="empty">No releases match these filters.</p>"#.into();
    }
    let mut rows = String::new();
    for r in releases {
        let commit = r
            .commit
            .as_deref()
            .map(|c| &c[..c.len().min(7)])
            .unwrap_or("–");
        let duration = r
            .duration_ms
            .map(html::duration)
            .unwrap_or_else(|| "–".into());
        let _ = writeln!(
            rows,
            r#"<tr><td><a href="/releases/{id}">#{id}</a></td><td><code>{commit}</code></td><td><a href="/apps/{app}">{app}</a></td><td>{source}</td><td>{status}</td><td>{types}</td><td>{started}</td><td>{duration}</td><td class="num">{devices}</td></tr>"#,
            id = r.id,
            commit = esc(commit),
            app = esc(&r.app),
            source = source_label(r),
            status = html::build_badge(r.status.as_str()),
            types = esc(&r.device_types.join(", ")),
            started = html::time(r.started_at_ms),
            devices = counts.get(&r.id).copied().unwrap_or(0),
        );
    }
    format!(
        r#"<div class="scroll"><table id="releases">
<caption class="sr-only">Releases, newest first</caption>
<thead><tr><th scope="col">Release</th><th scope="col">Commit</th><th scope="col">App</th><th scope="col">Source</th><th scope="col">Status</th><th scope="col">Device types</th><th scope="col">Started</th><th scope="col">Duration</th><th scope="col">Devices</th></tr></thead>
<tbody>
{rows}</tbody></table></div>"#
    )
}

fn filter_form(state: &State, signed: &Signed, page: &HashMap<String, String>) -> String {
    let value = |key: &str| esc(page.get(key).map(|v| v.trim()).unwrap_or(""));
    let apps: Vec<String> = {
        let data = state.fleet.read();
        let mut names: Vec<String> = data
            .apps
            .keys()
            .filter(|name| signed.caller.scope.allows_app(name))
            .cloned()
            .collect();
        names.sort();
        names
    };
    let chosen = page.get("app").cloned().unwrap_or_default();
    let mut app_options = String::from(r#"<option value="">All apps</option>"#);
    for app in &apps {
        let _ = write!(
            app_options,
            r#"<option value="{a}"{sel}>{a}</option>"#,
            a = esc(app),
            sel = if *app == chosen { " selected" } else { "" }
        );
    }
    let status = page.get("status").cloned().unwrap_or_default();
    let mut status_options = String::from(r#"<option value="">Any status</option>"#);
    for s in Status::ALL {
        let _ = write!(
            status_options,
            r#"<option value="{s}"{sel}>{s}</option>"#,
            s = s.as_str(),
            sel = if s.as_str() == status {
                " selected"
            } else {
                ""
            }
        );
    }
    format!(
        r#"<form method="get" action="/releases" class="filters" role="search" aria-label="Filter releases">
<div><label for="f-app">App</label><select id="f-app" name="app">{app_options}</select></div>
<div><label for="f-status">Status</label><select id="f-status" name="status">{status_options}</select></div>
<div><label for="f-type">Device type</label><input id="f-type" name="device_type" value="{device_type}" placeholder="e.g. raspberrypi4-64"></div>
<div><label for="f-since">Since</label><input id="f-since" name="since" type="date" value="{since}"></div>
<div><label for="f-until">Until</label><input id="f-until" name="until" type="date" value="{until}"></div>
<div><label for="f-q">Commit</label><input id="f-q" name="q" value="{q}" placeholder="commit id or prefix"></div>
<div class="actions"><button type="submit">Filter</button> <a href="/releases">Clear</a></div>
</form>"#,
        device_type = value("device_type"),
        since = value("since"),
        until = value("until"),
        q = value("q"),
    )
}

async fn views_section(state: &State, signed: &Signed, page: &HashMap<String, String>) -> String {
    let views = state.store.call(|s| s.views()).await.unwrap_or_default();
    let mut list = String::new();
    for view in &views {
        let filter: HashMap<String, String> =
            serde_json::from_value(view.filter.clone()).unwrap_or_default();
        let _ = write!(
            list,
            r#"<li><a href="/releases?{query}">{name}</a>{delete}</li>"#,
            query = esc(&query_string(&filter)),
            name = esc(&view.name),
            delete = if signed.caller.scope.is_admin() {
                format!(
                    r#" <form method="post" action="/views/{id}/delete" class="inline">{csrf}<button type="submit" class="link" aria-label="Delete view {name}">delete</button></form>"#,
                    id = view.id,
                    csrf = html::csrf_field(&signed.csrf),
                    name = esc(&view.name)
                )
            } else {
                String::new()
            },
        );
    }
    let list = if list.is_empty() {
        r#"<p class="hint">No saved views yet.</p>"#.to_string()
    } else {
        format!(r#"<ul class="views" id="views">{list}</ul>"#)
    };
    let save = if signed.caller.scope.is_admin() {
        let hidden: String = FILTERS
            .iter()
            .filter_map(|key| {
                let value = page.get(*key)?.trim();
                (!value.is_empty()).then(|| {
                    format!(
                        r#"<input type="hidden" name="{key}" value="{}">"#,
                        esc(value)
                    )
                })
            })
            .collect();
        format!(
            r#"<form method="post" action="/views" class="save-view">{csrf}{hidden}<label for="view-name">Save these filters as</label> <input id="view-name" name="name" required maxlength="100"> <button type="submit">Save view</button></form>"#,
            csrf = html::csrf_field(&signed.csrf)
        )
    } else {
        String::new()
    };
    format!(
        r#"<section aria-label="Saved views" class="card"><h2>Saved views</h2>{list}{save}</section>"#
    )
}

async fn save_view(
    Extract(state): Extract<Arc<State>>,
    SignedForm { signed, form }: SignedForm,
) -> Response {
    if let Err(error) = signed.caller.check_admin() {
        return super::api_error_page(&signed, error);
    }
    let name = form
        .get("name")
        .map(|n| n.trim().to_string())
        .unwrap_or_default();
    if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
        return super::api_error_page(
            &signed,
            crate::service::error::ApiError::bad_request(
                "invalid_view",
                "name: use 1 to 100 printable characters",
            ),
        );
    }
    let filter: HashMap<String, String> = FILTERS
        .iter()
        .filter_map(|key| {
            let value = form.get(*key)?.trim();
            (!value.is_empty()).then(|| (key.to_string(), value.to_string()))
        })
        .collect();
    // Saved only when it works as a filter.
    if let Err(error) = parse_filter(&api_query(&filter)) {
        return super::api_error_page(&signed, error);
    }
    let query = query_string(&filter);
    let filter = json!(filter);
    match state.store.call(move |s| s.save_view(&name, &filter)).await {
        Ok(_) => Redirect::to(&format!("/releases?{query}")).into_response(),
        Err(error) => super::api_error_page(&signed, error.into()),
    }
}

async fn delete_view(
    Extract(state): Extract<Arc<State>>,
    Path(id): Path<i64>,
    SignedForm { signed, .. }: SignedForm,
) -> Response {
    if let Err(error) = signed.caller.check_admin() {
        return super::api_error_page(&signed, error);
    }
    match state.store.call(move |s| s.delete_view(id)).await {
        Ok(_) => Redirect::to("/releases").into_response(),
        Err(error) => super::api_error_page(&signed, error.into()),
    }
}
