//! What plugins tell the host, independent of the contract version that
//! carried it. Each `contract::vX_Y` module converts into these types.

use crate::plan::{Command, Evidence, Hook};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Plans one build context.
    Service,
    /// Splits a project into services (compose).
    Project,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub contract_version: String,
    pub priority: i32,
    pub scope: Scope,
    pub description: String,
    /// Root entry globs of which one must be present for `detect` to be
    /// worth calling; empty: always called.
    pub looks_for: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub project_type: String,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerfileSource {
    Path(String),
    Template(String),
    Generated(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePlanOutput {
    pub dockerfile: DockerfileSource,
    pub build_args: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSpec {
    pub context: String,
    pub dockerfile: Option<String>,
    pub args: Vec<(String, String)>,
    pub target: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceSpecSource {
    Build(BuildSpec),
    Image(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpec {
    pub name: String,
    pub source: ServiceSpecSource,
    pub command: Option<Command>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPlanOutput {
    pub services: Vec<ServiceSpec>,
    pub hooks: Vec<Hook>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanOutput {
    Service(ServicePlanOutput),
    Project(ProjectPlanOutput),
}

/// An error the plugin itself reported, meant for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportedError {
    InvalidProject {
        file: Option<String>,
        line: Option<u32>,
        column: Option<u32>,
        message: String,
    },
    Failed(String),
}

impl std::fmt::Display for ReportedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReportedError::InvalidProject {
                file,
                line,
                column,
                message,
            } => {
                if let Some(file) = file {
                    write!(f, "{file}")?;
                    if let Some(line) = line {
                        write!(f, ":{line}")?;
                        if let Some(column) = column {
                            write!(f, ":{column}")?;
                        }
                    }
                    write!(f, ": ")?;
                }
                write!(f, "{message}")
            }
            ReportedError::Failed(message) => write!(f, "{message}"),
        }
    }
}

/// Bytes of text in a plugin's answer, checked against the output cap.
pub(crate) trait OutputSize {
    fn output_size(&self) -> usize;
}

fn pairs(p: &[(String, String)]) -> usize {
    p.iter().map(|(k, v)| k.len() + v.len()).sum()
}

fn strings(s: &[String]) -> usize {
    s.iter().map(String::len).sum()
}

fn command_size(c: &Command) -> usize {
    match c {
        Command::Shell(line) => line.len(),
        Command::Exec(argv) => strings(argv),
    }
}

impl OutputSize for PluginInfo {
    fn output_size(&self) -> usize {
        self.name.len()
            + self.version.len()
            + self.contract_version.len()
            + self.description.len()
            + strings(&self.looks_for)
    }
}

impl OutputSize for Detection {
    fn output_size(&self) -> usize {
        self.project_type.len()
            + self
                .evidence
                .iter()
                .map(|e| e.file.len() + e.reason.len())
                .sum::<usize>()
    }
}

impl OutputSize for PlanOutput {
    fn output_size(&self) -> usize {
        match self {
            PlanOutput::Service(s) => {
                let dockerfile = match &s.dockerfile {
                    DockerfileSource::Path(p)
                    | DockerfileSource::Template(p)
                    | DockerfileSource::Generated(p) => p.len(),
                };
                dockerfile + pairs(&s.build_args) + pairs(&s.labels) + strings(&s.notes)
            }
            PlanOutput::Project(p) => {
                strings(&p.warnings)
                    + p.hooks
                        .iter()
                        .map(|h| h.service.len() + command_size(&h.command))
                        .sum::<usize>()
                    + p.services
                        .iter()
                        .map(|s| {
                            s.name.len()
                                + s.command.as_ref().map_or(0, command_size)
                                + match &s.source {
                                    ServiceSpecSource::Image(i) => i.len(),
                                    ServiceSpecSource::Build(b) => {
                                        b.context.len()
                                            + b.dockerfile.as_ref().map_or(0, String::len)
                                            + pairs(&b.args)
                                            + b.target.as_ref().map_or(0, String::len)
                                    }
                                }
                        })
                        .sum::<usize>()
            }
        }
    }
}

impl<T: OutputSize> OutputSize for Option<T> {
    fn output_size(&self) -> usize {
        self.as_ref().map_or(0, OutputSize::output_size)
    }
}

impl OutputSize for ReportedError {
    fn output_size(&self) -> usize {
        match self {
            ReportedError::InvalidProject { file, message, .. } => {
                file.as_ref().map_or(0, String::len) + message.len()
            }
            ReportedError::Failed(m) => m.len(),
        }
    }
}

impl<T: OutputSize, E: OutputSize> OutputSize for Result<T, E> {
    fn output_size(&self) -> usize {
        match self {
            Ok(t) => t.output_size(),
            Err(e) => e.output_size(),
        }
    }
}
