//! One release: detect and plan for every device type, then build every
//! service for every arch concurrently (bounded), recording each image.
//!
//! When one image fails, the images already building finish and are
//! recorded, images still queued are built too, and the release is
//! `failed`: a single run shows every broken service, not only the first.
//! Cancelling (Ctrl-C) stops every build at once and the release is
//! `cancelled`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::engine::{EngineConfig, EngineError, Engines};
use super::events::{BuildEvent, EventKind};
use super::image::{build_untagged, finish_image, BuiltImage, ImageError, ImageJob, UntaggedImage};
use super::log::CappedLog;
use super::platform::Platform;
use super::tags::image_tag;
use crate::detect::{self, DetectOptions, DetectReport};
use crate::plan::{BuildPlan, Composition, ServiceSource};
use crate::plugin_host::{PluginHost, PluginSet};
use crate::release::{
    now_ms, ImageOutcome, ImageRecord, ImageStatus, NewImage, NewRelease, Release, ReleaseStore,
    SourceKind, Status, StoreError,
};
use crate::source::{ProjectDir, SourceError};
use crate::target::DeviceType;

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
    pub source: SourceKind,
    pub commit: Option<String>,
}

/// A finished release and its images.
#[derive(Debug)]
pub struct Built {
    pub release: Release,
    pub images: Vec<ImageRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
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
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("service `{service}`: context `{context}`: {source}")]
    Context {
        service: String,
        context: String,
        #[source]
        source: SourceError,
    },
}

/// Lines of log quoted when a service fails.
const FAILURE_LINES: usize = 10;

/// Builds one release of `request`, reporting progress to `report`.
pub async fn build_release(
    host: &PluginHost,
    plugins: &PluginSet,
    store: &mut dyn ReleaseStore,
    request: &BuildRequest,
    report: &mut (dyn FnMut(&BuildEvent) + Send),
    cancel: CancellationToken,
) -> Result<Built, BuildError> {
    if request.device_types.is_empty() {
        return Err(BuildError::NoDeviceType);
    }
    check_one_device_type_per_arch(&request.device_types)?;
    let project = ProjectDir::open(&request.project)?;
    let app = request.app.clone().unwrap_or_else(|| project.name());
    let hash = crate::release::new_release_hash(&app);

    let mut plans = Vec::new();
    for device in &request.device_types {
        let options = DetectOptions {
            app: app.clone(),
            release_hash: hash.clone(),
            context: request.context.clone(),
        };
        let detected = detect::detect(host, plugins, &project, &device.target(), &options);
        if !detected.is_clean() {
            return Err(BuildError::Detect {
                device_type: device.slug.clone(),
                report: Box::new(detected),
            });
        }
        plans.push(detected.plan);
    }
    let jobs = plan_jobs(&project, &plans, &hash, request)?;
    let archs: Vec<String> = plans.iter().map(|p| p.target.arch.clone()).collect();
    let engines = Engines::connect(&request.engines, &archs).await?;

    let release = store.create_release(&NewRelease {
        hash: hash.clone(),
        app: app.clone(),
        commit: request.commit.clone(),
        source: request.source,
        device_types: request
            .device_types
            .iter()
            .map(|d| d.slug.clone())
            .collect(),
        composition: composition_text(&project, &plans[0].composition),
        // Hooks come from the project, not the arch: every plan has the same.
        hooks: plans[0].hooks.clone(),
    })?;
    report(&BuildEvent::new(EventKind::Release).message(format!(
        "release {} ({}) of {app} for {}",
        release.id,
        &release.hash[..12],
        release.device_types.join(", ")
    )));

    let (events_tx, mut events_rx) = mpsc::unbounded_channel::<BuildEvent>();
    let limit = Arc::new(Semaphore::new(request.concurrency.max(1)));
    let mut running: JoinSet<Vec<JobResult>> = JoinSet::new();
    let mut record_ids: HashMap<(String, String), i64> = HashMap::new();
    // Jobs with the same layers (one Procfile's processes) build once.
    let mut groups: Vec<Vec<(i64, ImageJob)>> = Vec::new();
    for planned in jobs {
        let record = store.add_image(release.id, &planned.record)?;
        let Some(job) = planned.job else {
            let availability = match engines.for_arch(&planned.record.arch) {
                Some(engine) => prebuilt_availability(&engine, &planned.record).await,
                None => String::new(),
            };
            report(
                &BuildEvent::for_image(
                    EventKind::Prebuilt,
                    &planned.record.service,
                    &planned.record.arch,
                )
                .message(format!(
                    "uses image {}{availability}",
                    planned.record.reference
                )),
            );
            continue;
        };
        record_ids.insert((job.service.clone(), job.arch.clone()), record);
        match groups
            .iter_mut()
            .find(|group| group[0].1.layers_key() == job.layers_key())
        {
            Some(group) => group.push((record, job)),
            None => groups.push(vec![(record, job)]),
        }
    }
    for group in groups {
        let engine = engines
            .for_arch(&group[0].1.arch)
            .expect("connected an engine for every planned arch");
        let (limit, events, cancel) = (limit.clone(), events_tx.clone(), cancel.clone());
        running.spawn(async move {
            let _permit = tokio::select! {
                permit = limit.acquire_owned() => permit.ok(),
                _ = cancel.cancelled() => None,
            };
            build_group(&engine, group, &events, &cancel).await
        });
    }
    drop(events_tx);

    let mut failures = Vec::new();
    let mut cancelled = false;
    loop {
        tokio::select! {
            biased;
            Some(event) = events_rx.recv() => {
                if event.kind == EventKind::Started {
                    if let Some(id) = event
                        .service
                        .as_ref()
                        .zip(event.arch.as_ref())
                        .and_then(|(s, a)| record_ids.get(&(s.clone(), a.clone())))
                    {
                        store.start_image(*id, event.time)?;
                    }
                }
                report(&event);
            }
            done = running.join_next() => {
                let Some(done) = done else { break };
                let Ok(done) = done else { continue };
                // Events the jobs sent before they ended come first.
                while let Ok(event) = events_rx.try_recv() {
                    report(&event);
                }
                for job in done {
                    let (record, outcome, event) = settle(job);
                    if outcome.status == ImageStatus::Failed {
                        failures.push(event.error.clone().unwrap_or_default());
                    }
                    cancelled |= outcome.status == ImageStatus::Cancelled;
                    store.finish_image(record, &outcome)?;
                    report(&event);
                }
            }
        }
    }
    while let Ok(event) = events_rx.try_recv() {
        report(&event);
    }

    let (status, error) = if cancelled || cancel.is_cancelled() {
        (Status::Cancelled, Some("cancelled by the user".to_string()))
    } else if !failures.is_empty() {
        (Status::Failed, Some(failures.join("\n")))
    } else {
        (Status::Success, None)
    };
    store.finish_release(release.id, status, error.as_deref(), now_ms())?;
    report(&BuildEvent::new(EventKind::Finished).message(status.as_str()));
    Ok(Built {
        release: store.get(release.id)?,
        images: store.images(release.id)?,
    })
}

