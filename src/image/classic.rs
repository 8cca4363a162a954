//! The classic builder, through bollard: output is text, steps are
//! `Step N/M : INSTRUCTION` lines.

use std::collections::HashMap;

use bollard::query_parameters::BuildImageOptionsBuilder;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::builder::{ContextChunks, EngineBuild};
use super::engine::Engine;
use super::error::ImageError;
use super::output::Output;

pub(crate) async fn build(
    engine: &Engine,
    request: &EngineBuild<'_>,
    chunks: ContextChunks,
    out: &mut Output<'_>,
    cancel: &CancellationToken,
) -> Result<String, ImageError> {
    let body = super::builder::chunk_stream(chunks);
    let build_args: HashMap<&str, &str> = request
        .build_args
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let labels: HashMap<&str, &str> = request
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut options = BuildImageOptionsBuilder::default()
        .dockerfile(request.dockerfile)
        .platform(request.platform)
        .buildargs(&build_args)
        .labels(&labels)
        .nocache(request.no_cache)
        .rm(true)
        .forcerm(true);
    if request.pull {
        options = options.pull("true");
    }
    if let Some(stage) = request.target {
        options = options.target(stage);
    }
    let mut output =
        engine
            .docker
            .build_image(options.build(), None, Some(bollard::body_try_stream(body)));

    let mut partial = String::new();
    let mut image_id = None;
    loop {
        let item = tokio::select! {
            // Dropping the request closes the connection; the engine then
            // stops the build and removes its container.
            _ = cancel.cancelled() => return Err(ImageError::Cancelled),
            item = output.next() => item,
        };
        let Some(item) = item else { break };
        match item {
            Ok(info) => {
                let text = info
                    .stream
                    .or_else(|| info.status.map(|status| format!("{status}\n")));
                if let Some(text) = text {
                    partial.push_str(&text);
                    while let Some(end) = partial.find('\n') {
                        let line: String = partial.drain(..=end).collect();
                        line_out(line.trim_end(), out, &mut image_id).await;
                    }
                }
                if let Some(id) = info.aux.and_then(|aux| aux.id) {
                    image_id = Some(id);
                }
            }
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                flush(&mut partial, out, &mut image_id).await;
                return Err(ImageError::Step {
                    step: out.step_text().unwrap_or_else(|| "?".into()),
                    message: error,
                    hint: String::new(),
                });
            }
            Err(e) => {
                return Err(ImageError::Engine {
                    endpoint: engine.endpoint.clone(),
                    message: e.to_string(),
                })
            }
        }
    }
    flush(&mut partial, out, &mut image_id).await;
    image_id.ok_or_else(|| ImageError::Engine {
        endpoint: engine.endpoint.clone(),
        message: "the build ended without naming the image it built".into(),
    })
}

async fn flush(partial: &mut String, out: &mut Output<'_>, image_id: &mut Option<String>) {
    let rest = std::mem::take(partial);
    line_out(rest.trim_end(), out, image_id).await;
}

async fn line_out(line: &str, out: &mut Output<'_>, image_id: &mut Option<String>) {
    if line.is_empty() {
        return;
    }
    if let Some(id) = line.strip_prefix("Successfully built ") {
        image_id.get_or_insert_with(|| id.trim().to_string());
    }
    match parse_step(line) {
        Some((step, instruction)) => {
            out.line(line, Some(step), Some(instruction)).await;
        }
        None => {
            let step = out.step.as_ref().map(|(id, _)| id.clone());
            out.line(line, step.as_deref(), None).await;
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
