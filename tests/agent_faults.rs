//! The agent killed with SIGKILL at each step of an update (after the pull,
//! after the old container stopped, after the new one was created, after it
//! started), then restarted: it converges to the new release with exactly
//! one container per service. Also: images it pulled for a release no longer
//! needed are removed once the new one runs. Real engine, registry, server.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::server::{Server, ADMIN};
use serde_json::{json, Value};

/// Builds a release of `app` and drops the engine's reference to its
/// registry image, so the agent really pulls it. (id, registry reference)
fn release(server: &Server, app: &str, marker: &str) -> (i64, String) {
    let dockerfile =
        format!("FROM busybox:slipway-amd64\nRUN echo {marker} > /v\nCMD [\"sleep\", \"3600\"]\n");
    let (status, lines) = server.upload(
        app,
        ADMIN,
        "application/x-tar",
        common::server::dockerfile_tar(&dockerfile),
    );
    assert_eq!(status, 200);
    let summary = lines.last().unwrap();
    assert_eq!(summary["release"]["status"], "success", "{summary}");
    let reference = summary["images"][0]["registry_reference"]
        .as_str()
        .unwrap()
        .to_string();
    // (The building engine may not name it by digest; then it is absent already.)
    let _ = Command::new("docker")
        .args(["rmi", &reference])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(!image_present(&reference), "{reference} is not on the engine before the agent runs");
    (summary["release"]["id"].as_i64().unwrap(), reference)
}

fn agent(server: &Server, key: &str, state: &std::path::Path, failpoint: Option<&str>) -> Child {
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
    command.spawn().unwrap()
}

/// This device's containers: (release label, state).
fn containers(uuid: &str) -> Vec<(String, String)> {
    let ids = common::docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=io.slipway.device={uuid}"),
    ]);
    ids.lines()
        .map(|id| {
            let out = common::docker(&[
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

fn device(server: &Server, uuid: &str) -> Value {
    server.get(&format!("/api/v1/devices/{uuid}"), ADMIN).1
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn image_present(reference: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", reference])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
}

fn runs_only(server: &Server, uuid: &str, release: i64) -> bool {
    let d = device(server, uuid);
    d["release_id"] == release
        && d["update_status"] == "running"
        && containers(uuid) == vec![(release.to_string(), "running".to_string())]
}

#[test]
fn killed_at_each_step_of_an_update_the_agent_converges_on_restart() {
    if !common::docker_available("killed_at_each_step_of_an_update_the_agent_converges") {
        return;
    }
    let server = Server::start();
    server.create_app("faults", &["intel-nuc"]);
    let (status, added) = server.post(
        "/api/v1/apps/faults/devices",
        ADMIN,
        &json!({"name": "nuc", "device_type": "intel-nuc"}),
    );
    assert_eq!(status, 201);
    let uuid = added["uuid"].as_str().unwrap().to_string();
    let key = added["device_key"].as_str().unwrap().to_string();
    let nonce = format!("{:?}", std::time::SystemTime::now());
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("agent");

    let (mut previous, mut previous_image) = release(&server, "faults", &format!("first-{nonce}"));
    let mut running = agent(&server, &key, &state_dir, None);
    wait_for("the first install", Duration::from_secs(90), || {
        runs_only(&server, &uuid, previous)
    });
    assert!(image_present(&previous_image), "the agent pulled it");
    running.kill().unwrap();
    running.wait().unwrap();

    for step in [
        "agent-after-pull",
        "agent-after-stop",
        "agent-after-create",
        "agent-after-start",
    ] {
        let (next, next_image) = release(&server, "faults", &format!("{step}-{nonce}"));
        let mut killed = agent(&server, &key, &state_dir, Some(step));
        let deadline = Instant::now() + Duration::from_secs(90);
        let status = loop {
            if let Some(status) = killed.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "{step}: the failpoint never fired"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(
            status.signal(),
            Some(9),
            "{step}: died of SIGKILL ({status:?})"
        );
        let after_kill = containers(&uuid);
        assert!(
            after_kill.len() <= 1,
            "{step}: never two containers for a service: {after_kill:?}"
        );

        let mut restarted = agent(&server, &key, &state_dir, None);
        wait_for(
            &format!("convergence after {step}"),
            Duration::from_secs(90),
            || runs_only(&server, &uuid, next),
        );
        // The previous release's image, which the agent pulled, is gone;
        // the running release's stays.
        wait_for(
            &format!("clean-up after {step}"),
            Duration::from_secs(30),
            || !image_present(&previous_image),
        );
        assert!(image_present(&next_image), "{step}");
        restarted.kill().unwrap();
        restarted.wait().unwrap();
        previous = next;
        previous_image = next_image;
    }
    assert_eq!(device(&server, &uuid)["release_id"], previous);

    let ids = common::docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=io.slipway.device={uuid}"),
    ]);
    for id in ids.lines() {
        common::docker(&["rm", "-f", id]);
    }
}
