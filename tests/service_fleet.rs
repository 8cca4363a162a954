//! Fleets through the HTTP API of a real `slipway serve`: targets, pins,
//! device keys, ETags and long-polls, and rollouts that advance, pause by
//! themselves, resume and stop, with phases stable across a restart.

mod common;

use std::time::{Duration, Instant};

use common::server::{Server, ADMIN};
use serde_json::{json, Value};

/// Builds a release of `app` through an upload; returns its id.
fn release(server: &Server, app: &str, marker: &str) -> i64 {
    let dockerfile = format!("FROM busybox:slipway-%%BALENA_ARCH%%\nRUN echo {marker} > /marker\n");
    let (status, lines) = server.upload(
        app,
        ADMIN,
        "application/x-tar",
        common::server::tar_of(&[("Dockerfile.template", dockerfile.as_bytes())]),
    );
    assert_eq!(status, 200, "{lines:?}");
    let summary = lines.last().unwrap();
    assert_eq!(summary["release"]["status"], "success", "{summary}");
    summary["release"]["id"].as_i64().unwrap()
}

struct Device {
    uuid: String,
    key: String,
}

fn add_device(server: &Server, app: &str, name: &str, device_type: &str, tags: Value) -> Device {
    let (status, body) = server.post(
        &format!("/api/v1/apps/{app}/devices"),
        ADMIN,
        &json!({"name": name, "device_type": device_type, "tags": tags}),
    );
    assert_eq!(status, 201, "{body}");
    Device {
        uuid: body["uuid"].as_str().unwrap().into(),
        key: body["device_key"].as_str().unwrap().into(),
    }
}

/// GET /device/state: (status, body, etag).
fn poll(
    server: &Server,
    key: &str,
    etag: Option<&str>,
    wait: Option<u64>,
) -> (u16, Value, Option<String>) {
    let mut request = Server::client()
        .get(format!(
            "{}/api/v1/device/state{}",
            server.url,
            wait.map(|w| format!("?wait={w}")).unwrap_or_default()
        ))
        .bearer_auth(key);
    if let Some(etag) = etag {
        request = request.header("if-none-match", etag);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    let etag = response
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_string());
    (status, response.json().unwrap_or(Value::Null), etag)
}

fn report(server: &Server, key: &str, body: Value) -> Value {
    let response = Server::client()
        .patch(format!("{}/api/v1/device/state", server.url))
        .bearer_auth(key)
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().unwrap()
}

