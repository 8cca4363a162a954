//! Building one image (one service, one arch) on an engine.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use bollard::query_parameters::BuildImageOptionsBuilder;
use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::context::{BuildContext, ContextError, ContextStats, DOCKERFILE_NAME};
use super::engine::Engine;
use super::events::{BuildEvent, EventKind};
use super::log::CappedLog;
use super::platform::Platform;
use crate::plan::Command;

/// Everything needed to build one image.
#[derive(Debug, Clone)]
pub struct ImageJob {
    pub service: String,
    pub arch: String,
    pub platform: String,
    /// The service's context directory on disk.
    pub context_dir: PathBuf,
    /// The context as the project names it, for messages.
    pub context_display: String,
    pub dockerfile: String,
    pub build_args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub target_stage: Option<String>,
    pub tag: String,
    /// The process the image runs, replacing its CMD and ENTRYPOINT.
    pub command: Option<Command>,
    pub no_cache: bool,
    pub pull: bool,
}

impl ImageJob {
    /// What decides the image's layers. Jobs with the same key (processes of
    /// one Procfile, say) share one build; labels, tag and command are
    /// applied to each afterwards.
    pub fn layers_key(&self) -> impl Eq + std::hash::Hash + '_ {
        (
            &self.arch,
            &self.platform,
            &self.context_dir,
            &self.dockerfile,
            &self.build_args,
            &self.target_stage,
            self.no_cache,
            self.pull,
        )
    }
}

/// A built and checked image, before the release's labels and tag.
#[derive(Debug, Clone)]
pub struct UntaggedImage {
    pub id: String,
    pub size_bytes: i64,
    pub context: ContextStats,
}

/// A built and checked image.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub image_id: String,
    pub size_bytes: i64,
    pub context: ContextStats,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error("engine {endpoint}: {message}")]
    Engine { endpoint: String, message: String },
    #[error("step {step} failed: {message}")]
    Step { step: String, message: String },
    #[error(
        "step {step}: the engine cannot run {platform} programs (exec format error): no emulation \
         for that architecture is registered. Run `bash scripts/setup-docker.sh` to register \
         qemu with binfmt_misc, or map the arch to a native engine with `--engine ARCH=ENDPOINT`"
    )]
    NoEmulation { step: String, platform: String },
    #[error("the image was built for {found}, not {expected}: the base image is probably for another architecture")]
    PlatformMismatch { expected: String, found: String },
    #[error("cancelled")]
    Cancelled,
    /// Another service's build of the same layers failed.
    #[error("shares its image build with service `{service}`, which failed: {message}")]
    SharedBuild { service: String, message: String },
}

impl ImageError {
    pub fn step(&self) -> Option<&str> {
        match self {
            ImageError::Step { step, .. } | ImageError::NoEmulation { step, .. } => Some(step),
            _ => None,
        }
    }
}

