//! Why a plugin could not be loaded, or why one of its calls failed.

use std::path::PathBuf;
use std::time::Duration;

use super::api::ReportedError;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read plugin {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("plugin {origin} is not a usable WebAssembly component: {reason}")]
    Invalid { origin: String, reason: String },
    #[error(
        "plugin {origin} imports `{import}`, which is outside the slipway:plugin contract \
         (plugins get no WASI and no other host access)"
    )]
    ForbiddenImport { origin: String, import: String },
    #[error(
        "plugin {origin} was built for contract {plugin_version}, but this host serves {served}"
    )]
    IncompatibleContract {
        origin: String,
        plugin_version: String,
        served: String,
    },
    #[error("plugin {origin} does not export `{export}`")]
    MissingExport { origin: String, export: String },
    #[error("plugin {origin} failed to describe itself: {error}")]
    Info { origin: String, error: CallError },
    #[error(
        "plugin {plugin} ({origin}) does not match the sha256 pinned in {policy}: \
         pinned {pinned}, file has {actual}"
    )]
    PinMismatch {
        plugin: String,
        origin: String,
        policy: String,
        pinned: String,
        actual: String,
    },
    #[error("plugin {plugin} ({origin}) is not version {pinned}, as pinned in {policy}")]
    VersionMismatch {
        plugin: String,
        origin: String,
        policy: String,
        pinned: String,
    },
    #[error(
        "plugin {plugin} ({origin}) has no sha256 pin in {policy}: under a policy every \
         plugin that is not built in must be pinned (its sha256 is {actual})"
    )]
    Unpinned {
        plugin: String,
        origin: String,
        policy: String,
        actual: String,
    },
    #[error(
        "plugin file {path} (sha256 {actual}) is not pinned by {policy}: under a policy, a \
         plugin file is compiled and run only when its sha256 is one the policy pins ({pins}); \
         add `sha256 = \"{actual}\"` to its entry if you trust it"
    )]
    NotPinnedFile {
        path: PathBuf,
        policy: String,
        actual: String,
        /// The digests the policy pins, for the message.
        pins: String,
    },
    #[error("{policy}: plugin `{name}`: {source}")]
    Fetch {
        policy: String,
        name: String,
        #[source]
        source: Box<crate::registry::artifact::ArtifactError>,
    },
    #[error("{policy}: plugin `{name}` comes from oci://{reference}, whose component calls itself `{actual}`: nothing of it was run past its info")]
    FetchedNameMismatch {
        policy: String,
        name: String,
        reference: String,
        actual: String,
    },
    #[error("{policy} configures plugin `{name}`, which is not loaded")]
    UnknownInPolicy { policy: String, name: String },
    #[error("plugin {origin} is named `{name}`, like the already loaded {other}")]
    Duplicate {
        origin: String,
        name: String,
        other: String,
    },
}

/// How a call into a plugin failed. Each is contained: the host and the
/// other plugins carry on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// A built-in prepared on first use could not be (a broken build).
    #[error("cannot be prepared: {0}")]
    Unavailable(String),
    #[error("exceeded its CPU deadline of {} ms", deadline.as_millis())]
    Timeout { deadline: Duration },
    #[error("exceeded its memory limit of {} MiB", limit >> 20)]
    MemoryLimit { limit: usize },
    #[error("returned {size} bytes, over the output cap of {cap} bytes")]
    OutputTooLarge { size: usize, cap: usize },
    #[error("trapped: {reason}")]
    Trap { reason: String },
    #[error("{0}")]
    Reported(ReportedError),
    #[error("returned a malformed answer: {0}")]
    Malformed(String),
    #[error("cannot open its view of {path}: {reason}")]
    Root { path: PathBuf, reason: String },
}

impl CallError {
    /// True when the plugin judged the project invalid (as opposed to failing).
    pub fn is_invalid_project(&self) -> bool {
        matches!(
            self,
            CallError::Reported(ReportedError::InvalidProject { .. })
        )
    }
}