fn put(server: &Server, path: &str, body: Value) -> (u16, Value) {
    let response = Server::client()
        .put(format!("{}{path}", server.url))
        .bearer_auth(ADMIN)
        .json(&body)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

#[test]
fn targets_pins_keys_etags_and_long_polls() {
    if !common::docker_available("targets_pins_keys_etags_and_long_polls") {
        return;
    }
    let server = Server::start();
    server.create_app("fleet", &["raspberrypi4-64", "intel-nuc"]);
    let pi = add_device(
        &server,
        "fleet",
        "pi-1",
        "raspberrypi4-64",
        json!({"site": "berlin"}),
    );
    let nuc = add_device(
        &server,
        "fleet",
        "nuc-1",
        "intel-nuc",
        json!({"site": "paris"}),
    );
    // Nothing built yet: nothing to run.
    let (status, state, _) = poll(&server, &pi.key, None, None);
    assert_eq!(status, 200);
    assert_eq!(state["release_id"], Value::Null);

    let r1 = release(&server, "fleet", "one");
    let r2 = release(&server, "fleet", "two");
    // The fleet follows its latest release: r2, the image for the device's own arch.
    let (status, state, etag) = poll(&server, &pi.key, None, None);
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["release_id"], r2);
    assert_eq!(state["device"]["uuid"], pi.uuid.as_str());
    let images = server.release(r2)["images"].clone();
    let arm = images
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["arch"] == "aarch64")
        .unwrap();
    assert_eq!(
        state["services"]["main"]["image"], arm["registry_reference"],
        "{state}"
    );
    let etag = etag.expect("an ETag");
    assert_eq!(poll(&server, &pi.key, Some(&etag), None).0, 304);

    // Fleet target pinned to r1, then a device pin beats it.
    assert_eq!(
        put(
            &server,
            "/api/v1/apps/fleet/target",
            json!({"release_id": r1})
        )
        .0,
        200
    );
    let (_, state, etag_r1) = poll(&server, &pi.key, Some(&etag), None);
    assert_eq!(state["release_id"], r1);
    assert_ne!(etag_r1.as_deref(), Some(etag.as_str()));
    let (status, body) = put(
        &server,
        &format!("/api/v1/devices/{}/pin", nuc.uuid),
        json!({"release_id": r2}),
    );
    assert_eq!(status, 200, "{body}");
    let (_, state, _) = poll(&server, &nuc.key, None, None);
    assert_eq!(
        (state["release_id"].as_i64(), state["target"]["by"].as_str()),
        (Some(r2), Some("pin"))
    );
    assert_eq!(poll(&server, &pi.key, None, None).1["release_id"], r1);
    put(
        &server,
        &format!("/api/v1/devices/{}/pin", nuc.uuid),
        json!({"release_id": null}),
    );
    assert_eq!(poll(&server, &nuc.key, None, None).1["release_id"], r1);
    // Bad targets name the field.
    let (status, body) = put(
        &server,
        "/api/v1/apps/fleet/target",
        json!({"release_id": 999}),
    );
    assert_eq!(status, 400);
    assert!(
        body["detail"].as_str().unwrap().starts_with("release_id: "),
        "{body}"
    );

    // A long-poll returns as soon as the target changes.
    let (_, _, etag_now) = poll(&server, &pi.key, None, None);
    let url = server.url.clone();
    let key = pi.key.clone();
    let waiting = std::thread::spawn(move || {
        let started = Instant::now();
        let response = Server::client()
            .get(format!("{url}/api/v1/device/state?wait=60"))
            .bearer_auth(key)
            .header("if-none-match", etag_now.unwrap())
            .send()
            .unwrap();
        (
            response.status().as_u16(),
            response.json::<Value>().unwrap(),
            started.elapsed(),
        )
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        put(
            &server,
            "/api/v1/apps/fleet/target",
            json!({"track_latest": true})
        )
        .0,
        200
    );
    let (status, state, took) = waiting.join().unwrap();
    assert_eq!((status, state["release_id"].as_i64()), (200, Some(r2)));
    assert!(took < Duration::from_secs(10), "{took:?}");

    // Device keys reach their own state only.
    let other = Server::client()
        .get(format!("{}/api/v1/devices/{}", server.url, nuc.uuid))
        .bearer_auth(&pi.key)
        .send()
        .unwrap();
    assert_eq!(other.status(), 401);
    assert_eq!(poll(&server, "slw_not-a-key", None, None).0, 401);
    let (status, body) = server.post(
        "/api/v1/apps/fleet/devices",
        ADMIN,
        &json!({"name": "x", "device_type": "jetson-nano"}),
    );
    assert_eq!(status, 400);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("device_type: "),
        "{body}"
    );

    // Reports: what runs, counted on the release; an older report is ignored.
    report(
        &server,
        &pi.key,
        json!({"release_id": r2, "update_status": "running", "seq": 5}),
    );
    let ignored = report(
        &server,
        &pi.key,
        json!({"release_id": r1, "update_status": "downloading", "seq": 3}),
    );
    assert_eq!(ignored["accepted"], false);
    assert_eq!(server.release(r2)["device_count"], 1);
    let (_, list) = server.get(
        "/api/v1/apps/fleet/devices?tag=site:berlin&status=running",
        ADMIN,
    );
    let list = list["devices"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["uuid"], pi.uuid.as_str());
    assert_eq!(list[0]["online"], true);
    // Rates are per device key: a device polling in a loop is slowed down,
    // another device (maybe behind the same NAT) is not.
    let statuses: Vec<u16> = (0..40)
        .map(|_| poll(&server, &nuc.key, None, None).0)
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    let limited = Server::client()
        .get(format!("{}/api/v1/device/state", server.url))
        .bearer_auth(&nuc.key)
        .send()
        .unwrap();
    if limited.status() == 429 {
        assert_eq!(limited.headers()["retry-after"], "1");
    }
    assert_eq!(poll(&server, &pi.key, None, None).0, 200);
    let (_, events) = server.get("/api/v1/apps/fleet/events", ADMIN);
    let kinds: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    for kind in [
        "fleet.target",
        "device.pin",
        "device.report",
        "device.added",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
}

