//! `slipway agent` on the real engine, against a real `slipway serve` and
//! registry: first install, update, a failed start rolled back, and a
//! restart of the agent that converges to one container per service.

mod common;

use std::time::Duration;

use common::agent::{agent, device, release_of, wait_for};
use common::server::{Server, ADMIN};
use serde_json::json;

fn release(server: &Server, app: &str, dockerfile: &str) -> i64 {
    release_of(server, app, dockerfile).0
}

/// This device's containers: (release label, state, image as configured).
fn containers(uuid: &str) -> Vec<(String, String, String)> {
    let ids = common::docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=io.slipway.device={uuid}"),
    ]);
    ids.lines()
        .map(|id| {
            let out = common::docker(&[
                "inspect", "--format",
                "{{index .Config.Labels \"io.slipway.release\"}} {{.State.Status}} {{.Config.Image}}",
                id,
            ]);
            let parts: Vec<&str> = out.split(' ').collect();
            (parts[0].to_string(), parts[1].to_string(), parts[2].to_string())
        })
        .collect()
}

#[test]
fn the_agent_installs_updates_and_rolls_back_on_the_real_engine() {
    if !common::docker_available("the_agent_installs_updates_and_rolls_back_on_the_real_engine") {
        return;
    }
    let server = Server::start();
    server.create_app("edge", &["intel-nuc"]);
    let (status, added) = server.post(
        "/api/v1/apps/edge/devices",
        ADMIN,
        &json!({"name": "nuc", "device_type": "intel-nuc"}),
    );
    assert_eq!(status, 201);
    let uuid = added["uuid"].as_str().unwrap().to_string();
    let key = added["device_key"].as_str().unwrap().to_string();
    let nonce = format!("{:?}", std::time::SystemTime::now());
    let r1 = release(
        &server,
        "edge",
        &format!(
            "FROM busybox:slipway-amd64\nRUN echo one {nonce} > /v\nCMD [\"sleep\", \"3600\"]\n"
        ),
    );
    let state = tempfile::tempdir().unwrap();
    let mut running = agent(&server, &key, &state.path().join("agent"), None);

    // First install: one container, of r1, by digest from the registry.
    wait_for("the first install", Duration::from_secs(90), || {
        device(&server, &uuid)["update_status"] == "running"
    });
    let found = containers(&uuid);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, r1.to_string());
    assert_eq!(found[0].1, "running");
    assert!(
        found[0].2.starts_with("127.0.0.1:5055/edge/main@sha256:"),
        "{found:?}"
    );
    assert_eq!(device(&server, &uuid)["release_id"], r1);

    // An update: the fleet follows the new release; still one container.
    let r2 = release(
        &server,
        "edge",
        &format!(
            "FROM busybox:slipway-amd64\nRUN echo two {nonce} > /v\nCMD [\"sleep\", \"3600\"]\n"
        ),
    );
    wait_for("the update", Duration::from_secs(90), || {
        let d = device(&server, &uuid);
        d["release_id"] == r2 && d["update_status"] == "running"
    });
    let found = containers(&uuid);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(
        (found[0].0.as_str(), found[0].1.as_str()),
        (r2.to_string().as_str(), "running")
    );

    // A release whose container exits at once: rolled back to r2, reported failed.
    let r3 = release(
        &server,
        "edge",
        &format!("FROM busybox:slipway-amd64\nRUN echo three {nonce}\nCMD [\"false\"]\n"),
    );
    wait_for("the rollback", Duration::from_secs(90), || {
        let d = device(&server, &uuid);
        d["release_id"] == r3 && d["update_status"] == "failed"
    });
    let d = device(&server, &uuid);
    assert!(
        d["error"]
            .as_str()
            .unwrap()
            .contains("did not keep running"),
        "{d}"
    );
    wait_for("r2 back", Duration::from_secs(30), || {
        let found = containers(&uuid);
        found.len() == 1 && found[0].0 == r2.to_string() && found[0].1 == "running"
    });

    // Killed, restarted: it converges and stays on one container per service.
    running.kill().unwrap();
    running.wait().unwrap();
    assert_eq!(
        server.post("/api/v1/apps/edge/target", ADMIN, &json!({})).0,
        405,
        "(target is PUT)"
    );
    let response = Server::client()
        .put(format!("{}/api/v1/apps/edge/target", server.url))
        .bearer_auth(ADMIN)
        .json(&json!({"release_id": r1}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut running = agent(&server, &key, &state.path().join("agent"), None);
    wait_for(
        "the rollback to r1 after a restart",
        Duration::from_secs(90),
        || {
            let d = device(&server, &uuid);
            d["release_id"] == r1 && d["update_status"] == "running"
        },
    );
    let found = containers(&uuid);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, r1.to_string());
    running.kill().unwrap();
    running.wait().unwrap();
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
