//! Where a build's output goes while it runs: the image's capped log (kept in
//! the record) and the event stream (shown live). Both builders feed lines
//! here; events go through a bounded channel, so a slow reader slows the
//! build's output down instead of growing memory.

use tokio::sync::mpsc::Sender;

use super::events::{BuildEvent, EventKind};
use super::log::CappedLog;

pub(crate) struct Output<'a> {
    pub service: &'a str,
    pub arch: &'a str,
    pub log: &'a mut CappedLog,
    /// `None`: lines go to the log only (a stamp build's own progress).
    events: Option<&'a Sender<BuildEvent>>,
    /// The step running now: its id (`2/5`, `build 2/4`) and instruction.
    pub step: Option<(String, String)>,
}

impl<'a> Output<'a> {
    pub fn new(
        service: &'a str,
        arch: &'a str,
        log: &'a mut CappedLog,
        events: &'a Sender<BuildEvent>,
    ) -> Output<'a> {
        Output {
            service,
            arch,
            log,
            events: Some(events),
            step: None,
        }
    }

    /// Output kept in `log` only, sent nowhere.
    pub fn quiet(service: &'a str, arch: &'a str, log: &'a mut CappedLog) -> Output<'a> {
        Output {
            service,
            arch,
            log,
            events: None,
            step: None,
        }
    }

    /// One line of output; `step` is the step it belongs to, `opens` when it
    /// is the step's header.
    pub async fn line(&mut self, text: &str, step: Option<&str>, opens: Option<&str>) {
        self.log.push(text);
        self.log.push("\n");
        let event = BuildEvent::for_image(EventKind::Log, self.service, self.arch);
        let event = match (step, opens) {
            (Some(step), Some(instruction)) => {
                self.step = Some((step.to_string(), instruction.to_string()));
                BuildEvent {
                    kind: EventKind::Step,
                    ..event
                }
                .step(step)
                .message(instruction)
            }
            (Some(step), None) => event.step(step).message(text),
            (None, _) => event.message(text),
        };
        if let Some(events) = self.events {
            let _ = events.send(event).await;
        }
    }

    /// A line Slipway itself adds to the log (`[slipway] ...`).
    pub async fn note(&mut self, text: &str) {
        self.line(&format!("[slipway] {text}"), None, None).await;
    }

    /// An event about this image other than a log line.
    pub async fn event(&self, kind: EventKind, message: String) {
        if let Some(events) = self.events {
            let _ = events
                .send(BuildEvent::for_image(kind, self.service, self.arch).message(message))
                .await;
        }
    }

    /// The current step as errors name it: `2/5 RUN make`.
    pub fn step_text(&self) -> Option<String> {
        self.step
            .as_ref()
            .map(|(id, instruction)| format!("{id} {instruction}"))
    }
}