#[test]
fn rollouts_advance_pause_resume_and_stop() {
    if !common::docker_available("rollouts_advance_pause_resume_and_stop") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start_in(&data, None);
    server.create_app("staged", &["intel-nuc"]);
    let r1 = release(&server, "staged", "old");
    let r2 = release(&server, "staged", "new");
    assert_eq!(
        put(
            &server,
            "/api/v1/apps/staged/target",
            json!({"release_id": r1})
        )
        .0,
        200
    );
    let devices: Vec<(Device, &str)> = (0..40)
        .map(|i| {
            let ring = if i < 30 { "a" } else { "b" };
            (
                add_device(
                    &server,
                    "staged",
                    &format!("d{i:02}"),
                    "intel-nuc",
                    json!({"ring": ring}),
                ),
                ring,
            )
        })
        .collect();
    let targets = |server: &Server| -> Vec<i64> {
        devices
            .iter()
            .map(|(d, _)| {
                poll(server, &d.key, None, None).1["release_id"]
                    .as_i64()
                    .unwrap()
            })
            .collect()
    };

    let (status, created) = server.post(
        "/api/v1/apps/staged/rollouts",
        ADMIN,
        &json!({"release_id": r2, "selector": {"tags": {"ring": "a"}},
                "phases": [{"percent": 20}, {"percent": 100}], "error_threshold": 20, "min_finished": 3}),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_i64().unwrap();
    let (status, body) = server.post(
        "/api/v1/apps/staged/rollouts",
        ADMIN,
        &json!({"release_id": r2, "phases": [{"percent": 50}]}),
    );
    assert_eq!(status, 400);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("phases: the last phase must reach 100"),
        "{body}"
    );

    let (_, rollout) = server.get(&format!("/api/v1/rollouts/{id}"), ADMIN);
    let first = rollout["phases"][0]["targeted"].as_i64().unwrap();
    assert!(first > 0 && first < 30, "{rollout}");
    let now = targets(&server);
    let on_new: Vec<usize> = (0..40).filter(|&i| now[i] == r2).collect();
    assert_eq!(
        on_new.len() as i64,
        first,
        "phase 1 devices get the release"
    );
    assert!(on_new.iter().all(|&i| devices[i].1 == "a"));

    // Phase membership survives a restart.
    let port = server.port;
    server.kill();
    let server = Server::start_in(&data, Some(port));
    assert_eq!(targets(&server), now);

    // Phase 1 reports running: the rollout advances by itself.
    for &i in &on_new {
        report(
            &server,
            &devices[i].0.key,
            json!({"release_id": r2, "update_status": "running"}),
        );
    }
    let (_, rollout) = server.get(&format!("/api/v1/rollouts/{id}"), ADMIN);
    assert_eq!(rollout["current_phase"], 2, "{rollout}");
    let now = targets(&server);
    for (i, (_, ring)) in devices.iter().enumerate() {
        assert_eq!(now[i], if *ring == "a" { r2 } else { r1 }, "device {i}");
    }

    // Failures past 20 % of the finished devices pause it.
    let second: Vec<usize> = (0..30).filter(|i| !on_new.contains(i)).collect();
    for &i in second.iter().take(4) {
        report(
            &server,
            &devices[i].0.key,
            json!({"release_id": r2, "update_status": "failed", "error": "container exited 1"}),
        );
    }
    let (_, rollout) = server.get(&format!("/api/v1/rollouts/{id}"), ADMIN);
    assert_eq!(rollout["state"], "paused", "{rollout}");
    assert!(
        rollout["reason"]
            .as_str()
            .unwrap()
            .contains("over the error threshold of 20%"),
        "{rollout}"
    );
    let (status, _) = server.post(&format!("/api/v1/rollouts/{id}/pause"), ADMIN, &json!({}));
    assert_eq!(status, 409);

    // Fixed devices, resume: the rest finish and it completes.
    for &i in &second {
        report(
            &server,
            &devices[i].0.key,
            json!({"release_id": r2, "update_status": "running"}),
        );
    }
    let (status, rollout) =
        server.post(&format!("/api/v1/rollouts/{id}/resume"), ADMIN, &json!({}));
    assert_eq!(status, 200, "{rollout}");
    assert_eq!(rollout["state"], "completed", "{rollout}");

    // A second rollout, stopped: devices that had not finished go back to the fleet target.
    let (_, created) = server.post(
        "/api/v1/apps/staged/rollouts",
        ADMIN,
        &json!({"release_id": r2, "selector": {"tags": {"ring": "b"}}, "phases": [{"percent": 100}]}),
    );
    let second_id = created["id"].as_i64().unwrap();
    let ring_b: Vec<usize> = (30..40).collect();
    assert!(ring_b
        .iter()
        .all(|&i| poll(&server, &devices[i].0.key, None, None).1["release_id"] == r2));
    report(
        &server,
        &devices[30].0.key,
        json!({"release_id": r2, "update_status": "running"}),
    );
    report(
        &server,
        &devices[31].0.key,
        json!({"release_id": r2, "update_status": "downloading"}),
    );
    let (status, rollout) = server.post(
        &format!("/api/v1/rollouts/{second_id}/stop"),
        ADMIN,
        &json!({}),
    );
    assert_eq!(status, 200);
    assert_eq!(rollout["state"], "stopped");
    assert_eq!(
        poll(&server, &devices[30].0.key, None, None).1["release_id"],
        r2,
        "finished: keeps it"
    );
    assert_eq!(
        poll(&server, &devices[31].0.key, None, None).1["release_id"],
        r1,
        "undone: back to the fleet target"
    );
    // A rate-limited rollout lets 3 devices a minute start; the others keep
    // their target meanwhile. (Not across a minute's end: that has room again.)
    let into_minute = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if into_minute > 50 {
        std::thread::sleep(Duration::from_secs(61 - into_minute));
    }
    let (status, created) = server.post(
        "/api/v1/apps/staged/rollouts",
        ADMIN,
        &json!({"release_id": r1, "selector": {"tags": {"ring": "a"}}, "phases": [{"percent": 100}], "max_per_minute": 3}),
    );
    assert_eq!(status, 201, "{created}");
    let now = targets(&server);
    let started = (0..30).filter(|&i| now[i] == r1).count();
    assert_eq!(started, 3, "{now:?}");
    assert_eq!(
        targets(&server),
        now,
        "admitted devices stay admitted, others wait"
    );
    let (_, events) = server.get("/api/v1/apps/staged/events?limit=500", ADMIN);
    let changes: Vec<String> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "rollout.changed")
        .map(|e| e["detail"]["what"].as_str().unwrap().to_string())
        .collect();
    for what in [
        "advanced to phase 2",
        "resumed by an operator",
        "completed",
        "stopped by an operator",
    ] {
        assert!(
            changes.iter().any(|c| c == what),
            "{what} missing from {changes:?}"
        );
    }
    assert!(
        changes.iter().any(|c| c.starts_with("paused itself")),
        "{changes:?}"
    );
}

