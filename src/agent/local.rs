//! Local mode (`slipway agent --local --listen ADDR`): no server; the
//! agent's target comes from its own local API, where `slipway push --local`
//! posts the release it just built on the device's engine.
//!
//! - `POST /v1/target`: a target state (as the device API serves it); the
//!   agent applies it like any target (download-then-kill, settle, rollback);
//! - `GET /v1/status`: the target posted last and the agent's last report.
//!
//! Every call needs the local token (`Authorization: Bearer`); only its
//! SHA-256 is kept, compared in constant time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::ports::{FetchError, Fetched, Upstream};
use super::target::TargetState;

/// The largest target state accepted.
const MAX_TARGET_BYTES: usize = 1 << 20;
/// The most services one target may have.
const MAX_SERVICES: usize = 64;

/// The device in local mode calls itself this (its containers' label).
pub const LOCAL_DEVICE: &str = "local";

#[derive(Debug, Clone)]
struct Posted {
    body: Value,
    etag: String,
}

#[derive(Debug)]
struct Shared {
    target: tokio::sync::watch::Sender<Option<Posted>>,
    report: tokio::sync::watch::Sender<Option<Value>>,
    posted: AtomicU64,
}

/// Targets set locally (by the local API, or directly in tests) as the
/// agent's upstream; reports kept for `GET /v1/status`.
#[derive(Debug, Clone)]
pub struct LocalUpstream {
    shared: Arc<Shared>,
}

impl Default for LocalUpstream {
    fn default() -> Self {
        LocalUpstream {
            shared: Arc::new(Shared {
                target: tokio::sync::watch::Sender::new(None),
                report: tokio::sync::watch::Sender::new(None),
                posted: AtomicU64::new(0),
            }),
        }
    }
}

impl LocalUpstream {
    /// Makes `target` the device's target.
    pub fn set_target(&self, target: &TargetState) {
        let n = self.shared.posted.fetch_add(1, Ordering::Relaxed) + 1;
        let mut body = serde_json::to_value(target).unwrap_or(Value::Null);
        body["device"] = json!({"uuid": LOCAL_DEVICE});
        self.shared.target.send_replace(Some(Posted {
            body,
            etag: format!("\"local-{n}\""),
        }));
    }

    /// The report the agent sent last.
    pub fn last_report(&self) -> Option<Value> {
        self.shared.report.borrow().clone()
    }

    fn target_release(&self) -> Option<i64> {
        self.shared
            .target
            .borrow()
            .as_ref()
            .and_then(|p| p.body["release_id"].as_i64())
    }
}

impl Upstream for LocalUpstream {
    async fn fetch(&self, etag: Option<&str>, wait: u64) -> Result<Option<Fetched>, FetchError> {
        let mut watched = self.shared.target.subscribe();
        let deadline = tokio::time::sleep(Duration::from_secs(wait));
        tokio::pin!(deadline);
        loop {
            if let Some(posted) = watched.borrow_and_update().as_ref() {
                if Some(posted.etag.as_str()) != etag {
                    return Ok(Some((posted.body.clone(), Some(posted.etag.clone()))));
                }
            }
            tokio::select! {
                changed = watched.changed() => {
                    if changed.is_err() {
                        return Ok(None);
                    }
                }
                _ = &mut deadline => return Ok(None),
            }
        }
    }

    async fn report(&self, body: &Value) -> Result<(), String> {
        self.shared.report.send_replace(Some(body.clone()));
        Ok(())
    }
}

#[derive(Clone)]
struct Api {
    upstream: LocalUpstream,
    token_hash: Arc<[u8; 32]>,
}

/// The local API over `upstream`, open to holders of `token`.
pub fn router(upstream: LocalUpstream, token: &str) -> Router {
    use sha2::Digest;
    let token_hash = Arc::new(sha2::Sha256::digest(token.as_bytes()).into());
    Router::new()
        .route("/v1/target", post(post_target))
        .route("/v1/status", get(status))
        .layer(DefaultBodyLimit::max(MAX_TARGET_BYTES))
        .with_state(Api {
            upstream,
            token_hash,
        })
}

/// A name fit for a container name and a lock directory: no separators.
fn is_service_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 63
        && bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

fn problem(status: StatusCode, code: &'static str, detail: String) -> Response {
    let mut response = (
        status,
        Json(json!({"status": status.as_u16(), "code": code, "detail": detail})),
    )
        .into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/problem+json"),
    );
    response
}

/// Whether the request carries the local token.
fn authorized(api: &Api, headers: &HeaderMap) -> bool {
    use sha2::Digest;
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let hash: [u8; 32] = sha2::Sha256::digest(given.as_bytes()).into();
    crate::access::same_secret(&hash, api.token_hash.as_slice())
}

fn unauthorized() -> Response {
    problem(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "a valid local token is needed (Authorization: Bearer TOKEN)".into(),
    )
}

async fn post_target(
    State(api): State<Api>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !authorized(&api, &headers) {
        return unauthorized();
    }
    let target: TargetState = match serde_json::from_slice(&body) {
        Ok(target) => target,
        Err(error) => {
            return problem(
                StatusCode::BAD_REQUEST,
                "invalid_target",
                format!("the target state is not valid: {error}"),
            )
        }
    };
    let Some(release) = target.release_id else {
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            "the target state has no release_id".into(),
        );
    };
    if target.services.is_empty() || target.services.len() > MAX_SERVICES {
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            format!(
                "the target state has {} services (1 to {MAX_SERVICES} allowed)",
                target.services.len()
            ),
        );
    }
    if let Some(name) = target.services.keys().find(|name| !is_service_name(name)) {
        return problem(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            format!("service name `{}` is not allowed", name.escape_default()),
        );
    }
    tracing::info!(release, "local target received");
    api.upstream.set_target(&target);
    (StatusCode::ACCEPTED, Json(json!({"release_id": release}))).into_response()
}

async fn status(State(api): State<Api>, headers: HeaderMap) -> Response {
    if !authorized(&api, &headers) {
        return unauthorized();
    }
    Json(json!({
        "target_release": api.upstream.target_release(),
        "report": api.upstream.last_report(),
    }))
    .into_response()
}
