//! Update locks on the real engine: a service that creates `updates.lock`
//! in its lock directory (mounted at /tmp/slipway) holds the update, which
//! the device reports as `waiting` (past the lock timeout, saying so); the
//! update goes through when the lock is released, or when the operator
//! forces it from the server.

mod common;

use std::time::Duration;

use common::agent::{
    add_device, agent_with, containers, device, release, remove_containers, runs_only, wait_for,
};
use common::server::{Server, ADMIN};
use serde_json::json;

/// The running container of this device (there is exactly one service).
fn container_id(uuid: &str) -> String {
    let ids = common::docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=io.slipway.device={uuid}"),
    ]);
    let ids: Vec<&str> = ids.lines().collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    ids[0].to_string()
}

#[test]
fn an_update_lock_holds_the_update_until_released_or_forced() {
    if !common::docker_available("an_update_lock_holds_the_update_until_released_or_forced") {
        return;
    }
    let server = Server::start();
    server.create_app("locked", &["intel-nuc"]);
    let (uuid, key) = add_device(&server, "locked");
    let nonce = format!("{:?}", std::time::SystemTime::now());
    let state = tempfile::tempdir().unwrap();
    let state_dir = std::env::var("DBG_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or(state.path().join("agent"));
    let (r1, _) = release(&server, "locked", &format!("one-{nonce}"));
    let mut running = agent_with(
        &server,
        &key,
        &state_dir,
        None,
        &["--lock-timeout-seconds", "3"],
    );
    wait_for("the first install", Duration::from_secs(90), || {
        runs_only(&server, &uuid, r1)
    });

    // The service takes its lock from inside its container.
    let held = container_id(&uuid);
    common::docker(&[
        "exec",
        &held,
        "sh",
        "-c",
        "touch \"$SLIPWAY_LOCK_DIR/updates.lock\"",
    ]);
    let (r2, _) = release(&server, "locked", &format!("two-{nonce}"));
    wait_for(
        "the device to wait on the lock",
        Duration::from_secs(60),
        || {
            let d = device(&server, &uuid);
            d["update_status"] == "waiting"
                && d["error"]
                    .as_str()
                    .is_some_and(|e| e.contains("update lock held by `main`"))
        },
    );
    // Held past the timeout (3 s): the report says so, and still nothing moved.
    wait_for(
        "the lock timeout to be reported",
        Duration::from_secs(30),
        || {
            device(&server, &uuid)["error"]
                .as_str()
                .is_some_and(|e| e.contains("past the lock timeout of 3 s"))
        },
    );
    assert_eq!(
        containers(&uuid),
        vec![(r1.to_string(), "running".to_string())]
    );
    assert_eq!(
        container_id(&uuid),
        held,
        "the locked container was not touched"
    );

    // Released: the update goes through.
    common::docker(&[
        "exec",
        &held,
        "sh",
        "-c",
        "rm \"$SLIPWAY_LOCK_DIR/updates.lock\"",
    ]);
    wait_for(
        "the update after the release of the lock",
        Duration::from_secs(60),
        || runs_only(&server, &uuid, r2),
    );

    // Locked again by the new container; the operator forces the next update.
    let held = container_id(&uuid);
    common::docker(&[
        "exec",
        &held,
        "sh",
        "-c",
        "touch \"$SLIPWAY_LOCK_DIR/updates.lock\"",
    ]);
    let (r3, _) = release(&server, "locked", &format!("three-{nonce}"));
    wait_for(
        "the device to wait on the lock again",
        Duration::from_secs(60),
        || device(&server, &uuid)["update_status"] == "waiting",
    );
    assert_eq!(
        containers(&uuid),
        vec![(r2.to_string(), "running".to_string())]
    );
    let (status, body) = server.post(
        &format!("/api/v1/devices/{uuid}/update"),
        ADMIN,
        &json!({"force": true}),
    );
    assert_eq!(status, 200, "{body}");
    wait_for("the forced update", Duration::from_secs(60), || {
        runs_only(&server, &uuid, r3)
    });
    let (status, _) = server.post(
        &format!("/api/v1/devices/{uuid}/update"),
        "not-a-token",
        &json!({"force": true}),
    );
    assert_eq!(status, 401);

    running.kill().unwrap();
    running.wait().unwrap();
    remove_containers(&uuid);
}

#[test]
fn a_download_that_would_not_fit_waits_with_a_clear_status() {
    if !common::docker_available("a_download_that_would_not_fit_waits") {
        return;
    }
    let server = Server::start();
    server.create_app("tight", &["intel-nuc"]);
    let (uuid, key) = add_device(&server, "tight");
    let nonce = format!("{:?}", std::time::SystemTime::now());
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("agent");
    let (r1, image) = release(&server, "tight", &format!("one-{nonce}"));
    // A reserve no disk has (1 EB): the real free space is always too little.
    let mut tight = agent_with(
        &server,
        &key,
        &state_dir,
        None,
        &["--reserve-disk-mb", "1000000000000"],
    );
    wait_for("the disk status", Duration::from_secs(60), || {
        let d = device(&server, &uuid);
        d["update_status"] == "waiting"
            && d["error"]
                .as_str()
                .is_some_and(|e| e.contains("not enough free disk to download release"))
    });
    assert!(containers(&uuid).is_empty(), "nothing was started");
    assert!(
        std::process::Command::new("docker")
            .args(["image", "inspect", &image])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| !s.success()),
        "nothing was pulled"
    );
    tight.kill().unwrap();
    tight.wait().unwrap();
    // With a reserve the disk has, the same device installs it.
    let mut running = agent_with(&server, &key, &state_dir, None, &[]);
    wait_for("the install", Duration::from_secs(60), || {
        runs_only(&server, &uuid, r1)
    });
    running.kill().unwrap();
    running.wait().unwrap();
    remove_containers(&uuid);
}
