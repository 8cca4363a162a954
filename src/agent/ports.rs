//! What the agent's state machine ([`super::run`]) needs from the world, as
//! traits: the device's engine, the upstream that hands out targets and
//! takes reports, a clock, and a place for its journal. The real device
//! plugs in Docker ([`super::engine`]), the server's device API
//! ([`super::upstream`]) or the local API ([`super::local`]), tokio's clock
//! and a file; the fleet simulator plugs in a simulated engine and clock
//! ([`super::sim`]) and runs the very same state machine.

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::engine::AgentEngineError;
use super::journal::{Journal, JournalError};
use super::plan::Observed;
use super::target::ServiceSpec;

/// The device's container engine, limited to the agent's own containers.
pub trait DeviceEngine: Send + Sync {
    /// Labels what it creates from now on with this device's uuid.
    fn set_device(&mut self, uuid: &str);
    /// This device's containers.
    fn observe(&self) -> impl Future<Output = Result<Vec<Observed>, AgentEngineError>> + Send;
    fn has_image(&self, image: &str) -> impl Future<Output = bool> + Send;
    /// Free bytes where pulls land, and that place; `None` when unknown.
    fn free_bytes(&self) -> impl Future<Output = Option<(u64, String)>> + Send;
    /// Pulls `image` unless present; whether it was pulled.
    fn pull(&self, image: &str) -> impl Future<Output = Result<bool, AgentEngineError>> + Send;
    /// Removes the reference `image`; whether it is gone.
    fn remove_image(&self, image: &str) -> impl Future<Output = bool> + Send;
    /// Creates the service's container of `release` (not started).
    /// `preloaded`: the image id to use when the reference is absent.
    fn create(
        &self,
        service: &str,
        release: i64,
        spec: &ServiceSpec,
        lock_dir: &Path,
        preloaded: Option<&str>,
    ) -> impl Future<Output = Result<String, AgentEngineError>> + Send;
    fn start(
        &self,
        id: &str,
        service: &str,
    ) -> impl Future<Output = Result<(), AgentEngineError>> + Send;
    /// Stops a container; one already stopped or gone is fine.
    fn stop(&self, id: &str) -> impl Future<Output = ()> + Send;
    /// Stops and removes a container; one already gone is fine.
    fn remove(
        &self,
        id: &str,
        service: &str,
    ) -> impl Future<Output = Result<(), AgentEngineError>> + Send;
    /// Whether a container runs and has not been restarted since it started.
    fn settled(&self, id: &str) -> impl Future<Output = bool> + Send;
    /// Runs `command` in a one-off container of `image`; its exit code.
    fn run_once(
        &self,
        image: &str,
        command: &[String],
        service: &str,
    ) -> impl Future<Output = Result<i64, AgentEngineError>> + Send;
}

/// A target state as fetched: the body and its `ETag`.
pub type Fetched = (Value, Option<String>);

#[derive(Debug)]
pub enum FetchError {
    /// The device key was refused: the agent stops.
    Unauthorized,
    /// Down, unreachable, an odd answer: retried with backoff. Only logged.
    Unavailable(String),
}

/// Where targets come from and reports go.
pub trait Upstream: Send + Sync {
    /// The target state when it differs from `etag` (waiting up to `wait`
    /// seconds for a change); `None`: unchanged.
    fn fetch(
        &self,
        etag: Option<&str>,
        wait: u64,
    ) -> impl Future<Output = Result<Option<Fetched>, FetchError>> + Send;
    /// Sends a report; `Err` (only logged): not taken, sent again later.
    fn report(&self, body: &Value) -> impl Future<Output = Result<(), String>> + Send;
}

/// Time, so a simulation can run it faster.
pub trait Clock: Send + Sync {
    /// Time since some fixed start.
    fn now(&self) -> Duration;
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}

/// Where the journal lives; `save` is durable when it returns.
pub trait JournalStore: Send + Sync {
    fn load(&self) -> Result<Journal, JournalError>;
    fn save(&self, journal: &Journal) -> Result<(), JournalError>;
}

/// The real clock.
#[derive(Debug, Clone)]
pub struct TokioClock {
    start: tokio::time::Instant,
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock {
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }
}
