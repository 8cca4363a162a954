//! The one orchestrator: source -> detect -> plan -> image -> release.
//!
//! [`run`] reports everything it does as [`BuildEvent`]s on a bounded
//! channel and prints nothing; the CLI renders the events for a terminal or
//! as JSON, the service will stream them. Blocking work (plugins, files,
//! SQLite) runs on the blocking pool, never on the async runtime.
//!
//! When one image fails, the images already building finish and are
//! recorded, images still queued are built too, and the release is
//! `failed`: a single run shows every broken service, not only the first.
//! Cancelling stops every build at once and the release is `cancelled`. A
//! build task that panics fails its images; it never passes for a success.

mod outcome;
mod prepare;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::detect::DetectReport;
use crate::image::context::ContextError;
use crate::image::log::CappedLog;
use crate::image::platform::Platform;
use crate::image::{build_group, Builder, Engine, EngineConfig, EngineError, Engines};
use crate::plan::jobs::{ImageJob, LowerError, PlannedImage};
use crate::plugin_host::{PluginHost, PluginSet};
use crate::registry::{Registry, RegistryError};
use crate::release::{
    now_ms, ImageRecord, ImageStatus, NewImage, NewRelease, Release, SharedStore, SourceKind,
    Status, StoreError,
};
use crate::source::SourceError;
use crate::target::DeviceType;

pub use crate::image::{BuildEvent, EventKind};

/// Events in flight between the builds and the caller.
const EVENT_BUFFER: usize = 1024;
/// How often the logs of running images are saved, so a killed build keeps them.
const LOG_SAVE_INTERVAL: Duration = Duration::from_secs(2);

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    pub project: PathBuf,
    /// Defaults to the project directory's name.
    pub app: Option<String>,
    pub device_types: Vec<DeviceType>,
    /// `--build-arg`s; they override the project's own.
    pub build_args: BTreeMap<String, String>,
    pub no_cache: bool,
    pub pull: bool,
    /// Overrides the project's target stage.
    pub target_stage: Option<String>,
    /// The single service's context when there is no compose file.
    pub context: Option<String>,
    /// How many images build at once.
    pub concurrency: usize,
    pub engines: EngineConfig,
    /// `None`: BuildKit where the engine has it, else classic.
    pub builder: Option<Builder>,
    pub source: SourceKind,
    pub commit: Option<String>,
    /// A release the service queued: it is built under its id and hash
    /// instead of a new one being recorded.
    pub queued: Option<QueuedRelease>,
    /// Where every built image is pushed; its digest is recorded.
    pub registry: Option<Registry>,
}

/// A release recorded as `queued` and claimed for building.
#[derive(Debug, Clone)]
pub struct QueuedRelease {
    pub id: i64,
    pub hash: String,
}

/// A finished release and its images.
#[derive(Debug)]
pub struct Built {
    pub release: Release,
    pub images: Vec<ImageRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("no device type given: pass --device-type at least once")]
    NoDeviceType,
    #[error(
        "{first} and {second} are both {arch}: a release builds each arch once, pick one of them"
    )]
    SameArch {
        first: String,
        second: String,
        arch: String,
    },
    /// Detection found nothing to build or an invalid project.
    #[error("detection failed for {device_type}")]
    Detect {
        device_type: String,
        report: Box<DetectReport>,
    },
    #[error(transparent)]
    Lower(#[from] LowerError),
    #[error("service `{service}`: {source}")]
    Context {
        service: String,
        #[source]
        source: ContextError,
    },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(
        "--builder buildkit: the engine at {endpoint} (for {arch}) has no BuildKit API \
         (API 1.39 or newer); use --builder classic or a newer engine"
    )]
    NoBuildKit { endpoint: String, arch: String },
    #[error(
        "service `{service}` uses build secrets ({ids}), which need BuildKit, but {arch} builds \
         with the classic builder{why}"
    )]
    SecretsNeedBuildKit {
        service: String,
        ids: String,
        arch: String,
        why: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("preparing the build stopped unexpectedly: {0}")]
    Task(String),
}

