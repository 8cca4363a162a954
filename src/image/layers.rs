//! Building a job's layers: stream its context to the builder, turn a
//! failure into a message that names the step and what to do, and check the
//! result is for the platform asked for. Nothing is tagged here.

use std::collections::BTreeMap;

use tokio_util::sync::CancellationToken;

use super::builder::{self, Builder, EngineBuild};
use super::context::{BuildContext, ContextError, ContextStats, DOCKERFILE_NAME};
use super::engine::Engine;
use super::error::{frontend_hint, ImageError};
use super::events::EventKind;
use super::output::Output;
use super::platform::Platform;
use crate::plan::jobs::ImageJob;

/// A built and checked image.
#[derive(Debug, Clone)]
pub struct Layers {
    pub id: String,
    pub size_bytes: i64,
    pub context: ContextStats,
}

/// Builds `job`'s layers; `labels` are set on the image when the builder
/// can do so without a layer (BuildKit), else pass none.
pub(crate) async fn build_layers(
    engine: &Engine,
    builder: Builder,
    job: &ImageJob,
    labels: &BTreeMap<String, String>,
    session: Option<&str>,
    out: &mut Output<'_>,
    cancel: &CancellationToken,
) -> Result<Layers, ImageError> {
    let context = BuildContext::prepare(
        &job.context_dir,
        &job.context_display,
        job.dockerfile.clone(),
    )?;
    let (chunks, writer) = context.stream();
    let request = EngineBuild {
        platform: &job.platform,
        dockerfile: DOCKERFILE_NAME,
        build_args: &job.build_args,
        labels,
        target: job.target_stage.as_deref(),
        no_cache: job.no_cache,
        pull: job.pull,
        session,
    };
    let built = builder::build(builder, engine, &request, chunks, out, cancel).await;
    if built.is_err() {
        // The engine stopped reading; the walker sees a closed channel.
        writer.abort();
    }
    // A context error is the real cause when the writer failed.
    let context = match writer.await {
        Ok(Ok(stats)) => stats,
        Ok(Err(ContextError::Closed)) | Err(_) => ContextStats::default(),
        Ok(Err(e)) => return Err(e.into()),
    };
    let id = match built {
        Ok(id) => id,
        Err(ImageError::Step { step, message, .. }) => {
            out.line(&message, None, None).await;
            // The engine's error is only "returned a non-zero code"; the
            // kernel's refusal to run a foreign binary is in the step's output.
            let foreign_binary_refused = message.contains("exec format error")
                || out
                    .log
                    .last_lines(5)
                    .iter()
                    .any(|line| line.contains("exec format error"));
            if foreign_binary_refused {
                return Err(ImageError::NoEmulation {
                    step,
                    platform: job.platform.clone(),
                });
            }
            // BuildKit does not use a local base image of another platform:
            // it asks the registry and reports that failure instead.
            if let Some(image) = step.strip_prefix("internal load metadata for ") {
                if let Some(found) = local_platform(engine, image).await {
                    if !Platform::parse(&job.platform).accepts(&found) {
                        return Err(ImageError::BaseImagePlatform {
                            step: step.clone(),
                            image: image.to_string(),
                            expected: job.platform.clone(),
                            found: found.to_string(),
                            message,
                        });
                    }
                }
            }
            let hint = frontend_hint(&job.dockerfile, &message);
            return Err(ImageError::Step {
                step,
                message,
                hint,
            });
        }
        Err(e) => return Err(e),
    };
    out.event(
        EventKind::Context,
        format!(
            "build context: {} files, {}",
            context.files,
            super::human_bytes(context.bytes)
        ),
    )
    .await;

    let inspected = engine
        .docker
        .inspect_image(&id)
        .await
        .map_err(|e| ImageError::Engine {
            endpoint: engine.endpoint.clone(),
            message: format!("inspecting {id}: {e}"),
        })?;
    let found = Platform::of_image(&inspected);
    let expected = Platform::parse(&job.platform);
    if !expected.accepts(&found) {
        return Err(ImageError::PlatformMismatch {
            expected: expected.to_string(),
            found: found.to_string(),
        });
    }
    Ok(Layers {
        id,
        size_bytes: inspected.size.unwrap_or(0),
        context,
    })
}

/// The platform of an image on the engine, if it has one by that name.
async fn local_platform(engine: &Engine, image: &str) -> Option<Platform> {
    let short = image
        .strip_prefix("docker.io/library/")
        .or_else(|| image.strip_prefix("docker.io/"))
        .unwrap_or(image);
    let found = engine.docker.inspect_image(short).await.ok()?;
    Some(Platform::of_image(&found))
}
