//! Slipway: detects what a project is with sandboxed WebAssembly plugins,
//! plans its per-architecture image builds, and (in later stages) builds,
//! records and rolls out releases.
//!
//! Data flows one way through the stages, one module each:
//! `source` -> `detect` (runs `plugin_host`) -> `plan` -> build -> release -> rollout.

pub mod access;
pub mod agent;
pub mod app;
pub mod catalogue;
pub mod detect;
pub mod device;
pub mod failpoint;
pub mod image;
pub mod pipeline;
pub mod plan;
pub mod plugin_host;
pub mod registry;
pub mod release;
pub mod rollout;
pub mod service;
pub mod source;
pub mod store;
pub mod target;
