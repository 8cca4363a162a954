//! BuildKit builds through the engine's API: `POST /build?version=2` with
//! the tar context as the body. The answer is newline-delimited JSON:
//! progress as `moby.buildkit.trace` (see [`trace`]), the image as
//! `moby.image.id`, a failure as `errorDetail`.

pub mod session;
pub mod trace;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::builder::{ContextChunks, EngineBuild};
use super::engine::Engine;
use super::engine_api::{self, encode};
use super::error::ImageError;
use super::output::Output;

/// One JSON line of the engine's answer is at most this long.
const MAX_LINE: usize = 8 << 20;

#[derive(Deserialize)]
struct Message {
    id: Option<String>,
    aux: Option<serde_json::Value>,
    stream: Option<String>,
    #[serde(rename = "errorDetail")]
    error_detail: Option<ErrorDetail>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: Option<String>,
}

pub(crate) async fn build(
    engine: &Engine,
    request: &EngineBuild<'_>,
    chunks: ContextChunks,
    out: &mut Output<'_>,
    cancel: &CancellationToken,
) -> Result<String, ImageError> {
    let body = super::builder::chunk_stream(chunks);
    let json = |map: &std::collections::BTreeMap<String, String>| {
        encode(&serde_json::to_string(map).unwrap_or_else(|_| "{}".into()))
    };
    let mut query = format!(
        "/build?version=2&rm=1&forcerm=1&dockerfile={}&platform={}&buildargs={}&labels={}",
        encode(request.dockerfile),
        encode(request.platform),
        json(request.build_args),
        json(request.labels),
    );
    if request.no_cache {
        query.push_str("&nocache=1");
    }
    if request.pull {
        query.push_str("&pull=1");
    }
    if let Some(target) = request.target {
        query.push_str(&format!("&target={}", encode(target)));
    }
    if let Some(session) = request.session {
        query.push_str(&format!("&session={}", encode(session)));
    }
    let headers = [("Content-Type", "application/x-tar".to_string())];
    let send = engine_api::request(
        &engine.endpoint,
        http::Method::POST,
        &query,
        &headers,
        engine_api::streamed_body(body),
    );
    let response = tokio::select! {
        _ = cancel.cancelled() => return Err(ImageError::Cancelled),
        response = send => response?,
    };
    let mut body = response.into_body();
    let mut pending = BytesMut::new();
    let mut progress = trace::Trace::default();
    let mut image_id = None;
    let mut failure = None;
    'read: loop {
        // Dropping the response on cancel closes the connection, which
        // cancels the solve in the engine: BuildKit runs no containers the
        // engine would have to clean up.
        let frame = tokio::select! {
            _ = cancel.cancelled() => return Err(ImageError::Cancelled),
            frame = body.frame() => frame,
        };
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|source| engine_api::ApiError::Http {
            endpoint: engine.endpoint.clone(),
            source,
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Bytes = pending.split_to(end + 1).freeze();
            if let Some(error) = handle(&line, &mut progress, &mut image_id, out).await {
                failure = Some(error);
                break 'read;
            }
        }
        if pending.len() > MAX_LINE {
            return Err(ImageError::Engine {
                endpoint: engine.endpoint.clone(),
                message: format!("an answer line longer than {MAX_LINE} bytes"),
            });
        }
    }
    if failure.is_none() && !pending.is_empty() {
        let line = pending.split().freeze();
        failure = handle(&line, &mut progress, &mut image_id, out).await;
    }
    if let Some(message) = failure {
        let step = match &progress.failed {
            Some((name, _)) => name.trim_start_matches('[').replacen("] ", " ", 1),
            None => out.step_text().unwrap_or_else(|| "?".into()),
        };
        return Err(ImageError::Step {
            step,
            message,
            hint: String::new(),
        });
    }
    image_id.ok_or_else(|| ImageError::Engine {
        endpoint: engine.endpoint.clone(),
        message: "the build ended without naming the image it built".into(),
    })
}

/// Handles one JSON line; returns the build's error if the line is one.
async fn handle(
    line: &[u8],
    progress: &mut trace::Trace,
    image_id: &mut Option<String>,
    out: &mut Output<'_>,
) -> Option<String> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let message: Message = match serde_json::from_slice(line) {
        Ok(message) => message,
        Err(e) => {
            tracing::debug!("unreadable build output line: {e}");
            return None;
        }
    };
    if let Some(error) = message
        .error_detail
        .and_then(|detail| detail.message)
        .or(message.error)
    {
        return Some(error);
    }
    match (message.id.as_deref(), message.aux) {
        (Some("moby.buildkit.trace"), Some(serde_json::Value::String(aux))) => {
            if let Some(status) = trace::decode(&aux) {
                for line in progress.update(status) {
                    let opens = line
                        .starts_step
                        .then(|| line.text.split_once("] ").map(|(_, i)| i.to_string()))
                        .flatten();
                    out.line(&line.text, line.step.as_deref(), opens.as_deref())
                        .await;
                }
            }
        }
        (Some("moby.image.id"), Some(aux)) => {
            if let Some(id) = aux.get("ID").and_then(|id| id.as_str()) {
                *image_id = Some(id.to_string());
            }
        }
        _ => {
            if let Some(text) = message.stream {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    out.line(line, None, None).await;
                }
            }
        }
    }
    None
}
