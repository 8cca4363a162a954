//! What the record and the event stream say about a finished image.

use crate::image::group::short_id;
use crate::image::log::CappedLog;
use crate::image::{human_bytes, BuildEvent, EventKind, ImageError, JobResult};
use crate::plan::jobs::ImageJob;
use crate::release::{now_ms, ImageOutcome, ImageStatus};

/// Lines of log quoted when a service fails.
const FAILURE_LINES: usize = 10;

/// The record and the closing event of a finished job.
pub fn settle(done: JobResult) -> (ImageOutcome, BuildEvent) {
    let JobResult {
        job,
        started_at_ms,
        result,
        log,
    } = done;
    let ended_at_ms = now_ms();
    let base = |kind| BuildEvent::for_image(kind, &job.service, &job.arch);
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
    match result {
        Ok(built) => (
            ImageOutcome {
                image_id: Some(built.image_id.clone()),
                size_bytes: Some(built.size_bytes),
                context_bytes: Some(built.context_bytes as i64),
                ..outcome(ImageStatus::Success, None)
            },
            base(EventKind::Succeeded).message(format!(
                "{} ({}, {}) in {:.1}s",
                job.tag,
                short_id(&built.image_id),
                human_bytes(built.size_bytes.max(0) as u64),
                (ended_at_ms - started_at_ms) as f64 / 1000.0
            )),
        ),
        Err(ImageError::Cancelled) => (
            outcome(ImageStatus::Cancelled, Some("cancelled".into())),
            base(EventKind::Cancelled),
        ),
        Err(error) => {
            let message = failure_message(&job, &error.to_string(), &log);
            let mut event = base(EventKind::Failed).error(message.trim_end());
            if let Some(step) = error.step() {
                event = event.step(step_id(step));
            }
            (outcome(ImageStatus::Failed, Some(error.to_string())), event)
        }
    }
}

/// The record of a job whose build task ended without a result (a panic):
/// failed, with the log it had printed.
pub fn aborted(job: &ImageJob, log: CappedLog, reason: &str) -> (ImageOutcome, BuildEvent) {
    let error = ImageError::Aborted(format!("the task {reason}"));
    let message = failure_message(job, &error.to_string(), &log);
    (
        ImageOutcome {
            status: ImageStatus::Failed,
            image_id: None,
            size_bytes: None,
            context_bytes: None,
            log: log.render(),
            error: Some(error.to_string()),
            started_at_ms: None,
            ended_at_ms: now_ms(),
        },
        BuildEvent::for_image(EventKind::Failed, &job.service, &job.arch).error(message.trim_end()),
    )
}

fn failure_message(job: &ImageJob, error: &str, log: &CappedLog) -> String {
    let mut message = format!("service `{}` ({}): {error}", job.service, job.arch);
    let last = log.last_lines(FAILURE_LINES);
    if !last.is_empty() {
        message.push_str("\nlast log lines:\n");
        for line in &last {
            message.push_str(&format!("  {line}\n"));
        }
    }
    message
}

/// `2/5 RUN make` -> `2/5`; `build 2/4 RUN make` -> `build 2/4`.
fn step_id(step: &str) -> String {
    let words: Vec<&str> = step.split(' ').collect();
    match words.iter().position(|w| w.contains('/')) {
        Some(at) => words[..=at].join(" "),
        None => words.first().copied().unwrap_or_default().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::step_id;

    #[test]
    fn step_ids() {
        assert_eq!(step_id("2/5 RUN make"), "2/5");
        assert_eq!(step_id("build 2/4 RUN make"), "build 2/4");
        assert_eq!(step_id("?"), "?");
    }
}
