//! Giving a built image a job's labels, command and tag without creating a
//! container (images without CMD cannot have one created).
//!
//! - BuildKit, one job, no command: the labels go with the layers build
//!   (config only, no layer) and the image is tagged: nothing else.
//! - Otherwise (shared builds, per-process commands, the classic builder):
//!   a second build whose context is one small Dockerfile, `FROM` the
//!   layers plus `ENTRYPOINT []`/`CMD` and the labels. Metadata only: it
//!   runs nothing and holds no large context while it commits.

use std::collections::BTreeMap;

use bollard::query_parameters::{RemoveImageOptionsBuilder, TagImageOptionsBuilder};
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::builder::{self, Builder, EngineBuild};
use super::engine::Engine;
use super::error::ImageError;
use super::output::Output;
use crate::plan::jobs::ImageJob;
use crate::plan::Command;

const STAMP_DOCKERFILE: &str = "Dockerfile";

/// Builds `job`'s final image from the image `from` (a tag), returning its id.
pub(crate) async fn stamp(
    engine: &Engine,
    builder: Builder,
    from: &str,
    job: &ImageJob,
    out: &mut Output<'_>,
    cancel: &CancellationToken,
) -> Result<String, ImageError> {
    let dockerfile = stamp_dockerfile(from, job.command.as_ref(), builder, &job.labels);
    let context = tiny_context(&dockerfile).map_err(|e| ImageError::Engine {
        endpoint: engine.endpoint.clone(),
        message: format!("writing the labelling context: {e}"),
    })?;
    let (sender, chunks) = tokio::sync::mpsc::channel(1);
    let _ = sender.send(Ok(context)).await;
    drop(sender);
    let no_args = BTreeMap::new();
    let request = EngineBuild {
        platform: &job.platform,
        dockerfile: STAMP_DOCKERFILE,
        build_args: &no_args,
        labels: match builder {
            Builder::Buildkit => &job.labels,
            // The classic builder's `labels` would add a LABEL step anyway;
            // the Dockerfile already has it.
            Builder::Classic => &no_args,
        },
        target: None,
        no_cache: false,
        pull: false,
        session: None,
    };
    // The stamp's own progress is noise in the service's log.
    let mut quiet = super::log::CappedLog::default();
    let mut stamp_out = Output::quiet(out.service, out.arch, &mut quiet);
    let built = builder::build(builder, engine, &request, chunks, &mut stamp_out, cancel).await;
    match built {
        Ok(id) => Ok(id),
        Err(ImageError::Step { message, .. }) => Err(ImageError::Engine {
            endpoint: engine.endpoint.clone(),
            message: format!("labelling {from} as {}: {message}", job.tag),
        }),
        Err(e) => Err(e),
    }
}

/// Tags `image` as `reference` (`repo:tag`).
pub(crate) async fn tag(engine: &Engine, image: &str, reference: &str) -> Result<(), ImageError> {
    let (repo, tag) = reference.rsplit_once(':').unwrap_or((reference, "latest"));
    engine
        .docker
        .tag_image(
            image,
            Some(
                TagImageOptionsBuilder::default()
                    .repo(repo)
                    .tag(tag)
                    .build(),
            ),
        )
        .await
        .map_err(|e| ImageError::Engine {
            endpoint: engine.endpoint.clone(),
            message: format!("tagging {image} as {reference}: {e}"),
        })
}

/// Removes a tag, never the image's layers (other tags share them).
pub(crate) async fn untag(engine: &Engine, reference: &str) {
    let options = RemoveImageOptionsBuilder::default().noprune(true).build();
    if let Err(e) = engine
        .docker
        .remove_image(reference, Some(options), None)
        .await
    {
        tracing::warn!(reference, "could not remove a temporary tag: {e}");
    }
}

fn stamp_dockerfile(
    from: &str,
    command: Option<&Command>,
    builder: Builder,
    labels: &BTreeMap<String, String>,
) -> String {
    let mut dockerfile = format!("FROM {from}\n");
    if let Some(command) = command {
        // ENTRYPOINT resets CMD, so it comes first; an empty one clears the
        // base's, and the planned process runs whatever the Dockerfile said.
        let argv = serde_json::to_string(&command.argv()).unwrap_or_default();
        dockerfile.push_str(&format!("ENTRYPOINT []\nCMD {argv}\n"));
    }
    if builder == Builder::Classic && !labels.is_empty() {
        dockerfile.push_str("LABEL");
        for (key, value) in labels {
            // JSON string quoting is a valid Dockerfile double-quoted word.
            let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
            dockerfile.push_str(&format!(" {}={}", quote(key), quote(value)));
        }
        dockerfile.push('\n');
    }
    dockerfile
}

fn tiny_context(dockerfile: &str) -> std::io::Result<Bytes> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    tar.append_data(&mut header, STAMP_DOCKERFILE, dockerfile.as_bytes())?;
    Ok(Bytes::from(tar.into_inner()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_clears_the_entrypoint_first() {
        let labels = BTreeMap::from([("io.slipway.app".to_string(), "a \"b\"".to_string())]);
        let command = Command::Shell("node worker.js".into());
        let text = stamp_dockerfile(
            "app/web:1-amd64-layers",
            Some(&command),
            Builder::Classic,
            &labels,
        );
        assert_eq!(
            text,
            "FROM app/web:1-amd64-layers\nENTRYPOINT []\nCMD [\"/bin/sh\",\"-c\",\"node worker.js\"]\n\
             LABEL \"io.slipway.app\"=\"a \\\"b\\\"\"\n"
        );
        let text = stamp_dockerfile("x:y", None, Builder::Buildkit, &labels);
        assert_eq!(
            text, "FROM x:y\n",
            "BuildKit takes labels as a build option"
        );
    }
}
