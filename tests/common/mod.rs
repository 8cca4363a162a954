//! Helpers shared by the integration tests: run the real `slipway` binary
//! and find the committed fixtures.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn project(name: &str) -> PathBuf {
    root().join("tests/fixtures/projects").join(name)
}

pub fn hostile_plugin(name: &str) -> PathBuf {
    root()
        .join("tests/fixtures/hostile-plugins")
        .join(format!("{name}.wasm"))
}

/// A compile cache shared by the tests of one `cargo test` run.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("slipway-cache")
}

/// Runs `slipway` with `args`.
pub fn slipway(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(args)
        .env("SLIPWAY_CACHE_DIR", cache_dir())
        .env_remove("SLIPWAY_LOG")
        .output()
        .expect("the slipway binary runs")
}

/// The outcome of `slipway detect PATH --device-type DEVICE --json`.
pub struct Detected {
    pub code: i32,
    pub json: Value,
    pub stderr: String,
}

impl Detected {
    /// The service called `name`.
    pub fn service(&self, name: &str) -> &Value {
        self.json["services"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["name"] == name))
            .unwrap_or_else(|| panic!("no service {name} in {:#}", self.json))
    }

    pub fn errors(&self) -> Vec<String> {
        self.json["errors"]
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|e| e["message"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub fn detect(path: &Path, device: &str, extra: &[&str]) -> Detected {
    let path = path.to_str().expect("utf-8 path");
    let mut args = vec!["detect", path, "--device-type", device, "--json"];
    args.extend_from_slice(extra);
    let out = slipway(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    Detected {
        code: out.status.code().unwrap_or(-1),
        json: serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("--json output is JSON ({e}): {stdout}")),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn chosen_plugins(service: &Value) -> Vec<(String, bool)> {
    service["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .map(|c| {
            (
                c["plugin"].as_str().unwrap_or_default().to_string(),
                c["chosen"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}
