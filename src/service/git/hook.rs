//! The pre-receive step. git runs the app repository's hook, which runs
//! `slipway git-hook pre-receive`, which posts the ref updates here and
//! prints what comes back (git shows it as `remote:` lines). The pushed
//! commit is read from the push's quarantine with git2, written out as the
//! release's source, and queued; the answer follows the build to its end.
//! A failed build answers `exit 1`: git rejects the push, the ref stays.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State as Extract;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::access::same_secret;
use crate::release::{new_release_hash, SourceKind, Status};
use crate::service::body;
use crate::service::error::ApiError;
use crate::service::hub::Update;
use crate::service::state::State;
use crate::service::watch::{self, Renderer};
use crate::service::{queue, render};
use crate::source::git;

/// Branches that deploy.
const DEPLOY_BRANCHES: [&str; 2] = ["refs/heads/master", "refs/heads/main"];
const ZERO: &str = "0000000000000000000000000000000000000000";

#[derive(Debug, Serialize, Deserialize)]
pub struct HookRequest {
    pub app: String,
    pub updates: Vec<RefUpdate>,
    /// `GIT_OBJECT_DIRECTORY` of the hook: the push's quarantine.
    pub object_dir: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RefUpdate {
    pub old: String,
    pub new: String,
    #[serde(rename = "ref")]
    pub name: String,
}

/// One line of the answer: text to print, or how the hook should exit.
#[derive(Debug, Serialize, Deserialize)]
pub struct HookLine {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
}

fn say(text: &str) -> String {
    format!("{}\n", json!({ "line": text }))
}

fn finish(code: i32, text: &str) -> Response {
    let body = format!("{}{}\n", say(text), json!({ "exit": code }));
    ([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response()
}

pub async fn pre_receive(
    Extract(state): Extract<Arc<State>>,
    headers: HeaderMap,
    request: Body,
) -> Result<Response, ApiError> {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !same_secret(presented.as_bytes(), state.hook_secret.as_bytes()) {
        return Err(ApiError::unauthorized());
    }
    let hook: HookRequest = body::json(request, 1 << 20).await?;
    let app = state
        .store
        .call({
            let name = hook.app.clone();
            move |s| s.app(&name)
        })
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no app `{}`", hook.app)))?;

    let mut deploy = None;
    for update in &hook.updates {
        if update.new == ZERO {
            return Ok(finish(
                1,
                &format!("slipway: deleting {} is not allowed", update.name),
            ));
        }
        if !DEPLOY_BRANCHES.contains(&update.name.as_str()) {
            return Ok(finish(
                1,
                &format!(
                    "slipway: only master and main deploy; {} refused (push with HEAD:master)",
                    crate::source::unpack::printable(&update.name)
                ),
            ));
        }
        if deploy.is_none() {
            deploy = Some(update.clone());
        }
    }
    let Some(update) = deploy else {
        return Ok(finish(0, "slipway: nothing to deploy"));
    };

    // The pushed objects are still in the quarantine: read them from there.
    let repo_path = state.paths.repo(&app.name);
    // Pushes to one app are serialised (the per-app lock): one that waited
    // for another may now be based on a ref that moved. Refuse it before
    // building anything (git would refuse the ref update after the build).
    let current = {
        let (path, name) = (repo_path.clone(), update.name.clone());
        tokio::task::spawn_blocking(move || {
            git2::Repository::open_bare(&path)
                .and_then(|repo| repo.refname_to_id(&name))
                .map(|oid| oid.to_string())
                .unwrap_or_else(|_| ZERO.to_string())
        })
        .await
        .map_err(ApiError::internal)?
    };
    if current != update.old {
        return Ok(finish(
            1,
            &format!(
                "slipway: {} moved to {} while this push waited; fetch, then push again",
                crate::source::unpack::printable(&update.name),
                &current[..12.min(current.len())]
            ),
        ));
    }
    let quarantine = hook.object_dir.as_deref().map(std::path::PathBuf::from);
    if let Some(dir) = &quarantine {
        let inside = dir
            .canonicalize()
            .ok()
            .zip(repo_path.canonicalize().ok())
            .is_some_and(|(dir, repo)| dir.starts_with(repo));
        if !inside {
            return Err(ApiError::bad_request(
                "bad_hook",
                "object_dir: not inside the app's repository",
            ));
        }
    }
    let hash = new_release_hash(&app.name);
    let dest = state.paths.source(&hash);
    let commit = update.new.clone();
    let written = tokio::task::spawn_blocking(move || {
        git::write_spec(&repo_path, quarantine.as_deref(), &commit, &dest)
    })
    .await
    .map_err(ApiError::internal)?;
    let oid = match written {
        Ok(oid) => oid,
        Err(error) => {
            return Ok(finish(1, &format!("slipway: {error}")));
        }
    };
    let release = queue::enqueue(
        &state,
        &app,
        hash,
        SourceKind::Git,
        Some(oid.to_string()),
        None,
    )
    .await?;
    let body = watch::follow(
        state.clone(),
        release.id,
        PushLines {
            release: release.id,
            first: Some(format!(
                "slipway: release {} of {} for {} (commit {}) queued",
                release.id,
                app.name,
                app.device_types.join(", "),
                &oid.to_string()[..12]
            )),
        },
    );
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        body,
    )
        .into_response())
}

/// Build events as the hook's lines.
struct PushLines {
    release: i64,
    first: Option<String>,
}

impl Renderer for PushLines {
    fn render(&mut self, update: &Update) -> Vec<String> {
        let mut lines: Vec<String> = self.first.take().map(|l| say(&l)).into_iter().collect();
        match update {
            Update::Event(event) => {
                if let Some(text) = render::line(event) {
                    for part in text.lines() {
                        lines.push(say(part));
                    }
                }
            }
            Update::Done(done) => {
                let (release, images) = (&done.0, &done.1);
                for image in images {
                    if let Some(reference) = &image.registry_reference {
                        lines.push(say(&format!(
                            "  {} {}: {reference}",
                            image.service, image.arch
                        )));
                    }
                }
                let took = release
                    .duration_ms
                    .map(|ms| format!(" in {:.1}s", ms as f64 / 1000.0))
                    .unwrap_or_default();
                lines.push(say(&format!(
                    "slipway: release {} {}{took}",
                    self.release, release.status
                )));
                let code = if release.status == Status::Success {
                    0
                } else {
                    if let Some(error) = &release.error {
                        for part in error.lines().take(30) {
                            lines.push(say(&format!("error: {part}")));
                        }
                    }
                    lines.push(say("slipway: push rejected: the branch was not updated"));
                    1
                };
                lines.push(format!("{}\n", json!({ "exit": code })));
            }
        }
        lines
    }

    fn keepalive(&self) -> String {
        // An empty object: the hook ignores it; git sends its own keepalives.
        "{}\n".into()
    }

    fn missed(&self, n: u64) -> String {
        say(&format!("slipway: ({n} log lines skipped)"))
    }
}