/// Whether a prebuilt image is on the arch's engine, and for which platform:
/// nothing is pulled (devices pull it from its registry), but a user should
/// know when the image is missing or for another architecture.
async fn prebuilt_availability(engine: &super::engine::Engine, image: &NewImage) -> String {
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

/// Builds the layers once for the first job of `group`, then labels, sets
/// the command of and tags one image per job. Each job gets its own log and
/// result, as if it had been built alone.
async fn build_group(
    engine: &super::engine::Engine,
    group: Vec<(i64, ImageJob)>,
    events: &mpsc::UnboundedSender<BuildEvent>,
    cancel: &CancellationToken,
) -> Vec<JobResult> {
    let leader = group[0].1.service.clone();
    let mut shared: Option<Result<UntaggedImage, String>> = None;
    let mut results = Vec::new();
    for (record, job) in group {
        let started_at_ms = now_ms();
        let mut log = CappedLog::default();
        let result = if cancel.is_cancelled() {
            Err(ImageError::Cancelled)
        } else {
            let _ = events.send(BuildEvent::for_image(
                EventKind::Started,
                &job.service,
                &job.arch,
            ));
            match &shared {
                None => match build_untagged(engine, &job, &mut log, events, cancel).await {
                    Ok(untagged) => {
                        let result = finish_image(engine, &job, &untagged, &mut log).await;
                        shared = Some(Ok(untagged));
                        result
                    }
                    Err(error) => {
                        shared = Some(Err(error.to_string()));
                        Err(error)
                    }
                },
                Some(Ok(untagged)) => {
                    log.push(&format!(
                        "[slipway] same context, Dockerfile and build args as service `{leader}`: \
                         shares its image build ({})\n",
                        short_id(&untagged.id)
                    ));
                    finish_image(engine, &job, untagged, &mut log).await
                }
                Some(Err(message)) => Err(ImageError::SharedBuild {
                    service: leader.clone(),
                    message: message.clone(),
                }),
            }
        };
        results.push(JobResult {
            record,
            job,
            started_at_ms,
            result,
            log,
        });
    }
    results
}

struct JobResult {
    record: i64,
    job: ImageJob,
    started_at_ms: i64,
    result: Result<BuiltImage, ImageError>,
    log: CappedLog,
}

/// The record and the closing event of a finished job.
fn settle(done: JobResult) -> (i64, ImageOutcome, BuildEvent) {
    let JobResult {
        record,
        job,
        started_at_ms,
        result,
        log,
    } = done;
    let ended_at_ms = now_ms();
    let base = |kind| BuildEvent::for_image(kind, &job.service, &job.arch);
    // What every outcome records; a success adds the image.
    let outcome = |status, error: Option<String>| ImageOutcome {
        status,
        image_id: None,
        size_bytes: None,
        context_bytes: None,
        log: log.render(),
        error,
        started_at_ms: Some(started_at_ms),
        ended_at_ms,
    };
    let (outcome, event) = match result {
        Ok(built) => (
            ImageOutcome {
                image_id: Some(built.image_id.clone()),
                size_bytes: Some(built.size_bytes),
                context_bytes: Some(built.context.bytes as i64),
                ..outcome(ImageStatus::Success, None)
            },
            base(EventKind::Succeeded).message(format!(
                "{} ({}, {}) in {:.1}s",
                job.tag,
                short_id(&built.image_id),
                super::image::human_bytes(built.size_bytes.max(0) as u64),
                (ended_at_ms - started_at_ms) as f64 / 1000.0
            )),
        ),
        Err(ImageError::Cancelled) => (
            outcome(ImageStatus::Cancelled, Some("cancelled".into())),
            base(EventKind::Cancelled),
        ),
        Err(error) => {
            let mut message = format!("service `{}` ({}): {error}", job.service, job.arch);
            let last = log.last_lines(FAILURE_LINES);
            if !last.is_empty() {
                message.push_str("\nlast log lines:\n");
                for line in &last {
                    message.push_str(&format!("  {line}\n"));
                }
            }
            let mut event = base(EventKind::Failed).error(message.trim_end());
            if let Some(step) = error.step() {
                event = event.step(step.split(' ').next().unwrap_or_default());
            }
            (outcome(ImageStatus::Failed, Some(error.to_string())), event)
        }
    };
    (record, outcome, event)
}

fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

/// An image of the release: its record, and the job when there is something to build.
struct PlannedImage {
    record: NewImage,
    job: Option<ImageJob>,
}

fn plan_jobs(
    project: &ProjectDir,
    plans: &[BuildPlan],
    hash: &str,
    request: &BuildRequest,
) -> Result<Vec<PlannedImage>, BuildError> {
    let mut planned = Vec::new();
    for plan in plans {
        let target = &plan.target;
        for service in &plan.services {
            let record = |project_type: &str, reference: &str, status| NewImage {
                service: service.name.clone(),
                device_type: target.device_type.clone(),
                arch: target.arch.clone(),
                platform: target.platform.clone(),
                project_type: Some(project_type.to_string()),
                plugin: None,
                dockerfile: None,
                reference: reference.to_string(),
                command: service.command.clone(),
                status,
            };
            let recipe = match &service.source {
                ServiceSource::Image { image } => {
                    planned.push(PlannedImage {
                        record: record("image", image, ImageStatus::Prebuilt),
                        job: None,
                    });
                    continue;
                }
                ServiceSource::Build(recipe) => recipe,
            };
            let context_dir =
                project
                    .context_path(&service.context)
                    .map_err(|source| BuildError::Context {
                        service: service.name.clone(),
                        context: service.context.clone(),
                        source,
                    })?;
            let tag = image_tag(&plan.app, &service.name, hash, &target.arch);
            let mut build_args = recipe.build_args.clone();
            build_args.extend(request.build_args.clone());
            let mut labels = recipe.labels.clone();
            labels.extend([
                ("io.slipway.app".to_string(), plan.app.clone()),
                ("io.slipway.service".to_string(), service.name.clone()),
                ("io.slipway.release".to_string(), hash.to_string()),
                ("io.slipway.arch".to_string(), target.arch.clone()),
                (
                    "io.slipway.device-type".to_string(),
                    target.device_type.clone(),
                ),
            ]);
            if let Some(commit) = &request.commit {
                labels.insert("io.slipway.commit".into(), commit.clone());
            }
            planned.push(PlannedImage {
                record: NewImage {
                    plugin: Some(recipe.plugin.to_string()),
                    dockerfile: Some(recipe.dockerfile.content.clone()),
                    ..record(&recipe.project_type, &tag, ImageStatus::Queued)
                },
                job: Some(ImageJob {
                    service: service.name.clone(),
                    arch: target.arch.clone(),
                    platform: target.platform.clone(),
                    context_dir,
                    context_display: service.context.clone(),
                    dockerfile: recipe.dockerfile.content.clone(),
                    build_args,
                    labels,
                    target_stage: request
                        .target_stage
                        .clone()
                        .or_else(|| recipe.target_stage.clone()),
                    tag,
                    command: service.command.clone(),
                    no_cache: request.no_cache,
                    pull: request.pull,
                }),
            });
        }
    }
    Ok(planned)
}

fn check_one_device_type_per_arch(devices: &[DeviceType]) -> Result<(), BuildError> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for device in devices {
        if let Some(first) = seen.insert(&device.arch, &device.slug) {
            return Err(BuildError::SameArch {
                first: first.to_string(),
                second: device.slug.clone(),
                arch: device.arch.clone(),
            });
        }
    }
    Ok(())
}

/// The composition as recorded: the file that splits the project (compose
/// file, Procfile) itself, or what a project without one means.
fn composition_text(project: &ProjectDir, composition: &Composition) -> String {
    match composition {
        Composition::Plugin { file, .. } => project
            .read_text(file)
            .unwrap_or_else(|e| format!("# {file} could not be read back: {e}\n")),
        Composition::SingleService => {
            "# no compose file: the project is one service, built from its root\n\
             services:\n  main:\n    build: .\n"
                .to_string()
        }
    }
}
