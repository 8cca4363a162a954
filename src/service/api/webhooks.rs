//! `POST /apps/APP/webhooks/github`: a linked repository's push. The
//! signature (`X-Hub-Signature-256`, HMAC-SHA256 of the body with the app's
//! secret) is the authentication. It answers at once; the commit is fetched
//! and built by the queue.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State as Extract};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use crate::release::{new_release_hash, SourceKind};
use crate::service::body;
use crate::service::error::ApiError;
use crate::service::queue;
use crate::service::state::State;

pub fn router() -> Router<Arc<State>> {
    Router::new().route("/apps/{app}/webhooks/github", post(github))
}

#[derive(Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    after: Option<String>,
    repository: Option<Repository>,
    #[serde(default)]
    deleted: bool,
}

#[derive(Deserialize)]
struct Repository {
    clone_url: Option<String>,
    default_branch: Option<String>,
}

/// Whether `signature` (`sha256=<hex>`) signs `body` with `secret`.
pub fn signature_matches(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(hex_digest) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_digest.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    // verify_slice compares in constant time.
    mac.verify_slice(&expected).is_ok()
}

async fn github(
    Extract(state): Extract<Arc<State>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    request: Body,
) -> Result<impl IntoResponse, ApiError> {
    if crate::app::check_name(&name).is_err() {
        return Err(ApiError::unauthorized());
    }
    let lookup = name.clone();
    let (app, secret) = state
        .store
        .call(move |s| Ok((s.app(&lookup)?, s.webhook_secret(&lookup)?)))
        .await?;
    // An unknown app and a bad signature look the same from outside.
    let Some(app) = app else {
        return Err(ApiError::unauthorized());
    };
    let Some(secret) = secret else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "no_webhook_secret",
            format!(
                "app `{name}` has no webhook secret: set one with PUT /api/v1/apps/{name}/webhook"
            ),
        ));
    };
    let payload = body::read_capped(request, state.config.limits.webhook_bytes).await?;
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !signature_matches(secret.as_bytes(), &payload, signature) {
        return Err(ApiError::unauthorized());
    }
    let event = headers
        .get("x-github-event")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("push");
    if event == "ping" {
        return Ok((StatusCode::OK, Json(json!({ "pong": true }))));
    }
    let push: Push = serde_json::from_slice(&payload).map_err(|e| {
        ApiError::bad_request("bad_payload", format!("not a GitHub push payload: {e}"))
    })?;
    let git_ref = push.git_ref.unwrap_or_default();
    let repository = push
        .repository
        .ok_or_else(|| ApiError::bad_request("bad_payload", "repository: missing"))?;
    let url = repository
        .clone_url
        .ok_or_else(|| ApiError::bad_request("bad_payload", "repository.clone_url: missing"))?;
    let commit = push
        .after
        .filter(|c| c.len() == 40 && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| {
            ApiError::bad_request("bad_payload", "after: expected a 40-digit commit id")
        })?;
    let deployed = ["main".to_string(), "master".to_string()]
        .into_iter()
        .chain(repository.default_branch)
        .any(|branch| git_ref == format!("refs/heads/{branch}"));
    if push.deleted || !deployed {
        return Ok((
            StatusCode::ACCEPTED,
            Json(
                json!({ "release": null, "ignored": format!("{} is not a deployed branch (main, master or the default branch)", crate::source::unpack::printable(&git_ref)) }),
            ),
        ));
    }
    if url.len() > 2048
        || !(url.starts_with("https://")
            || url.starts_with("http://")
            || url.starts_with("git://")
            || url.starts_with('/')
            || url.starts_with("file://"))
    {
        return Err(ApiError::bad_request(
            "bad_payload",
            "repository.clone_url: expected an http(s), git or file URL",
        ));
    }
    let hash = new_release_hash(&app.name);
    let release = queue::enqueue(
        &state,
        &app,
        hash,
        SourceKind::Git,
        Some(commit.to_ascii_lowercase()),
        Some(url),
    )
    .await?;
    state.metrics.webhooks.fetch_add(1, Ordering::Relaxed);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "release": release.id, "status": release.status })),
    ))
}

#[cfg(test)]
mod tests {
    use super::signature_matches;

    #[test]
    fn signatures() {
        // HMAC-SHA256("It's a Secret to Everybody", "Hello, World!"), GitHub's documented example.
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(signature_matches(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            good
        ));
        assert!(!signature_matches(
            b"It's a Secret to Everybody",
            b"Hello, World?",
            good
        ));
        assert!(!signature_matches(b"other", b"Hello, World!", good));
        assert!(!signature_matches(b"x", b"y", "sha1=00"));
        assert!(!signature_matches(b"x", b"y", ""));
    }
}
