//! The outcome of detection: the plan, and every problem met on the way.

use serde::Serialize;

use crate::plan::BuildPlan;

/// What went wrong, kept next to whatever could still be planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    /// The service it concerns, when it concerns one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The plugin it concerns, as `name@version` (or its file when it did not load).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// No plugin recognised a service's context.
    NothingDetected,
    /// The project is malformed (bad file, missing context, unknown variable...).
    InvalidProject,
    /// A plugin trapped, timed out, hit a limit, or could not be loaded.
    PluginFailed,
}

#[derive(Debug, Clone, Serialize)]
pub struct DetectReport {
    pub plan: BuildPlan,
    pub problems: Vec<Problem>,
}

impl DetectReport {
    /// Nothing went wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// Some service was recognised by no plugin, and nothing else failed.
    pub fn only_nothing_detected(&self) -> bool {
        !self.problems.is_empty()
            && self
                .problems
                .iter()
                .all(|p| p.kind == ProblemKind::NothingDetected)
    }
}
