//! The device agent (`slipway agent`): makes the device's engine run its
//! target release and reports what it runs.
//!
//! - [`target`]: the target state as the device API serves it;
//! - [`plan`]: pure decisions: what to do to the containers to reach a
//!   release (download-then-kill, exactly one container per service);
//! - [`journal`]: what the agent was doing, written and fsynced before each
//!   step, so a restart resumes instead of guessing;
//! - [`locks`]: update locks (`updates.lock`) and the pure wait/proceed decision;
//! - [`engine`]: the Docker adapter (only containers with its labels);
//! - [`preload`]: preload files (a release's images and target state, for
//!   devices that start offline);
//! - [`ports`]: what the state machine needs from the world (engine,
//!   upstream, clock, journal store), as traits;
//! - [`upstream`]: the server's device API as the upstream;
//! - [`local`]: local mode: the upstream is the agent's own local API;
//! - [`sim`]: a simulated engine and clock for the fleet simulator;
//! - [`run`]: the state machine: poll, update, report.

pub mod engine;
pub mod journal;
pub mod local;
pub mod locks;
pub mod plan;
pub mod ports;
pub mod preload;
pub mod run;
pub mod sim;
pub mod target;
pub mod upstream;

/// Labels on every container the agent creates; it touches no other.
pub const LABEL_DEVICE: &str = "io.slipway.device";
pub const LABEL_SERVICE: &str = "io.slipway.service";
pub const LABEL_RELEASE: &str = "io.slipway.release";