/// Builds one release of `request`, reporting to `events`.
pub async fn run(
    host: Arc<PluginHost>,
    plugins: Arc<PluginSet>,
    store: SharedStore,
    request: BuildRequest,
    events: mpsc::Sender<BuildEvent>,
    cancel: CancellationToken,
) -> Result<Built, PipelineError> {
    let request = Arc::new(request);
    let prepared = {
        let request = request.clone();
        tokio::task::spawn_blocking(move || prepare::prepare(&host, &plugins, &request))
            .await
            .map_err(|e| PipelineError::Task(e.to_string()))??
    };
    let archs: Vec<String> = request
        .device_types
        .iter()
        .map(|d| d.arch.clone())
        .collect();
    let engines = Engines::connect(&request.engines, &archs).await?;
    let builders = choose_builders(&engines, &archs, request.builder)?;
    check_secrets(&prepared.images, &builders, request.builder)?;

    let new_release = NewRelease {
        hash: prepared.hash.clone(),
        app: prepared.app.clone(),
        commit: request.commit.clone(),
        source: request.source,
        source_url: None,
        device_types: request
            .device_types
            .iter()
            .map(|d| d.slug.clone())
            .collect(),
        composition: prepared.composition.clone(),
        hooks: prepared.hooks.clone(),
    };
    let new_images: Vec<NewImage> = prepared
        .images
        .iter()
        .map(|image| new_image(image, builders.get(&image.arch).copied()))
        .collect();
    let queued = request.queued.as_ref().map(|q| q.id);
    let (release, record_ids) = store
        .call(move |store| {
            let release = match queued {
                Some(id) => store.record_plan(id, &new_release)?,
                None => store.create_release(&new_release)?,
            };
            let ids = new_images
                .iter()
                .map(|image| store.add_image(release.id, image))
                .collect::<Result<Vec<i64>, _>>()?;
            Ok((release, ids))
        })
        .await?;
    let _ = events
        .send(BuildEvent::new(EventKind::Release).message(format!(
            "release {} ({}) of {} for {}",
            release.id,
            &release.hash[..12],
            release.app,
            release.device_types.join(", ")
        )))
        .await;

    // Jobs with the same layers (one Procfile's processes) build once.
    let mut by_image: HashMap<(String, String), i64> = HashMap::new();
    let mut groups: Vec<Vec<(i64, ImageJob)>> = Vec::new();
    for (planned, record) in prepared.images.into_iter().zip(record_ids) {
        let Some(job) = planned.job else {
            let availability = match engines.for_arch(&planned.arch) {
                Some(engine) => prebuilt_availability(&engine, &planned).await,
                None => String::new(),
            };
            let _ = events
                .send(
                    BuildEvent::for_image(EventKind::Prebuilt, &planned.service, &planned.arch)
                        .message(format!("uses image {}{availability}", planned.reference)),
                )
                .await;
            continue;
        };
        by_image.insert((job.service.clone(), job.arch.clone()), record);
        match groups
            .iter_mut()
            .find(|group| group[0].1.layers_key() == job.layers_key())
        {
            Some(group) => group.push((record, job)),
            None => groups.push(vec![(record, job)]),
        }
    }

    let (group_events, mut from_groups) = mpsc::channel::<BuildEvent>(EVENT_BUFFER);
    let limit = Arc::new(Semaphore::new(request.concurrency.max(1)));
    let mut running = JoinSet::new();
    // Which records a task builds: a task that panics fails exactly these.
    let mut task_records: HashMap<tokio::task::Id, Vec<(i64, ImageJob)>> = HashMap::new();
    for group in groups {
        let arch = group[0].1.arch.clone();
        let engine = engines
            .for_arch(&arch)
            .expect("connected an engine for every planned arch");
        let builder = builders[&arch];
        let (limit, events, cancel) = (limit.clone(), group_events.clone(), cancel.clone());
        let jobs: Vec<ImageJob> = group.iter().map(|(_, job)| job.clone()).collect();
        let handle = running.spawn(async move {
            let _permit = tokio::select! {
                permit = limit.acquire_owned() => permit.ok(),
                _ = cancel.cancelled() => None,
            };
            build_group(&engine, builder, jobs, &events, &cancel).await
        });
        task_records.insert(handle.id(), group);
    }
    drop(group_events);

    let mut logs: HashMap<i64, (CappedLog, bool)> = HashMap::new();
    let mut save_logs = tokio::time::interval(LOG_SAVE_INTERVAL);
    let mut failures = Vec::new();
    let mut cancelled = false;
    // Built images to push: (record, service, arch, image id).
    let mut built_images: Vec<(i64, String, String, String)> = Vec::new();
    loop {
        tokio::select! {
            biased;
            Some(event) = from_groups.recv() => {
                let record = event
                    .service
                    .as_ref()
                    .zip(event.arch.as_ref())
                    .and_then(|(s, a)| by_image.get(&(s.clone(), a.clone())))
                    .copied();
                if let Some(record) = record {
                    match event.kind {
                        EventKind::Started => {
                            let at = event.time;
                            store.call(move |s| s.start_image(record, at)).await?;
                        }
                        EventKind::Log | EventKind::Step => {
                            let (log, dirty) = logs.entry(record).or_default();
                            log.push(event.message.as_deref().unwrap_or_default());
                            log.push("\n");
                            *dirty = true;
                        }
                        _ => {}
                    }
                }
                let _ = events.send(event).await;
            }
            done = running.join_next_with_id() => {
                let Some(done) = done else { break };
                // Events the jobs sent before they ended come first.
                while let Ok(event) = from_groups.try_recv() {
                    let _ = events.send(event).await;
                }
                let settled = match done {
                    Ok((id, results)) => {
                        let records = task_records.remove(&id).unwrap_or_default();
                        results
                            .into_iter()
                            .zip(records)
                            .map(|(result, (record, _))| (record, outcome::settle(result)))
                            .collect::<Vec<_>>()
                    }
                    Err(error) => {
                        let records = task_records.remove(&error.id()).unwrap_or_default();
                        let reason = if error.is_panic() { "panicked" } else { "was cancelled" };
                        records
                            .into_iter()
                            .map(|(record, job)| {
                                let log = logs.remove(&record).map(|(l, _)| l).unwrap_or_default();
                                (record, outcome::aborted(&job, log, reason))
                            })
                            .collect()
                    }
                };
                for (record, (outcome, event)) in settled {
                    logs.remove(&record);
                    if outcome.status == ImageStatus::Failed {
                        failures.push(event.error.clone().unwrap_or_default());
                    }
                    cancelled |= outcome.status == ImageStatus::Cancelled;
                    if let (Some(id), Some(service), Some(arch)) =
                        (&outcome.image_id, &event.service, &event.arch)
                    {
                        built_images.push((record, service.clone(), arch.clone(), id.clone()));
                    }
                    store.call(move |s| s.finish_image(record, &outcome)).await?;
                    let _ = events.send(event).await;
                }
            }
            _ = save_logs.tick() => {
                let dirty: Vec<(i64, String)> = logs
                    .iter_mut()
                    .filter(|(_, (_, dirty))| *dirty)
                    .map(|(record, (log, dirty))| {
                        *dirty = false;
                        (*record, log.render())
                    })
                    .collect();
                if !dirty.is_empty() {
                    store
                        .call(move |s| {
                            for (record, log) in &dirty {
                                s.save_log(*record, log)?;
                            }
                            Ok(())
                        })
                        .await?;
                }
            }
        }
    }

    let (mut status, mut error) = if cancelled || cancel.is_cancelled() {
        (Status::Cancelled, Some("cancelled by the user".to_string()))
    } else if !failures.is_empty() {
        (Status::Failed, Some(failures.join("\n")))
    } else {
        (Status::Success, None)
    };
    if let (Status::Success, Some(registry)) = (status, &request.registry) {
        let pushed = push_images(
            registry,
            &engines,
            &store,
            &release,
            built_images,
            &events,
            &cancel,
        )
        .await;
        match pushed {
            Ok(()) => {}
            Err(PushFailure::Cancelled) => {
                (status, error) = (Status::Cancelled, Some("cancelled by the user".into()))
            }
            Err(PushFailure::Registry(e)) => {
                (status, error) = (Status::Failed, Some(e.to_string()))
            }
            Err(PushFailure::Store(e)) => return Err(e.into()),
        }
    }
    let release_id = release.id;
    let built = store
        .call(move |s| {
            s.finish_release(release_id, status, error.as_deref(), now_ms())?;
            Ok(Built {
                release: s.get(release_id)?,
                images: s.images(release_id)?,
            })
        })
        .await?;
    let _ = events
        .send(BuildEvent::new(EventKind::Finished).message(status.as_str()))
        .await;
    Ok(built)
}

