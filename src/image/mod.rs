//! The image stage: image jobs (from `plan::jobs`) built on Docker engines.
//!
//! - [`context`]: the build context streamed as tar (`.dockerignore` applies);
//! - [`engine`]: which engine serves which arch; [`engine_api`]: the raw
//!   requests bollard cannot make;
//! - [`builder`]: BuildKit (`buildkit`) or the classic builder (`classic`);
//! - `layers`: one job's build and its checks; `stamp`: labels, command and
//!   tag without a container; [`group`]: jobs sharing one build.

pub mod builder;
mod buildkit;
mod classic;
pub mod context;
pub mod engine;
pub mod engine_api;
mod error;
pub mod events;
pub mod group;
mod layers;
pub mod log;
mod output;
pub mod platform;
mod stamp;

pub use builder::Builder;
pub use engine::{Engine, EngineConfig, EngineError, Engines};
pub use error::ImageError;
pub use events::{BuildEvent, EventKind};
pub use group::{build_group, BuiltImage, JobResult};

/// `1.5 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
