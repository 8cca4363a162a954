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
/// Whether Debian's wasm toolchain is here; without it a plugin-building
/// test skips, unless SLIPWAY_REQUIRE_TOOLCHAIN=1 (the test command) makes
/// that a failure.
pub fn wasm_toolchain_present(test: &str) -> bool {
    let present =
        Path::new("/usr/lib/rustlib/x86_64-unknown-linux-gnu/bin/wasm-component-ld").exists();
    if !present {
        assert_ne!(
            std::env::var("SLIPWAY_REQUIRE_TOOLCHAIN").as_deref(),
            Ok("1"),
            "the wasm toolchain is required here: run scripts/install-wasm-toolchain.sh"
        );
        eprintln!("SKIPPED {test}: no wasm toolchain");
    }
    present
}

/// Where plugin crates built by tests go: outside the checkout (a test hides
/// the checkout from the binary), shared so build-std is compiled once.
pub fn plugin_target_dir() -> PathBuf {
    std::env::temp_dir().join("slipway-test-plugin-target")
}

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

/// Whether a Docker engine answers. With `SLIPWAY_REQUIRE_DOCKER=1` (the
/// test command sets it) a missing engine fails the test instead of skipping it.
pub fn docker_available(test: &str) -> bool {
    let up = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .map(|out| out.status.success())
        .unwrap_or(false);
    if up {
        return true;
    }
    if std::env::var("SLIPWAY_REQUIRE_DOCKER").as_deref() == Ok("1") {
        panic!(
            "{test}: no Docker engine, and SLIPWAY_REQUIRE_DOCKER=1: run scripts/setup-docker.sh"
        );
    }
    eprintln!("SKIPPED {test}: no Docker engine (run scripts/setup-docker.sh)");
    false
}

/// Runs the docker CLI and returns its stdout; panics on failure.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI runs");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A project written into a fresh temporary directory.
pub struct TempProject {
    pub dir: tempfile::TempDir,
}

impl TempProject {
    /// `name` becomes the directory's (and so the app's) name.
    pub fn new(name: &str, files: &[(&str, &str)]) -> TempProject {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{name}-"))
            .tempdir()
            .expect("temp dir");
        for (path, content) in files {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        TempProject { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn path_str(&self) -> &str {
        self.dir.path().to_str().expect("utf-8 path")
    }
}

/// The outcome of `slipway build ... --json` against a data dir.
pub struct BuildRun {
    pub code: i32,
    pub events: Vec<Value>,
    pub summary: Value,
    pub stderr: String,
}

impl BuildRun {
    pub fn image(&self, service: &str, arch: &str) -> &Value {
        self.summary["images"]
            .as_array()
            .and_then(|all| {
                all.iter()
                    .find(|i| i["service"] == service && i["arch"] == arch)
            })
            .unwrap_or_else(|| panic!("no image {service}/{arch} in {:#}", self.summary))
    }

    pub fn events_of(&self, kind: &str) -> Vec<&Value> {
        self.events.iter().filter(|e| e["kind"] == kind).collect()
    }
}

pub fn slipway_in(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(args)
        .env("SLIPWAY_CACHE_DIR", cache_dir())
        .env("SLIPWAY_DATA_DIR", data_dir)
        .env_remove("SLIPWAY_LOG")
        .output()
        .expect("the slipway binary runs")
}

pub fn build(data_dir: &Path, project: &Path, devices: &[&str], extra: &[&str]) -> BuildRun {
    // An empty project path: the source comes from `extra` (`--git`).
    let mut args = vec!["build", "--json"];
    if !project.as_os_str().is_empty() {
        args.insert(1, project.to_str().unwrap());
    }
    for device in devices {
        args.extend(["--device-type", device]);
    }
    args.extend_from_slice(extra);
    let out = slipway_in(data_dir, &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut events: Vec<Value> = stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("--json line is JSON ({e}): {line}"))
        })
        .collect();
    let summary = match events.last() {
        Some(last) if last["kind"] == "summary" => events.pop().unwrap(),
        _ => Value::Null,
    };
    BuildRun {
        code: out.status.code().unwrap_or(-1),
        events,
        summary,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `slipway releases --json`, parsed.
pub fn releases(data_dir: &Path) -> Vec<Value> {
    let out = slipway_in(data_dir, &["releases", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .expect("releases --json is JSON")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The resolved Dockerfile of service `main` in a detection.
pub fn main_dockerfile(out: &Detected) -> String {
    out.service("main")["dockerfile"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The notes of service `main`, one a line.
pub fn main_notes(out: &Detected) -> String {
    out.service("main")["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The tag a build made for `service` on `arch`.
pub fn image_tag(run: &BuildRun, service: &str, arch: &str) -> String {
    run.image(service, arch)["image"]
        .as_str()
        .expect("image tag")
        .to_string()
}
pub mod agent;
pub mod browser;
pub mod postgres;
pub mod server;