#[test]
fn the_fleet_simulator_drives_a_three_phase_rollout() {
    if !common::docker_available("the_fleet_simulator_drives_a_three_phase_rollout") {
        return;
    }
    let server = Server::start();
    server.create_app("sim", &["intel-nuc"]);
    release(&server, "sim", "before");
    let newest = release(&server, "sim", "after");
    // Which devices fail is fixed, which phase they land in is not: the
    // error threshold is set so that 2 % never trips it and 60 % always does.
    let simulate = |fail: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_slipway"))
            .args([
                "fleet",
                "simulate",
                "--app",
                "sim",
                "--devices",
                "300",
                "--fail-percent",
                fail,
                "--error-threshold",
                "25",
            ])
            .args([
                "--server",
                &server.url,
                "--token",
                ADMIN,
                "--timeout",
                "120",
            ])
            .output()
            .unwrap()
    };
    let out = simulate("2");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("completed phase 3"), "{text}");
    assert!(
        text.contains(&format!("294 on release {newest}, 6 failed, 0 still on")),
        "{text}"
    );
    // Simulated devices are removed afterwards, the fleet target untouched.
    let (_, devices) = server.get("/api/v1/apps/sim/devices", ADMIN);
    assert_eq!(devices["devices"].as_array().unwrap().len(), 0);
    let (_, target) = server.get("/api/v1/apps/sim/target", ADMIN);
    assert_eq!(target["release_id"], newest);

    // A bad release: the rollout pauses itself in its first phase.
    let out = simulate("60");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("paused phase 1"), "{text}");
    assert!(text.contains("over the error threshold of 25%"), "{text}");
}

#[test]
fn a_thousand_simulated_agents_survive_power_cuts_outages_flapping_and_a_superseding_release() {
    if !common::docker_available(
        "a_thousand_simulated_agents_survive_power_cuts_outages_flapping_and_a_superseding_release",
    ) {
        return;
    }
    let server = Server::start();
    server.create_app("faults", &["intel-nuc"]);
    let first = release(&server, "faults", "one");
    release(&server, "faults", "two");
    let newest = release(&server, "faults", "three");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(["fleet", "simulate", "--app", "faults", "--devices", "1000"])
        .args([
            "--supersede",
            "--fail-percent",
            "0",
            "--power-loss-percent",
            "10",
        ])
        .args(["--network-loss-percent", "5", "--flap-percent", "10"])
        .args([
            "--server",
            &server.url,
            "--token",
            ADMIN,
            "--timeout",
            "240",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("supersedes")
            && text.contains(&format!(
                "1000 on release {newest}, 0 failed, 0 still on {first}"
            )),
        "{text}"
    );
    // Power was cut on the devices armed for it, links dropped, and still
    // every device's containers, journal and server view agree.
    let cuts: u64 = text
        .split(" power cuts")
        .next()
        .and_then(|t| t.rsplit('(').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap();
    assert!(cuts >= 50, "{text}");
    assert!(text.contains("inconsistent devices: 0 "), "{text}");
}
