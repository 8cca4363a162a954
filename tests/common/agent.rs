//! Helpers of the agent tests: releases built by a real server, the agent
//! binary started and killed, this device's containers read from the engine.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::server::{Server, ADMIN};

/// A device added to `app`: (uuid, device key).
pub fn add_device(server: &Server, app: &str) -> (String, String) {
    let (status, added) = server.post(
        &format!("/api/v1/apps/{app}/devices"),
        ADMIN,
        &json!({"name": "nuc", "device_type": "intel-nuc"}),
    );
    assert_eq!(status, 201, "{added}");
    (
        added["uuid"].as_str().unwrap().to_string(),
        added["device_key"].as_str().unwrap().to_string(),
    )
}

/// Removes this device's containers.
pub fn remove_containers(uuid: &str) {
    let ids = super::docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=io.slipway.device={uuid}"),
    ]);
    for id in ids.lines() {
        super::docker(&["rm", "-f", id]);
    }
}

/// A release of `app` whose one service sleeps (`marker` makes it new):
/// see [`release_of`].
pub fn release(server: &Server, app: &str, marker: &str) -> (i64, String) {
    release_of(
        server,
        app,
        &format!("FROM busybox:slipway-amd64\nRUN echo {marker} > /v\nCMD [\"sleep\", \"3600\"]\n"),
    )
}

/// Builds a release of `app` from `dockerfile` and drops the engine's
/// reference to its registry image, so the agent really pulls it.
/// (id, registry reference)
pub fn release_of(server: &Server, app: &str, dockerfile: &str) -> (i64, String) {
    let (status, lines) = server.upload(
        app,
        ADMIN,
        "application/x-tar",
        super::server::dockerfile_tar(dockerfile),
    );
    assert_eq!(status, 200);
    let summary = lines.last().unwrap();
    assert_eq!(summary["release"]["status"], "success", "{summary}");
    let reference = summary["images"][0]["registry_reference"]
        .as_str()
        .unwrap()
        .to_string();
    // The building engine names it by digest too, once its push settles
    // (shortly after the release is recorded): untag that for a while until
    // the reference stays gone. The image itself stays.
    for _ in 0..30 {
        if !image_present(&reference) {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        let _ = Command::new("docker")
            .args(["rmi", &reference])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !image_present(&reference),
        "{reference} is not on the engine before the agent runs"
    );
    (summary["release"]["id"].as_i64().unwrap(), reference)
}

/// A running `slipway agent`, killed when dropped (a failing test must not
/// leave it polling).
pub struct AgentProcess(Child);

impl std::ops::Deref for AgentProcess {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for AgentProcess {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn agent(
    server: &Server,
    key: &str,
    state: &std::path::Path,
    failpoint: Option<&str>,
) -> AgentProcess {
    agent_with(server, key, state, failpoint, &[])
}

/// [`agent`] with more `slipway agent` arguments.
pub fn agent_with(
    server: &Server,
    key: &str,
    state: &std::path::Path,
    failpoint: Option<&str>,
    extra: &[&str],
) -> AgentProcess {
    let mut command = Command::new(env!("CARGO_BIN_EXE_slipway"));
    command
        .args([
            "agent",
            "--server",
            &server.url,
            "--device-key",
            key,
            "--poll-seconds",
            "5",
            "--settle-seconds",
            "1",
        ])
        .arg("--state-dir")
        .arg(state)
        .args(extra)
        .env("SLIPWAY_LOG", "info")
        .env_remove("SLIPWAY_FAILPOINT")
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(state.with_extension("log"))
                .unwrap(),
        );
    if let Some(failpoint) = failpoint {
        command.env("SLIPWAY_FAILPOINT", failpoint);
    }
    AgentProcess(command.spawn().unwrap())
}

/// This device's containers: (release label, state).
pub fn containers(uuid: &str) -> Vec<(String, String)> {
    let ids = super::docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=io.slipway.device={uuid}"),
    ]);
    ids.lines()
        .map(|id| {
            let out = super::docker(&[
                "inspect",
                "--format",
                "{{index .Config.Labels \"io.slipway.release\"}} {{.State.Status}}",
                id,
            ]);
            let (release, state) = out.trim().split_once(' ').unwrap();
            (release.to_string(), state.to_string())
        })
        .collect()
}

pub fn device(server: &Server, uuid: &str) -> Value {
    server.get(&format!("/api/v1/devices/{uuid}"), ADMIN).1
}

pub fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

pub fn image_present(reference: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", reference])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

pub fn runs_only(server: &Server, uuid: &str, release: i64) -> bool {
    let d = device(server, uuid);
    d["release_id"] == release
        && d["update_status"] == "running"
        && containers(uuid) == vec![(release.to_string(), "running".to_string())]
}

impl From<Child> for AgentProcess {
    fn from(child: Child) -> AgentProcess {
        AgentProcess(child)
    }
}