/// Builds `job`'s layers, streaming the output to `events` and `log`, and
/// checks the image's platform; no labels, no tag yet (see [`finish_image`]).
pub async fn build_untagged(
    engine: &Engine,
    job: &ImageJob,
    log: &mut CappedLog,
    events: &UnboundedSender<BuildEvent>,
    cancel: &CancellationToken,
) -> Result<UntaggedImage, ImageError> {
    let context = BuildContext::prepare(
        &job.context_dir,
        &job.context_display,
        job.dockerfile.clone(),
    )?;
    let (chunks, writer) = context.stream();
    let body = futures_util::stream::unfold(chunks, |mut chunks| async move {
        chunks.recv().await.map(|chunk| (chunk, chunks))
    });

    let build_args: HashMap<&str, &str> = job
        .build_args
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut options = BuildImageOptionsBuilder::default()
        .dockerfile(DOCKERFILE_NAME)
        .platform(&job.platform)
        .buildargs(&build_args)
        .nocache(job.no_cache)
        .rm(true)
        .forcerm(true);
    if job.pull {
        options = options.pull("true");
    }
    if let Some(stage) = &job.target_stage {
        options = options.target(stage);
    }
    let mut output =
        engine
            .docker
            .build_image(options.build(), None, Some(bollard::body_try_stream(body)));

    let mut progress = Progress::new(job, events);
    let mut image_id = None;
    let mut failure = None;
    loop {
        let item = tokio::select! {
            _ = cancel.cancelled() => {
                // Dropping the request stream closes the connection; the
                // engine then stops the build and removes its container.
                drop(output);
                writer.abort();
                return Err(ImageError::Cancelled);
            }
            item = output.next() => item,
        };
        let Some(item) = item else { break };
        match item {
            Ok(info) => {
                if let Some(text) = info.stream.as_deref() {
                    progress.output(text, log);
                }
                if let Some(status) = info.status.as_deref() {
                    progress.output(&format!("{status}\n"), log);
                }
                if let Some(aux) = &info.aux {
                    image_id = aux.id.clone().or(image_id);
                }
                if let Some(message) = info.error_detail.and_then(|d| d.message) {
                    failure = Some(message);
                    break;
                }
            }
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                failure = Some(error);
                break;
            }
            Err(e) => {
                // A context error is the real cause when the writer failed.
                drop(output);
                if let Ok(Err(context_error)) = writer.await {
                    if !matches!(context_error, ContextError::Closed) {
                        return Err(context_error.into());
                    }
                }
                return Err(ImageError::Engine {
                    endpoint: engine.endpoint.clone(),
                    message: e.to_string(),
                });
            }
        }
    }
    progress.flush();
    drop(output);
    let context = match writer.await {
        Ok(Ok(stats)) => stats,
        Ok(Err(ContextError::Closed)) | Err(_) => ContextStats::default(),
        Ok(Err(e)) => return Err(e.into()),
    };
    let _ = events.send(
        BuildEvent::for_image(EventKind::Context, &job.service, &job.arch).message(format!(
            "build context: {} files, {}",
            context.files,
            human_bytes(context.bytes)
        )),
    );
    if let Some(message) = failure {
        log.push(&format!("{message}\n"));
        let step = progress.step.clone().unwrap_or_else(|| "?".into());
        // The engine's error is only "returned a non-zero code"; the
        // kernel's refusal to run a foreign binary is in the step's output.
        let foreign_binary_refused = message.contains("exec format error")
            || log
                .last_lines(5)
                .iter()
                .any(|line| line.contains("exec format error"));
        if foreign_binary_refused {
            return Err(ImageError::NoEmulation {
                step,
                platform: job.platform.clone(),
            });
        }
        return Err(ImageError::Step { step, message });
    }

    let built = image_id
        .or(progress.built.clone())
        .ok_or_else(|| ImageError::Engine {
            endpoint: engine.endpoint.clone(),
            message: "the build ended without naming the image it built".into(),
        })?;

    let inspected = engine
        .docker
        .inspect_image(&built)
        .await
        .map_err(|e| ImageError::Engine {
            endpoint: engine.endpoint.clone(),
            message: format!("inspecting {built}: {e}"),
        })?;
    let found = Platform::of_image(&inspected);
    let expected = Platform::parse(&job.platform);
    if !expected.accepts(&found) {
        return Err(ImageError::PlatformMismatch {
            expected: expected.to_string(),
            found: found.to_string(),
        });
    }
    Ok(UntaggedImage {
        id: built,
        size_bytes: inspected.size.unwrap_or(0),
        context,
    })
}

