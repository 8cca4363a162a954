//! `/releases/ID`: summary, composition, every image (service and arch:
//! status, reference, digest, size, build time) with its build log; while it
//! builds, the log streams in as server-sent events
//! (`/releases/ID/events`), and it can be cancelled.

use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Path, State as Extract};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use super::html::{self, esc, Frame};
use super::session::{Signed, SignedForm};
use crate::release::ImageRecord;
use crate::service::api::releases::{cancel_release, find, running_counts};
use crate::service::hub::Update;
use crate::service::state::State;
use crate::service::watch;

pub fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/releases/{id}", get(show))
        .route("/releases/{id}/events", get(events))
        .route("/releases/{id}/cancel", post(cancel))
}

/// Whether a log line reports a failure (shown highlighted).
fn is_failure(line: &str) -> bool {
    line.contains("ERROR")
        || line.contains("error:")
        || line.starts_with("failed")
        || line.contains("] failed")
}

/// A log as lines, failures marked.
fn log_html(log: &str) -> String {
    let mut out = String::new();
    for line in log.lines() {
        if is_failure(line) {
            let _ = writeln!(out, r#"<mark class="fail">{}</mark>"#, esc(line));
        } else {
            let _ = writeln!(out, "{}", esc(line));
        }
    }
    out
}

fn image_section(image: &ImageRecord) -> String {
    let digest = image
        .registry_reference
        .as_deref()
        .and_then(|r| r.split_once('@').map(|(_, d)| d))
        .unwrap_or("–");
    format!(
        r#"<section class="card image" id="image-{service}-{arch}">
<h3>{service} <small>{arch}</small> {status}</h3>
<dl class="facts"><dt>Image</dt><dd><code>{reference}</code></dd><dt>Digest</dt><dd><code>{digest}</code></dd><dt>Size</dt><dd>{size}</dd><dt>Build time</dt><dd>{time}</dd><dt>Type</dt><dd>{kind}</dd></dl>
{error}<details{open}><summary>Build log</summary><pre class="log">{log}</pre></details>
</section>"#,
        service = esc(&image.service),
        arch = esc(&image.arch),
        status = html::build_badge(image.status.as_str()),
        reference = esc(image
            .registry_reference
            .as_deref()
            .unwrap_or(&image.reference)),
        digest = esc(digest),
        size = image
            .size_bytes
            .map(html::bytes)
            .unwrap_or_else(|| "–".into()),
        time = image
            .duration_ms
            .map(html::duration)
            .unwrap_or_else(|| "–".into()),
        kind = esc(image.project_type.as_deref().unwrap_or("–")),
        error = image
            .error
            .as_deref()
            .map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, esc(e)))
            .unwrap_or_default(),
        open = if image.status.as_str() == "failed" {
            " open"
        } else {
            ""
        },
        log = log_html(&image.log),
    )
}

async fn show(
    Extract(state): Extract<Arc<State>>,
    signed: Signed,
    Path(id): Path<i64>,
) -> Response {
    let release = match find(&state, &signed.caller, id).await {
        Ok(release) => release,
        Err(error) => return super::api_error_page(&signed, error),
    };
    let images = match state.store.call(move |s| s.images(id)).await {
        Ok(images) => images,
        Err(error) => return super::api_error_page(&signed, error.into()),
    };
    let title = format!("Release #{id}");
    let frame = Frame {
        title: &title,
        csrf: Some(&signed.csrf),
    };
    let open = release.status.is_open();
    let mut body = format!(
        r#"<section class="card"><dl class="facts">
<dt>App</dt><dd><a href="/apps/{app}">{app}</a></dd>
<dt>Status</dt><dd id="release-status">{status}</dd>
<dt>Commit</dt><dd><code>{commit}</code></dd>
<dt>Source</dt><dd>{source}</dd>
<dt>Device types</dt><dd>{types}</dd>
<dt>Started</dt><dd>{started}</dd>
<dt>Duration</dt><dd>{duration}</dd>
<dt>Devices running it</dt><dd>{devices}</dd>
</dl>{error}{cancel}</section>"#,
        app = esc(&release.app),
        status = html::build_badge(release.status.as_str()),
        commit = esc(release.commit.as_deref().unwrap_or("–")),
        source = super::releases::source_label(&release),
        types = esc(&release.device_types.join(", ")),
        started = html::time(release.started_at_ms),
        duration = release
            .duration_ms
            .map(html::duration)
            .unwrap_or_else(|| "–".into()),
        devices = running_counts(&state).get(&id).copied().unwrap_or(0),
        error = release
            .error
            .as_deref()
            .map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, esc(e)))
            .unwrap_or_default(),
        cancel = if open {
            format!(
                r#"<form method="post" action="/releases/{id}/cancel">{}<button type="submit" class="danger">Cancel build</button></form>"#,
                html::csrf_field(&signed.csrf)
            )
        } else {
            String::new()
        },
    );
    if open {
        let _ = write!(
            body,
            r#"<section class="card"><h2>Live build log</h2><pre class="log" id="live-log" data-events="/releases/{id}/events" aria-live="polite"></pre></section>"#
        );
    }
    let _ = write!(body, "<h2>Images</h2>");
    for image in &images {
        body.push_str(&image_section(image));
    }
    let _ = write!(
        body,
        r#"<details class="card"><summary>Composition</summary><pre>{}</pre></details>"#,
        esc(&release.composition)
    );
    html::page(&frame, &body).into_response()
}

/// Server-sent events: each build line as a `log` event (`fail`: a failed
/// step), `done` at the end.
struct Sse;

impl watch::Renderer for Sse {
    fn render(&mut self, update: &Update) -> Vec<String> {
        match update {
            Update::Event(event) => crate::service::render::line(event)
                .map(|line| {
                    let kind = if is_failure(&line) { "fail" } else { "log" };
                    let data: String = line.lines().map(|l| format!("data: {l}\n")).collect();
                    vec![format!("event: {kind}\n{data}\n")]
                })
                .unwrap_or_default(),
            Update::Done(done) => vec![format!("event: done\ndata: {}\n\n", done.0.status)],
        }
    }

    fn keepalive(&self) -> String {
        ": keepalive\n\n".into()
    }

    fn missed(&self, n: u64) -> String {
        format!("event: log\ndata: (missed {n} lines: reload for the whole log)\n\n")
    }
}

async fn events(
    Extract(state): Extract<Arc<State>>,
    signed: Signed,
    Path(id): Path<i64>,
) -> Response {
    if let Err(error) = find(&state, &signed.caller, id).await {
        return super::api_error_page(&signed, error);
    }
    let body = watch::follow(state.clone(), id, Sse);
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn cancel(
    Extract(state): Extract<Arc<State>>,
    Path(id): Path<i64>,
    SignedForm { signed, .. }: SignedForm,
) -> Response {
    match cancel_release(&state, &signed.caller, id).await {
        Ok(_) => Redirect::to(&format!("/releases/{id}")).into_response(),
        Err(error) => super::api_error_page(&signed, error),
    }
}
