//! Runs `git http-backend` as a CGI for one request: the request body goes
//! to its stdin as it arrives (capped), its stdout comes back as it is
//! written, so `remote:` lines reach the client live.

use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State as Extract};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;

use crate::service::auth::{authenticate, presented_token};
use crate::service::error::ApiError;
use crate::service::state::State;

/// The CGI header block's largest size.
const MAX_CGI_HEADERS: usize = 16 * 1024;

/// 401 with a Basic challenge: git only sends the URL's credentials when asked.
fn challenge() -> Response {
    let mut response = ApiError::unauthorized().into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"slipway\""),
    );
    response
}

pub async fn serve(
    Extract(state): Extract<Arc<State>>,
    Path(repo): Path<String>,
    request: Request,
) -> Response {
    match run(state, repo, request).await {
        Ok(response) => response,
        Err(response) => response,
    }
}

async fn run(state: Arc<State>, repo: String, request: Request) -> Result<Response, Response> {
    let (parts, body) = request.into_parts();
    let app = repo.strip_suffix(".git").unwrap_or(&repo).to_string();
    let Some(token) = presented_token(&parts) else {
        return Err(challenge());
    };
    let scope = authenticate(&state, &token)
        .await
        .map_err(|_| challenge())?;
    if !scope.allows_app(&app) {
        return Err(ApiError::forbidden(format!(
            "this token is not allowed to use app `{}`",
            crate::source::unpack::printable(&app)
        ))
        .into_response());
    }
    if crate::app::check_name(&app).is_err() || !state.paths.repo(&app).is_dir() {
        return Err(ApiError::not_found(format!(
            "no app `{}`",
            crate::source::unpack::printable(&app)
        ))
        .into_response());
    }
    let path = parts.uri.path();
    let service = path.rsplit('/').next().unwrap_or("");
    // Two pushes to one app never interleave, whichever replica takes
    // them: the second waits here until the first is answered.
    let mut push_lock = None;
    if service == "git-receive-pack" {
        state.metrics.git_pushes.fetch_add(1, Ordering::Relaxed);
        let lock = state.paths.repo_lock(&app);
        let taken = tokio::task::spawn_blocking(move || lock_file(&lock)).await;
        match taken {
            Ok(Ok(file)) => push_lock = Some(file),
            Ok(Err(e)) => {
                return Err(
                    ApiError::internal(format!("locking the app's repository: {e}"))
                        .into_response(),
                )
            }
            Err(e) => return Err(ApiError::internal(e).into_response()),
        }
    }
    let header_text = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let mut command = tokio::process::Command::new("git");
    command
        .arg("http-backend")
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
        )
        .env("GIT_PROJECT_ROOT", &state.paths.repos)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("PATH_INFO", path)
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header_text(header::CONTENT_TYPE))
        .env(
            "HTTP_CONTENT_ENCODING",
            header_text(header::CONTENT_ENCODING),
        )
        .env(
            "HTTP_GIT_PROTOCOL",
            header_text(header::HeaderName::from_static("git-protocol")),
        )
        .env("REMOTE_USER", "slipway")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("SLIPWAY_BIN", &state.config.hook_binary)
        .env("SLIPWAY_HOOK_URL", &state.hook_url)
        .env("SLIPWAY_HOOK_SECRET", &state.hook_secret)
        .env("SLIPWAY_APP", &app)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(length) = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
    {
        command.env("CONTENT_LENGTH", length);
    }
    let mut child = command.spawn().map_err(|e| {
        ApiError::internal(format!("starting git http-backend: {e}")).into_response()
    })?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    let mut stderr = child.stderr.take().expect("piped");
    let limit = state.config.limits.pack_bytes;
    // The request body, fed as it arrives; past the cap git sees it end.
    tokio::spawn(async move {
        let mut stream = body.into_data_stream();
        let mut total = 0u64;
        while let Some(Ok(chunk)) = stream.next().await {
            total += chunk.len() as u64;
            if total > limit {
                tracing::warn!(limit, "git request body over the cap: cut off");
                break;
            }
            if stdin.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let mut text = String::new();
        let _ = (&mut stderr)
            .take(64 * 1024)
            .read_to_string(&mut text)
            .await;
        if !text.trim().is_empty() {
            tracing::warn!(stderr = %text.trim(), "git http-backend");
        }
        let _ = child.wait().await;
    });

    // The CGI headers, then the body as it comes.
    let mut head = Vec::new();
    let mut buffer = [0u8; 4096];
    let body_start = loop {
        let read = stdout.read(&mut buffer).await.map_err(|e| {
            ApiError::internal(format!("reading git http-backend: {e}")).into_response()
        })?;
        if read == 0 {
            return Err(
                ApiError::internal("git http-backend ended without an answer").into_response(),
            );
        }
        head.extend_from_slice(&buffer[..read]);
        if let Some(end) = find_blank_line(&head) {
            break end;
        }
        if head.len() > MAX_CGI_HEADERS {
            return Err(
                ApiError::internal("git http-backend sent oversized headers").into_response(),
            );
        }
    };
    let (header_end, rest_start) = body_start;
    let mut response = Response::builder().status(StatusCode::OK);
    for line in String::from_utf8_lossy(&head[..header_end]).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value
                .split(' ')
                .next()
                .and_then(|c| c.parse::<u16>().ok())
                .unwrap_or(500);
            response = response.status(code);
        } else {
            response = response.header(name.trim(), value);
        }
    }
    response = response.header("x-accel-buffering", "no");
    let first = bytes::Bytes::copy_from_slice(&head[rest_start..]);
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(first) })
        .chain(ReaderStream::new(stdout))
        // The push lock is held until git's answer is sent in full.
        .map(move |chunk| {
            let _held = &push_lock;
            chunk
        });
    response
        .body(Body::from_stream(stream))
        .map_err(|e| ApiError::internal(e).into_response())
}

/// Takes the exclusive lock on `path` (waiting for it), created if needed.
fn lock_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    file.lock()?;
    Ok(file)
}

/// Where the CGI header block ends: (end of headers, start of body).
fn find_blank_line(data: &[u8]) -> Option<(usize, usize)> {
    if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
        return Some((at, at + 4));
    }
    data.windows(2)
        .position(|w| w == b"\n\n")
        .map(|at| (at, at + 2))
}
