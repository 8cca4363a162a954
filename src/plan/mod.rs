//! The build plan: what detection decided, in one place.
//!
//! Detection (`crate::detect`) produces a [`BuildPlan`]; the build stage
//! consumes it. Everything here is plain data, serialisable for `--json`
//! and for the release record.

pub mod jobs;
pub mod tags;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a project is built for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    pub device_type: String,
    /// Balena architecture slug: `rpi`, `armv7hf`, `aarch64`, `amd64`, `i386`.
    pub arch: String,
    /// Docker platform, e.g. `linux/arm64`.
    pub platform: String,
}

/// A plugin, as `name@version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginRef {
    pub name: String,
    pub version: String,
}

impl std::fmt::Display for PluginRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name, self.version)
    }
}

/// A file and why it mattered to a plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    pub file: String,
    pub reason: String,
}

/// One plugin's verdict on one service context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub plugin: String,
    pub version: String,
    /// What the plugin recognised; empty when it failed.
    pub project_type: String,
    pub evidence: Vec<Evidence>,
    /// The candidate that planned the service.
    pub chosen: bool,
    /// Why the plugin failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Where a service's Dockerfile came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DockerfileOrigin {
    /// A file of the context, used as is.
    File,
    /// A file of the context with `%%VARIABLES%%` substituted.
    Template,
    /// Written by the plugin.
    Generated,
}

/// The Dockerfile a service is built with, fully resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dockerfile {
    pub origin: DockerfileOrigin,
    /// The file in the context it came from (none when generated).
    pub source_path: Option<String>,
    pub content: String,
}

/// How one service gets its image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ServiceSource {
    /// Built from a context with a Dockerfile.
    Build(Box<BuildRecipe>),
    /// A prebuilt image, nothing to build.
    Image { image: String },
}

/// Everything the build stage needs for one service on one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildRecipe {
    /// The name of the plugin that planned the service.
    pub project_type: String,
    pub plugin: PluginRef,
    pub dockerfile: Dockerfile,
    pub build_args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// The multi-stage target, when the project names one.
    pub target_stage: Option<String>,
    /// What the plugin and the host want the user to know.
    pub notes: Vec<String>,
    /// Build secrets mounted during `RUN --mount=type=secret` steps.
    pub secrets: Vec<BuildSecret>,
}

/// A build secret: a project file (read at build time, never recorded) and
/// the id a `RUN --mount=type=secret,id=ID` step mounts it under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildSecret {
    pub id: String,
    /// Relative to the project root, e.g. `.balena/secrets/npmrc`.
    pub source: String,
}

/// A command line a container runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "form", content = "command", rename_all = "kebab-case")]
pub enum Command {
    /// Run by `/bin/sh -c` (a Procfile entry).
    Shell(String),
    /// Program and arguments, run as is.
    Exec(Vec<String>),
}

impl Command {
    /// The argv the container starts with (its CMD; the ENTRYPOINT is emptied).
    pub fn argv(&self) -> Vec<String> {
        match self {
            Command::Shell(line) => vec!["/bin/sh".into(), "-c".into(), line.clone()],
            Command::Exec(argv) => argv.clone(),
        }
    }
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Shell(line) => write!(f, "{line}"),
            Command::Exec(argv) => write!(f, "{}", argv.join(" ")),
        }
    }
}

/// When a hook runs, relative to the release going live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookPhase {
    /// Before the release becomes the target; a failure stops the rollout.
    Release,
    /// After the release is live.
    Postdeploy,
}

impl HookPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            HookPhase::Release => "release",
            HookPhase::Postdeploy => "postdeploy",
        }
    }
}

/// A one-off command run for a release in a container of a service's image.
/// Recorded with the release; the rollout stage runs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hook {
    pub phase: HookPhase,
    pub service: String,
    pub command: Command,
}

impl std::fmt::Display for Hook {
    /// `release    in web: node migrate.js`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<10} in {}: {}",
            self.phase.as_str(),
            self.service,
            self.command
        )
    }
}

/// One service of the project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServicePlan {
    pub name: String,
    /// Build context, relative to the project root (`.` for the root).
    pub context: String,
    pub source: ServiceSource,
    /// The process the service runs instead of the image's CMD/ENTRYPOINT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    /// Every plugin that matched the context, the chosen one marked.
    pub candidates: Vec<Candidate>,
}

/// How the project is split into services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Composition {
    /// Nothing splits it: one service, `main`, with the root as context.
    SingleService,
    /// A project-scope plugin split it: a compose file, a Procfile...
    Plugin {
        /// What the plugin recognised (`compose`, `procfile`), shown as the kind.
        kind: String,
        /// The file that defines the services.
        file: String,
        plugin: PluginRef,
    },
}

impl Serialize for Composition {
    /// `{"kind": "single-service"}`, or `{"kind": "compose", "file": ..., "plugin": ...}`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Composition::SingleService => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("kind", "single-service")?;
                map.end()
            }
            Composition::Plugin { kind, file, plugin } => {
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("kind", kind)?;
                map.serialize_entry("file", file)?;
                map.serialize_entry("plugin", plugin)?;
                map.end()
            }
        }
    }
}

/// The plan for building a project for one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildPlan {
    pub app: String,
    pub target: Target,
    pub composition: Composition,
    pub services: Vec<ServicePlan>,
    /// Release hooks, in the order the project states them.
    pub hooks: Vec<Hook>,
    pub warnings: Vec<String>,
}

/// The name of the single service of a project without a compose file.
pub const DEFAULT_SERVICE: &str = "main";