enum PushFailure {
    Cancelled,
    Registry(RegistryError),
    Store(StoreError),
}

/// Pushes every built image, one at a time per release (the registry
/// dedupes shared layers), recording each digest as it lands.
async fn push_images(
    registry: &Registry,
    engines: &Engines,
    store: &SharedStore,
    release: &Release,
    built: Vec<(i64, String, String, String)>,
    events: &mpsc::Sender<BuildEvent>,
    cancel: &CancellationToken,
) -> Result<(), PushFailure> {
    for (record, service, arch, image_id) in built {
        let engine = engines
            .for_arch(&arch)
            .expect("connected an engine for every planned arch");
        let tag = format!("{}-{arch}", release.hash);
        let pushed = tokio::select! {
            pushed = registry.push(&engine, &image_id, &release.app, &service, &tag) => pushed,
            _ = cancel.cancelled() => return Err(PushFailure::Cancelled),
        };
        let pushed = match pushed {
            Ok(pushed) => pushed,
            Err(e) => {
                let _ = events
                    .send(
                        BuildEvent::for_image(EventKind::Failed, &service, &arch)
                            .error(e.to_string()),
                    )
                    .await;
                return Err(PushFailure::Registry(e));
            }
        };
        // The local tag only served the push; the digest names the image now.
        let _ = engine
            .docker
            .remove_image(
                &pushed.tagged,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await;
        let reference = pushed.reference.clone();
        store
            .call(move |s| s.set_registry_reference(record, &reference))
            .await
            .map_err(PushFailure::Store)?;
        let _ = events
            .send(
                BuildEvent::for_image(EventKind::Pushed, &service, &arch).message(pushed.reference),
            )
            .await;
    }
    Ok(())
}

/// The builder of each arch: the one asked for, else BuildKit where the
/// engine has it.
fn choose_builders(
    engines: &Engines,
    archs: &[String],
    asked: Option<Builder>,
) -> Result<HashMap<String, Builder>, PipelineError> {
    let mut builders = HashMap::new();
    for arch in archs {
        let engine = engines
            .for_arch(arch)
            .expect("connected an engine for every arch");
        let builder = match asked {
            Some(Builder::Buildkit) if !engine.has_buildkit => {
                return Err(PipelineError::NoBuildKit {
                    endpoint: engine.endpoint.clone(),
                    arch: arch.clone(),
                })
            }
            Some(builder) => builder,
            None if engine.has_buildkit => Builder::Buildkit,
            None => Builder::Classic,
        };
        builders.insert(arch.clone(), builder);
    }
    Ok(builders)
}

/// Secrets need BuildKit: refused before anything is recorded.
fn check_secrets(
    images: &[PlannedImage],
    builders: &HashMap<String, Builder>,
    asked: Option<Builder>,
) -> Result<(), PipelineError> {
    for job in images.iter().filter_map(|image| image.job.as_ref()) {
        if !job.secrets.is_empty() && builders.get(&job.arch) == Some(&Builder::Classic) {
            return Err(PipelineError::SecretsNeedBuildKit {
                service: job.service.clone(),
                ids: job.secrets.keys().cloned().collect::<Vec<_>>().join(", "),
                arch: job.arch.clone(),
                why: if asked == Some(Builder::Classic) {
                    " (--builder classic)".into()
                } else {
                    " (its engine has no BuildKit)".into()
                },
            });
        }
    }
    Ok(())
}

fn new_image(image: &PlannedImage, builder: Option<Builder>) -> NewImage {
    NewImage {
        service: image.service.clone(),
        device_type: image.device_type.clone(),
        arch: image.arch.clone(),
        platform: image.platform.clone(),
        project_type: Some(image.project_type.clone()),
        plugin: image.plugin.clone(),
        dockerfile: image.dockerfile.clone(),
        reference: image.reference.clone(),
        command: image.command.clone(),
        status: if image.job.is_some() {
            ImageStatus::Queued
        } else {
            ImageStatus::Prebuilt
        },
        builder: image
            .job
            .as_ref()
            .and(builder)
            .map(|b| b.as_str().to_string()),
    }
}

/// Whether a prebuilt image is on the arch's engine, and for which platform:
/// nothing is pulled (devices pull it from its registry), but a user should
/// know when the image is missing or for another architecture.
async fn prebuilt_availability(engine: &Engine, image: &PlannedImage) -> String {
    match engine.docker.inspect_image(&image.reference).await {
        Ok(found) => {
            let platform = Platform::of_image(&found);
            if Platform::parse(&image.platform).accepts(&platform) {
                format!(" (on the engine, {platform})")
            } else {
                format!(
                    " (warning: the engine's copy is for {platform}, not {}; devices must get the right one from its registry)",
                    image.platform
                )
            }
        }
        Err(_) => format!(
            " (not on the engine {}: devices pull it from its registry)",
            engine.endpoint
        ),
    }
}
