//! Jobs with the same layers (the processes of one Procfile, say) build
//! once; each job then gets its own labels, command and tag, its own log and
//! its own result, as if it had been built alone.

use std::collections::BTreeMap;

use tokio::sync::mpsc::Sender;
use tokio_util::sync::CancellationToken;

use super::builder::Builder;
use super::buildkit::session;
use super::engine::Engine;
use super::error::ImageError;
use super::events::{BuildEvent, EventKind};
use super::layers::{build_layers, Layers};
use super::log::CappedLog;
use super::output::Output;
use super::stamp;
use crate::plan::jobs::ImageJob;

/// A built image of one job.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub image_id: String,
    pub size_bytes: i64,
    pub context_bytes: u64,
}

/// What became of one job of a group.
pub struct JobResult {
    pub job: ImageJob,
    pub started_at_ms: i64,
    pub result: Result<BuiltImage, ImageError>,
    pub log: CappedLog,
}

/// Builds a group of jobs with the same layers on `engine`.
pub async fn build_group(
    engine: &Engine,
    builder: Builder,
    group: Vec<ImageJob>,
    events: &Sender<BuildEvent>,
    cancel: &CancellationToken,
) -> Vec<JobResult> {
    let leader = group[0].service.clone();
    let single_plain = group.len() == 1 && group[0].command.is_none();
    let mut shared: Option<Result<(Layers, Option<String>), String>> = None;
    let mut results = Vec::new();
    for job in group {
        let started_at_ms = crate::release::now_ms();
        let mut log = CappedLog::default();
        let result = if cancel.is_cancelled() {
            Err(ImageError::Cancelled)
        } else {
            let _ = events
                .send(BuildEvent::for_image(
                    EventKind::Started,
                    &job.service,
                    &job.arch,
                ))
                .await;
            // Failure injection for the tests of the pipeline's panic handling.
            if crate::failpoint::armed("build-task-panic") {
                panic!("failpoint build-task-panic");
            }
            let mut out = Output::new(&job.service, &job.arch, &mut log, events);
            match &shared {
                None => {
                    let built =
                        leader_build(engine, builder, &job, single_plain, &mut out, cancel).await;
                    match built {
                        Ok((layers, temp, result)) => {
                            shared = Some(Ok((layers, temp)));
                            result
                        }
                        Err(error) => {
                            shared = Some(Err(error.to_string()));
                            Err(error)
                        }
                    }
                }
                Some(Ok((layers, temp))) => {
                    out.note(&format!(
                        "same context, Dockerfile and build args as service `{leader}`: \
                         shares its image build ({})",
                        short_id(&layers.id)
                    ))
                    .await;
                    let from = temp.as_deref().unwrap_or(&layers.id);
                    finish(engine, builder, from, &job, layers, &mut out, cancel).await
                }
                Some(Err(message)) => Err(ImageError::SharedBuild {
                    service: leader.clone(),
                    message: message.clone(),
                }),
            }
        };
        results.push(JobResult {
            job,
            started_at_ms,
            result,
            log,
        });
    }
    if let Some(Ok((_, Some(temp)))) = &shared {
        stamp::untag(engine, temp).await;
    }
    results
}

/// Builds the leader's layers and finishes the leader. Returns the layers,
/// the temporary tag followers stamp from (when one was made), and the
/// leader's own result.
async fn leader_build(
    engine: &Engine,
    builder: Builder,
    job: &ImageJob,
    single_plain: bool,
    out: &mut Output<'_>,
    cancel: &CancellationToken,
) -> Result<(Layers, Option<String>, Result<BuiltImage, ImageError>), ImageError> {
    // Secrets need BuildKit; the pipeline refuses other builders for them
    // before anything is recorded.
    let session = if job.secrets.is_empty() {
        None
    } else {
        Some(session::start(&engine.endpoint, job.secrets.clone()).await?)
    };
    // BuildKit sets labels on the config without a layer: a plain job is
    // done in one build.
    let one_build = single_plain && builder == Builder::Buildkit;
    let no_labels = BTreeMap::new();
    let labels = if one_build { &job.labels } else { &no_labels };
    let layers = build_layers(
        engine,
        builder,
        job,
        labels,
        session.as_ref().map(|s| s.id.as_str()),
        out,
        cancel,
    )
    .await?;
    drop(session);
    if one_build {
        let result = stamp::tag(engine, &layers.id, &job.tag)
            .await
            .map(|()| built(&layers, layers.id.clone()));
        if result.is_ok() {
            out.note(&format!("labelled and tagged {}", job.tag)).await;
        }
        return Ok((layers, None, result));
    }
    let temp = format!("{}-layers", job.tag);
    stamp::tag(engine, &layers.id, &temp).await?;
    let result = finish(engine, builder, &temp, job, &layers, out, cancel).await;
    Ok((layers, Some(temp), result))
}

/// Stamps one job from the shared layers.
async fn finish(
    engine: &Engine,
    builder: Builder,
    from: &str,
    job: &ImageJob,
    layers: &Layers,
    out: &mut Output<'_>,
    cancel: &CancellationToken,
) -> Result<BuiltImage, ImageError> {
    let id = stamp::stamp(engine, builder, from, job, out, cancel).await?;
    stamp::tag(engine, &id, &job.tag).await?;
    if let Some(command) = &job.command {
        out.note(&format!("command: {command}")).await;
    }
    out.note(&format!("labelled and tagged {}", job.tag)).await;
    Ok(built(layers, id))
}

fn built(layers: &Layers, image_id: String) -> BuiltImage {
    BuiltImage {
        image_id,
        // Labels and a command add no layer: the size is the layers'.
        size_bytes: layers.size_bytes,
        context_bytes: layers.context.bytes,
    }
}

pub fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}
