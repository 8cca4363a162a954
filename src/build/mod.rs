//! The build stage: turns the plans of one project for one or more device
//! types into images on Docker engines, recorded as one release.
//!
//! - [`context`]: the build context streamed as tar (`.dockerignore` applies);
//! - [`engine`]: which engine serves which arch;
//! - [`image`]: one image build (one service, one arch) and its checks;
//! - [`release_build`]: every image of a release, concurrently, and the record.

pub mod context;
pub mod engine;
pub mod events;
pub mod image;
pub mod log;
pub mod platform;
mod release_build;
pub mod tags;

pub use engine::{EngineConfig, EngineError};
pub use events::{BuildEvent, EventKind};
pub use release_build::{build_release, BuildError, BuildRequest, Built};
