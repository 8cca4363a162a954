//! The parts of the compose format a builder reads.
//!
//! Parsing goes through serde_yaml_ng, which bounds alias expansion (a
//! "billion laughs" file fails with an error) and nesting depth; the host
//! bounds the file size and this call's memory and CPU.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_yaml_ng::Value;
use slipway_plugin_sdk::{invalid, invalid_at, PluginError};

#[derive(Deserialize)]
pub struct ComposeFile {
    pub services: Option<BTreeMap<String, Value>>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

pub fn parse(file: &str, text: &str) -> Result<ComposeFile, PluginError> {
    if text.trim().is_empty() {
        return Err(invalid(file, "the compose file is empty"));
    }
    serde_yaml_ng::from_str(text).map_err(|e| match e.location() {
        Some(at) => invalid_at(
            file,
            at.line() as u32,
            at.column() as u32,
            format!("invalid compose file: {e}"),
        ),
        None => invalid(file, format!("invalid compose file: {e}")),
    })
}