/// Gives a checked image `job`'s labels, command and tag.
///
/// The labels change with every release, so a step that sets them never
/// hits the cache. Run inside the build, that step would commit while the
/// engine still holds the extracted build context, and the commit's
/// filesystem sync would write the whole context out (about 2 s for a 500 MB
/// context). Committing a created, never started, container of the image
/// with a `LABEL` change costs one small commit instead (tens of
/// milliseconds), and the build itself stays fully cacheable.
pub async fn finish_image(
    engine: &Engine,
    job: &ImageJob,
    untagged: &UntaggedImage,
    log: &mut CappedLog,
) -> Result<BuiltImage, ImageError> {
    let image = untagged.id.as_str();
    use bollard::models::{ContainerConfig, ContainerCreateBody};
    use bollard::query_parameters::{
        CommitContainerOptionsBuilder, CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder,
    };
    let engine_error = |message: String| ImageError::Engine {
        endpoint: engine.endpoint.clone(),
        message: format!("labelling {image} as {}: {message}", job.tag),
    };
    let (repo, tag) = job
        .tag
        .rsplit_once(':')
        .unwrap_or((job.tag.as_str(), "latest"));
    let created = engine
        .docker
        .create_container(
            Some(
                CreateContainerOptionsBuilder::default()
                    .platform(&job.platform)
                    .build(),
            ),
            ContainerCreateBody {
                image: Some(image.to_string()),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| engine_error(e.to_string()))?;
    let mut options = CommitContainerOptionsBuilder::default()
        .container(&created.id)
        .repo(repo)
        .tag(tag)
        .pause(false);
    // The engine reads `changes` as Dockerfile lines.
    let changes: Vec<String> = label_instruction(&job.labels)
        .into_iter()
        .chain(job.command.as_ref().map(command_instructions))
        .collect();
    let changes = changes.join("\n");
    if !changes.is_empty() {
        options = options.changes(&changes);
    }
    // An empty, non-null Entrypoint in the commit's config clears the
    // image's: the engine keeps the old one for a null one, and a
    // `ENTRYPOINT []` change becomes null.
    let config = ContainerConfig {
        entrypoint: job.command.as_ref().map(|_| Vec::new()),
        ..Default::default()
    };
    let committed = engine
        .docker
        .commit_container(options.build(), config)
        .await;
    let removed = engine
        .docker
        .remove_container(
            &created.id,
            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
        )
        .await;
    let committed = committed.map_err(|e| engine_error(e.to_string()))?;
    if let Err(e) = removed {
        tracing::warn!(
            container = created.id,
            "could not remove the labelling container: {e}"
        );
    }
    if let Some(command) = &job.command {
        log.push(&format!("[slipway] command: {command}\n"));
    }
    log.push(&format!("[slipway] labelled and tagged {}\n", job.tag));
    Ok(BuiltImage {
        image_id: committed.id,
        // Labels and a command add no layer: the size is the built image's.
        size_bytes: untagged.size_bytes,
        context: untagged.context,
    })
}

/// `CMD` in exec form with the command's argv; with the entrypoint cleared
/// (see `finish_image`) the process runs as planned whatever the
/// Dockerfile said.
fn command_instructions(command: &Command) -> String {
    let argv = serde_json::to_string(&command.argv()).unwrap_or_default();
    format!("CMD {argv}")
}

/// One `LABEL` instruction setting every label, or none when there are none.
fn label_instruction(labels: &BTreeMap<String, String>) -> Option<String> {
    if labels.is_empty() {
        return None;
    }
    let mut instruction = String::from("LABEL");
    for (key, value) in labels {
        // JSON string quoting is a valid Dockerfile double-quoted word.
        let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
        instruction.push_str(&format!(" {}={}", quote(key), quote(value)));
    }
    Some(instruction)
}

/// Splits the engine's output into lines, spots `Step N/M : ...` headers,
/// and reports both.
struct Progress<'a> {
    job: &'a ImageJob,
    events: &'a UnboundedSender<BuildEvent>,
    partial: String,
    step: Option<String>,
    /// The image id from `Successfully built <id>`.
    built: Option<String>,
}

impl<'a> Progress<'a> {
    fn new(job: &'a ImageJob, events: &'a UnboundedSender<BuildEvent>) -> Progress<'a> {
        Progress {
            job,
            events,
            partial: String::new(),
            step: None,
            built: None,
        }
    }

    fn output(&mut self, text: &str, log: &mut CappedLog) {
        log.push(text);
        self.partial.push_str(text);
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            self.line(line.trim_end());
        }
    }

    fn flush(&mut self) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(line.trim_end());
        }
    }

    fn line(&mut self, line: &str) {
        if line.is_empty() {
            return;
        }
        if let Some(id) = line.strip_prefix("Successfully built ") {
            self.built = Some(id.trim().to_string());
        }
        let event = BuildEvent::for_image(EventKind::Log, &self.job.service, &self.job.arch);
        if let Some((step, instruction)) = parse_step(line) {
            self.step = Some(format!("{step} {instruction}"));
            let _ = self.events.send(
                BuildEvent {
                    kind: EventKind::Step,
                    ..event
                }
                .step(step)
                .message(instruction),
            );
        } else {
            let mut event = event.message(line);
            if let Some(step) = &self.step {
                event = event.step(step.split(' ').next().unwrap_or_default());
            }
            let _ = self.events.send(event);
        }
    }
}

/// `Step 2/5 : RUN make` -> (`2/5`, `RUN make`).
fn parse_step(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("Step ")?;
    let (step, instruction) = rest.split_once(" : ")?;
    step.split_once('/')?;
    Some((step, instruction))
}

pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::parse_step;

    #[test]
    fn step_headers() {
        assert_eq!(
            parse_step("Step 2/5 : RUN uname -m > /arch"),
            Some(("2/5", "RUN uname -m > /arch"))
        );
        assert_eq!(parse_step(" ---> Running in 1234"), None);
        assert_eq!(parse_step("Step up : nothing"), None);
    }
}
