//! What a build reports while it runs. One flat shape, so `--json` is plain
//! newline-delimited JSON a machine can filter on `kind`, `service`, `arch`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// The release exists; `message` is its id.
    Release,
    /// A service's image build started.
    Started,
    /// The build context was sent; `message` says how big it was.
    Context,
    /// A Dockerfile step began; `step` is e.g. `2/5`.
    Step,
    /// A line of build output.
    Log,
    /// The image was built and checked.
    Succeeded,
    Failed,
    Cancelled,
    /// A service with a prebuilt image: nothing to build.
    Prebuilt,
    /// The image is in the registry; `message` is its digest reference.
    Pushed,
    /// The release ended; `message` is its status.
    Finished,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildEvent {
    /// Unix milliseconds.
    pub time: i64,
    pub kind: EventKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl BuildEvent {
    pub fn new(kind: EventKind) -> BuildEvent {
        BuildEvent {
            time: crate::release::now_ms(),
            kind,
            service: None,
            arch: None,
            step: None,
            message: None,
            error: None,
        }
    }

    pub fn for_image(kind: EventKind, service: &str, arch: &str) -> BuildEvent {
        BuildEvent {
            service: Some(service.to_string()),
            arch: Some(arch.to_string()),
            ..BuildEvent::new(kind)
        }
    }

    pub fn message(mut self, message: impl Into<String>) -> BuildEvent {
        self.message = Some(message.into());
        self
    }

    pub fn step(mut self, step: impl Into<String>) -> BuildEvent {
        self.step = Some(step.into());
        self
    }

    pub fn error(mut self, error: impl Into<String>) -> BuildEvent {
        self.error = Some(error.into());
        self
    }
}
