//! The build queue: queued releases in the store, built `concurrency` at a
//! time and one per app at a time, each as a job of its own that no
//! request's connection owns. A restarted service resumes what is queued;
//! what was running when it died is marked interrupted by the store.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::hub::Update;
use super::state::State;
use super::stored_log::StoredLog;
use crate::pipeline::{self, BuildEvent, BuildRequest, EventKind, PipelineError, QueuedRelease};
use crate::release::{now_ms, Release, Status};
use crate::source::git;
use crate::source::unpack::UnpackLimits;

/// How often the queue looks again even when nobody woke it.
const POLL: Duration = Duration::from_secs(5);

pub async fn run(state: Arc<State>) {
    let mut jobs = JoinSet::new();
    loop {
        while jobs.len() < state.config.concurrency.max(1) {
            match state.store.call(|store| store.claim_next()).await {
                Ok(Some(release)) => {
                    let cancel = CancellationToken::new();
                    state
                        .running
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(release.id, cancel.clone());
                    let span =
                        tracing::info_span!("build", release = release.id, app = %release.app);
                    jobs.spawn(build(state.clone(), release, cancel).instrument(span));
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::error!(%error, "the queue could not claim a release");
                    break;
                }
            }
        }
        tokio::select! {
            _ = state.wake.notified() => {}
            Some(_) = jobs.join_next(), if !jobs.is_empty() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Builds one claimed release to its end.
async fn build(state: Arc<State>, release: Release, cancel: CancellationToken) {
    let id = release.id;
    let hub = state.hubs.open(id);
    // Watchers on other replicas read the build from the store.
    let stored = state
        .shared
        .then(|| StoredLog::start(state.store.clone(), id));
    let publish = |event: BuildEvent| {
        if let Some(stored) = &stored {
            stored.push(&event);
        }
        hub.publish(Update::Event(event))
    };
    let source = state.paths.source(&release.hash);
    tracing::info!("build started");
    let outcome = run_pipeline(&state, &release, &source, &cancel, publish).await;
    if let Err(failure) = outcome {
        let (status, message) = match failure {
            Failure::Cancelled => (Status::Cancelled, "cancelled by the user".to_string()),
            Failure::Other(message) => (Status::Failed, message),
        };
        publish(BuildEvent::new(EventKind::Failed).error(message.clone()));
        let closed = state
            .store
            .call(move |s| s.finish_release(id, status, Some(&message), now_ms()))
            .await;
        if let Err(error) = closed {
            tracing::error!(%error, "could not close the release");
        }
        publish(BuildEvent::new(EventKind::Finished).message(status.as_str()));
    }
    let finished = state
        .store
        .call(move |s| Ok((s.get(id)?, s.images(id)?)))
        .await;
    match finished {
        Ok((release, images)) => {
            tracing::info!(status = %release.status, "build ended");
            if release.status == Status::Success {
                follow_latest(&state, &release).await;
            }
            if let Some(ms) = release.duration_ms {
                state.metrics.observe_build(ms as f64 / 1000.0);
            }
            state
                .hubs
                .close(id, Update::Done(Box::new((release, images))));
        }
        Err(error) => tracing::error!(%error, "could not read the finished release"),
    }
    if let Some(stored) = stored {
        stored.finish().await;
    }
    state
        .running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
    let _ = tokio::fs::remove_dir_all(&source).await;
    state.wake.notify_one();
}

/// A fleet that follows its latest release gets this one as its target.
async fn follow_latest(state: &State, release: &Release) {
    let follows = state
        .fleet
        .read()
        .apps
        .get(&release.app)
        .is_none_or(|app| app.track_latest);
    if !follows {
        return;
    }
    let (app, id) = (release.app.clone(), release.id);
    let saved = state
        .store
        .call(move |s| {
            s.set_fleet_target(&app, Some(id), true)?;
            s.record_event(
                Some(&app),
                "fleet.target",
                None,
                &serde_json::json!({"release_id": id, "track_latest": true, "by": "new release"}),
            )
        })
        .await;
    if let Err(error) = saved {
        tracing::error!(%error, "could not make the release the fleet target");
        return;
    }
    {
        let mut data = state.fleet.write();
        let app = data
            .apps
            .entry(release.app.clone())
            .or_insert_with(|| super::fleet::AppFleet {
                target: None,
                track_latest: true,
                device_types: release.device_types.clone(),
            });
        app.target = Some(id);
    }
    state.fleet.changed(&release.app);
}

enum Failure {
    Cancelled,
    Other(String),
}

async fn run_pipeline(
    state: &Arc<State>,
    release: &Release,
    source: &std::path::Path,
    cancel: &CancellationToken,
    publish: impl Fn(BuildEvent),
) -> Result<(), Failure> {
    let mut commit = release.commit.clone();
    if let Some(url) = &release.source_url {
        publish(BuildEvent::new(EventKind::Log).message(format!("fetching {url}")));
        let (repo, url, what, dest) = (
            state.paths.repo(&release.app),
            url.clone(),
            commit.clone().unwrap_or_else(|| "main".into()),
            source.to_path_buf(),
        );
        let fetched = tokio::select! {
            fetched = tokio::task::spawn_blocking(move || {
                let oid = git::fetch(&repo, &url, &what)?;
                let repository = git::open(&repo, None)?;
                let _ = std::fs::remove_dir_all(&dest);
                git::write_commit(&repository, oid, &dest, UnpackLimits::default())?;
                Ok::<_, git::GitSourceError>(oid)
            }) => fetched,
            _ = cancel.cancelled() => return Err(Failure::Cancelled),
        };
        match fetched {
            Ok(Ok(oid)) => commit = Some(oid.to_string()),
            Ok(Err(e)) => return Err(Failure::Other(e.to_string())),
            Err(e) => {
                return Err(Failure::Other(format!(
                    "fetching stopped unexpectedly: {e}"
                )))
            }
        }
    }
    let device_types = release
        .device_types
        .iter()
        .filter_map(|slug| crate::target::lookup(slug).ok())
        .collect();
    let request = BuildRequest {
        project: source.to_path_buf(),
        app: Some(release.app.clone()),
        device_types,
        build_args: Default::default(),
        no_cache: false,
        pull: false,
        target_stage: None,
        context: None,
        concurrency: state.config.image_concurrency,
        engines: state.config.engines.clone(),
        builder: None,
        source: release.source,
        commit,
        queued: Some(QueuedRelease {
            id: release.id,
            hash: release.hash.clone(),
        }),
        registry: state.config.registry.clone(),
    };
    let (events, mut received) = mpsc::channel(1024);
    let pipeline = tokio::spawn(pipeline::run(
        state.host.clone(),
        state.plugins.clone(),
        state.store.clone(),
        request,
        events,
        cancel.clone(),
    ));
    while let Some(event) = received.recv().await {
        publish(event);
    }
    match pipeline.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(PipelineError::Detect {
            device_type,
            report,
        })) => Err(Failure::Other(
            report
                .problems
                .iter()
                .map(|p| format!("{device_type}: {}", p.message))
                .collect::<Vec<_>>()
                .join("\n"),
        )),
        Ok(Err(e)) if cancel.is_cancelled() => {
            tracing::info!(error = %e, "cancelled");
            Err(Failure::Cancelled)
        }
        Ok(Err(e)) => Err(Failure::Other(error_chain(&e))),
        Err(e) => Err(Failure::Other(format!(
            "the build stopped unexpectedly: {e}"
        ))),
    }
}

/// An error and its sources, for the release's error text.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let more = inner.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = inner.source();
    }
    text
}

/// Records a release as queued (its source tree, if any, already written
/// under its hash), opens its hub before anything can happen to it, and
/// wakes the queue.
pub async fn enqueue(
    state: &State,
    app: &crate::app::App,
    hash: String,
    source: crate::release::SourceKind,
    commit: Option<String>,
    source_url: Option<String>,
) -> Result<Release, crate::store::StoreError> {
    let new = crate::release::NewRelease {
        hash,
        app: app.name.clone(),
        commit,
        source,
        source_url,
        device_types: app.device_types.clone(),
        composition: String::new(),
        hooks: Vec::new(),
    };
    let release = state.store.call(move |s| s.enqueue_release(&new)).await?;
    // Built here for sure only when no other replica shares the queue;
    // else watchers find the hub when this replica claims it, or read the
    // build through the store.
    if !state.shared {
        state.hubs.open(release.id);
    }
    tracing::info!(release = release.id, app = %release.app, source = release.source.as_str(), "release queued");
    state.wake.notify_one();
    Ok(release)
}
