//! `POST /apps/APP/releases`: a tar upload (streamed to disk, unpacked with
//! every entry checked, refused whole on the first bad one) or
//! `{"commit": "SHA"}` to rebuild a commit pushed before. The answer
//! streams the build as NDJSON, the summary last.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State as Extract};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::apps::find_app;
use crate::release::{new_release_hash, SourceKind};
use crate::service::auth::Caller;
use crate::service::body;
use crate::service::error::ApiError;
use crate::service::state::State;
use crate::service::{queue, watch};
use crate::source::git;
use crate::source::unpack::UnpackLimits;

pub fn router() -> Router<Arc<State>> {
    Router::new().route("/apps/{app}/releases", post(create))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rebuild {
    commit: String,
}

async fn create(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(name): Path<String>,
    headers: HeaderMap,
    request: Body,
) -> Result<Response, ApiError> {
    let app = find_app(&state, &caller, &name).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let hash = new_release_hash(&app.name);
    let source_dir = state.paths.source(&hash);
    let release = match content_type.as_str() {
        "application/x-tar" | "application/gzip" | "application/x-gzip" => {
            if let Err(error) = receive_tar(&state, request, &hash).await {
                let _ = tokio::fs::remove_dir_all(&source_dir).await;
                state
                    .metrics
                    .uploads_refused
                    .fetch_add(1, Ordering::Relaxed);
                return Err(error);
            }
            state.metrics.uploads.fetch_add(1, Ordering::Relaxed);
            queue::enqueue(&state, &app, hash, SourceKind::Tar, None, None).await?
        }
        "application/json" => {
            let rebuild: Rebuild = body::json(request, state.config.limits.json_bytes).await?;
            let repo = state.paths.repo(&app.name);
            let dest = source_dir.clone();
            let spec = rebuild.commit.clone();
            let written =
                tokio::task::spawn_blocking(move || git::write_spec(&repo, None, &spec, &dest))
                    .await
                    .map_err(ApiError::internal)?;
            let oid = match written {
                Ok(oid) => oid,
                Err(error) => {
                    return Err(match error {
                        git::GitSourceError::NoCommit { .. } => ApiError::bad_request(
                            "unknown_commit",
                            format!(
                                "commit: `{}` is not in app `{}`'s repository",
                                crate::source::unpack::printable(&rebuild.commit),
                                app.name
                            ),
                        ),
                        other => ApiError::bad_request("bad_source", other.to_string()),
                    });
                }
            };
            queue::enqueue(
                &state,
                &app,
                hash,
                SourceKind::Git,
                Some(oid.to_string()),
                None,
            )
            .await?
        }
        other => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                "Content-Type `{}`: send application/x-tar, application/gzip or application/json",
                crate::source::unpack::printable(other)
            ),
            ))
        }
    };
    let body = watch::follow(state.clone(), release.id, watch::Ndjson);
    let mut response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (header::CACHE_CONTROL, "no-cache"),
            (
                axum::http::HeaderName::from_static("x-accel-buffering"),
                "no",
            ),
        ],
        body,
    )
        .into_response();
    response.headers_mut().insert(
        axum::http::HeaderName::from_static("x-slipway-release"),
        axum::http::HeaderValue::from(release.id),
    );
    Ok(response)
}

/// Streams the upload to a file (capped), then unpacks it into the
/// release's source directory. Nothing is queued unless all of it is sound.
async fn receive_tar(state: &State, request: Body, hash: &str) -> Result<(), ApiError> {
    let upload = state.paths.uploads.join(format!("{hash}.tar"));
    let limit = state.config.limits.upload_bytes;
    let written = async {
        let mut file = tokio::fs::File::create(&upload)
            .await
            .map_err(ApiError::internal)?;
        let mut stream = request.into_data_stream();
        let mut total: u64 = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                ApiError::bad_request("bad_body", format!("reading the upload: {e}"))
            })?;
            total += chunk.len() as u64;
            if total > limit {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("the upload is larger than {limit} bytes"),
                ));
            }
            file.write_all(&chunk).await.map_err(ApiError::internal)?;
        }
        file.flush().await.map_err(ApiError::internal)?;
        Ok(())
    }
    .await;
    if let Err(error) = written {
        let _ = tokio::fs::remove_file(&upload).await;
        return Err(error);
    }
    let dest = state.paths.source(hash);
    let file = upload.clone();
    let unpacked = tokio::task::spawn_blocking(move || {
        let input = std::fs::File::open(&file)?;
        Ok::<_, std::io::Error>(crate::source::tar::unpack(
            input,
            &dest,
            UnpackLimits::default(),
        ))
    })
    .await;
    let _ = tokio::fs::remove_file(&upload).await;
    match unpacked {
        Ok(Ok(Ok(_))) => Ok(()),
        Ok(Ok(Err(error))) => Err(ApiError::bad_request("unsafe_archive", error.to_string())),
        Ok(Err(error)) => Err(ApiError::internal(error)),
        Err(error) => Err(ApiError::internal(error)),
    }
}
