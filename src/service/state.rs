//! What every request handler and the build queue share.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::hub::Hubs;
use super::metrics::Metrics;
use super::ServeConfig;
use crate::plugin_host::{PluginHost, PluginSet};
use crate::store::SharedStore;

pub struct State {
    pub store: SharedStore,
    /// Other replicas share the store (PostgreSQL): builds may run
    /// elsewhere, their events come through the store.
    pub shared: bool,
    /// This process in build leases.
    pub owner: String,
    /// Whether the database answered its last check (`/healthz`).
    pub healthy: std::sync::atomic::AtomicBool,
    /// Whether this replica moves rollouts on (always, alone; the holder
    /// of the `rollouts` lease among replicas).
    pub leads_rollouts: std::sync::atomic::AtomicBool,
    /// Release ids with new stored events (from the database's NOTIFY).
    pub log_wake: tokio::sync::broadcast::Sender<i64>,
    /// Devices, targets and rollouts in memory (the poll path reads only this).
    pub fleet: super::fleet::Fleet,
    pub host: Arc<PluginHost>,
    pub plugins: Arc<PluginSet>,
    pub config: ServeConfig,
    pub paths: Paths,
    pub hubs: Hubs,
    pub metrics: Metrics,
    /// Builds running in this process, by release id.
    pub running: Mutex<HashMap<i64, CancellationToken>>,
    /// Wakes the queue when a release is queued or a slot frees.
    pub wake: Notify,
    /// What this process's git hooks authenticate with (random per start).
    pub hook_secret: String,
    /// Where the hooks reach this process.
    pub hook_url: String,
}

/// Where the service keeps things under its data dir.
pub struct Paths {
    /// One bare git repository per app: `<app>.git`.
    pub repos: PathBuf,
    /// The project tree of each queued release, by release hash.
    pub sources: PathBuf,
    /// Uploads being received.
    pub uploads: PathBuf,
}

impl Paths {
    /// Under the data dir; repositories and queued sources under `git_dir`
    /// when given (storage every replica shares: a push received by one
    /// replica is built by another).
    pub fn new(data_dir: &std::path::Path, git_dir: Option<&std::path::Path>) -> Paths {
        let (repos, sources) = match git_dir {
            // `queued-sources` cannot clash with a repository (`<app>.git`).
            Some(dir) => (dir.to_path_buf(), dir.join("queued-sources")),
            None => (data_dir.join("repos"), data_dir.join("sources")),
        };
        Paths {
            repos,
            sources,
            uploads: data_dir.join("uploads"),
        }
    }

    /// The lock file that keeps two pushes to one app from interleaving.
    pub fn repo_lock(&self, app: &str) -> PathBuf {
        self.repos.join(format!("{app}.git.lock"))
    }

    pub fn repo(&self, app: &str) -> PathBuf {
        self.repos.join(format!("{app}.git"))
    }

    pub fn source(&self, release_hash: &str) -> PathBuf {
        self.sources.join(release_hash)
    }
}
