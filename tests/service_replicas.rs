//! Several `slipway serve` replicas on one PostgreSQL database and one
//! shared git directory, as a platform runs them behind a load balancer:
//! two API replicas and two builders, real pushes, real builds on the
//! engine, a builder killed with SIGKILL in the middle of a build.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::server::Text;
use common::server::{git_project, push, Server, ADMIN};
use serde_json::{json, Value};

fn replica(data: &Path, database: &str, git_dir: &Path, role: &str) -> Server {
    Server::start_with(
        data,
        None,
        &[
            "--database",
            database,
            "--git-dir",
            git_dir.to_str().unwrap(),
            "--role",
            role,
            "--lease-seconds",
            "4",
        ],
    )
}

/// The newest release of `app` as replica `server` lists it, once there is one newer than `after`.
fn wait_for_release(server: &Server, app: &str, after: i64) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = server.get(&format!("/api/v1/releases?app={app}&limit=1"), ADMIN);
        if let Some(id) = body["releases"][0]["id"].as_i64().filter(|&id| id > after) {
            return id;
        }
        assert!(Instant::now() < deadline, "no new release of {app}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Reads `GET /releases/ID/logs?follow=true` on `server` to its end.
fn follow_log(server: &Server, id: i64) -> String {
    Server::client()
        .get(format!(
            "{}/api/v1/releases/{id}/logs?follow=true",
            server.url
        ))
        .bearer_auth(ADMIN)
        .send()
        .unwrap()
        .text()
        .unwrap()
}

/// A Dockerfile printing `NAME-tick-N` once a second; never cached (the
/// engine keeps earlier runs' layers).
fn ticking(name: &str, ticks: u32) -> String {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "FROM busybox:slipway-amd64\nRUN echo {nonce} && for i in $(seq 1 {ticks}); do echo {name}-tick-$i; sleep 1; done\n"
    )
}

#[test]
fn replicas_share_pushes_logs_builds_and_device_targets() {
    if !common::docker_available("replicas_share_pushes_logs_builds_and_device_targets") {
        return;
    }
    let Some(database) = common::postgres::fresh_database("replicas") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let git_dir = dir.path().join("git");
    let api_a = replica(&dir.path().join("a"), &database, &git_dir, "api");
    let api_b = replica(&dir.path().join("b"), &database, &git_dir, "api");
    let builder_c = replica(&dir.path().join("c"), &database, &git_dir, "builder");

    // A builder answers its health only.
    let (status, _) = builder_c.get("/api/v1/apps", ADMIN);
    assert_eq!(status, 404);
    api_a.create_app("web", &["intel-nuc"]);
    assert_eq!(
        api_b.get("/api/v1/apps/web", ADMIN).0,
        200,
        "B sees the app A made"
    );

    // 1. Pushed to A, built by C, followed from B: every line once, in order.
    let project = git_project(&[("Dockerfile", &ticking("first", 5))]);
    let url = api_a.git_url("web", ADMIN);
    let pushing = {
        let path = project.path().to_path_buf();
        std::thread::spawn(move || push(&path, &url, "HEAD:master"))
    };
    let first = wait_for_release(&api_b, "web", 0);
    let log = follow_log(&api_b, first);
    for i in 1..=5 {
        let line = format!("first-tick-{i}");
        let seen = log.lines().filter(|l| l.ends_with(&line)).count();
        assert_eq!(seen, 1, "{line} seen {seen} times in B's log:\n{log}");
    }
    let ticks: Vec<usize> = (1..=5)
        .map(|i| log.find(&format!("first-tick-{i}")).unwrap())
        .collect();
    assert!(
        ticks.windows(2).all(|w| w[0] < w[1]),
        "out of order:\n{log}"
    );
    assert!(log.contains(&format!("release {first} success")), "{log}");
    let pushed = pushing.join().unwrap();
    assert!(pushed.status.success(), "{}", pushed.stderr_text());
    assert!(
        builder_c.log_text().contains(&format!("release={first}")),
        "C built it"
    );

    // 2. Two pushes to one app at once, through A and through B: the
    // second waits for the first (the per-app lock), then is refused
    // because the branch moved meanwhile; nothing of it is built.
    let stale = tempfile::tempdir().unwrap();
    common::server::git(
        Path::new("/"),
        &[
            "clone",
            "-q",
            project.path().to_str().unwrap(),
            stale.path().to_str().unwrap(),
        ],
    );
    std::fs::write(project.path().join("Dockerfile"), ticking("second", 3)).unwrap();
    let winner = common::server::commit_all(project.path(), "second");
    std::fs::write(stale.path().join("Dockerfile"), ticking("stale", 1)).unwrap();
    let loser = common::server::commit_all(stale.path(), "stale");
    let pushing = {
        let (path, url) = (project.path().to_path_buf(), api_a.git_url("web", ADMIN));
        std::thread::spawn(move || push(&path, &url, "HEAD:master"))
    };
    let second = wait_for_release(&api_a, "web", first);
    let waited = push(stale.path(), &api_b.git_url("web", ADMIN), "HEAD:master");
    assert!(!waited.status.success());
    assert!(
        waited.stderr_text().contains("moved to") && waited.stderr_text().contains("fetch"),
        "{}",
        waited.stderr_text()
    );
    let pushed = pushing.join().unwrap();
    assert!(pushed.status.success(), "{}", pushed.stderr_text());
    let closed = api_a.release(second);
    assert_eq!(closed["status"], "success");
    assert_eq!(closed["commit"], winner.as_str());
    assert_eq!(
        wait_for_release(&api_a, "web", 0),
        second,
        "no release of the stale push ({loser})"
    );
    let heads = common::server::git(
        project.path(),
        &[
            "ls-remote",
            &api_b.git_url("web", ADMIN),
            "refs/heads/master",
        ],
    )
    .stdout_text();
    assert!(heads.starts_with(&winner), "{heads}");
    let first = second;

    // 3. C killed mid-build: the release is interrupted within the lease
    // time, the push is told, and the next queued build runs on D.
    let builder_d = replica(&dir.path().join("d"), &database, &git_dir, "builder");
    std::fs::write(project.path().join("Dockerfile"), ticking("long", 120)).unwrap();
    common::server::commit_all(project.path(), "long");
    let url = api_a.git_url("web", ADMIN);
    let pushing = {
        let path = project.path().to_path_buf();
        std::thread::spawn(move || push(&path, &url, "HEAD:master"))
    };
    let long = wait_for_release(&api_a, "web", first);
    // Mid-build: its output is flowing.
    let deadline = Instant::now() + Duration::from_secs(120);
    let builder_of_long = loop {
        let (_, body) = api_b.get(&format!("/api/v1/releases/{long}"), ADMIN);
        if body["status"] == "running" {
            let c = builder_c.log_text().contains(&format!("release={long}"));
            let d = builder_d.log_text().contains(&format!("release={long}"));
            if c || d {
                break if c { "c" } else { "d" };
            }
        }
        assert!(
            Instant::now() < deadline,
            "release {long} never ran: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // The other builder takes the next release of the same app once the
    // first is gone: kill whichever builder runs this one.
    let (mut victim, survivor) = if builder_of_long == "c" {
        (builder_c, builder_d)
    } else {
        (builder_d, builder_c)
    };
    std::thread::sleep(Duration::from_secs(3));
    let queued = {
        let api = api_b.url.clone();
        std::thread::spawn(move || {
            let tar = common::server::tar_of(&[("Dockerfile", ticking("after", 2).as_bytes())]);
            let r = Server::client()
                .post(format!("{api}/api/v1/apps/web/releases"))
                .bearer_auth(ADMIN)
                .header("content-type", "application/x-tar")
                .body(tar)
                .send()
                .unwrap();
            r.text().unwrap()
        })
    };
    let next = wait_for_release(&api_a, "web", long);
    assert_eq!(api_a.release(next)["status"], "queued");
    unsafe { libc_kill(victim.child.id() as i32) };
    let killed_at = Instant::now();
    let _ = victim.child.wait();
    let closed = api_a.wait_closed(long, Duration::from_secs(30));
    let took = killed_at.elapsed();
    assert_eq!(closed["status"], "interrupted", "{closed}");
    assert!(
        took < Duration::from_secs(4 + 3),
        "interrupted {took:?} after the kill (lease 4 s)"
    );
    let pushed = pushing.join().unwrap();
    assert!(!pushed.status.success(), "the push is told it failed");
    assert!(
        pushed.stderr_text().contains("interrupted"),
        "{}",
        pushed.stderr_text()
    );
    let after = survivor_builds(&api_a, &survivor, next);
    assert_eq!(after["status"], "success", "{after}");
    let answer = queued.join().unwrap();
    assert!(
        answer.contains("after-tick-2"),
        "the upload's client saw the build: {answer}"
    );
    victim.kill();

    // 4. A build on the surviving builder, cancelled through B (an API
    // replica that does not build): the builder hears of it and stops.
    let cancelling = {
        let api = api_a.url.clone();
        std::thread::spawn(move || {
            let tar =
                common::server::tar_of(&[("Dockerfile", ticking("cancel-me", 120).as_bytes())]);
            Server::client()
                .post(format!("{api}/api/v1/apps/web/releases"))
                .bearer_auth(ADMIN)
                .header("content-type", "application/x-tar")
                .body(tar)
                .send()
                .unwrap()
                .text()
                .unwrap()
        })
    };
    let doomed = wait_for_release(&api_a, "web", next);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !survivor.log_text().contains(&format!("release={doomed}")) {
        assert!(Instant::now() < deadline, "release {doomed} never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    let asked_at = Instant::now();
    let (status, body) = api_b.post(
        &format!("/api/v1/releases/{doomed}/cancel"),
        ADMIN,
        &json!({}),
    );
    assert_eq!(
        (status, body["status"].as_str()),
        (202, Some("cancelling")),
        "{body}"
    );
    let closed = api_b.wait_closed(doomed, Duration::from_secs(30));
    assert_eq!(closed["status"], "cancelled", "{closed}");
    assert!(
        asked_at.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked_at.elapsed()
    );
    let answer = cancelling.join().unwrap();
    assert!(
        answer.contains("\"cancelled\""),
        "the upload's client is told: {answer}"
    );

    // 5. A device polls B while its pin changes through A: B answers within a second.
    device_pinned_through_a_is_seen_by_b(&api_a, &api_b, first);

    // 6. Each replica answers for itself in /metrics.
    let metrics = Server::client()
        .get(format!("{}/metrics", survivor.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("slipway_replica_info{role=\"builder\",backend=\"postgres\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("slipway_database_up 1"), "{metrics}");

    // 7. The database goes away: /healthz says so within seconds, and
    // recovers when it is back (connections are made again).
    let name = database.rsplit('/').next().unwrap().to_string();
    let admin = std::env::var("SLIPWAY_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://slipway:slipway@127.0.0.1:5432/postgres".into());
    let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .unwrap();
    wait_for_health(&api_b, 503);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    wait_for_health(&api_b, 200);
}

fn wait_for_health(server: &Server, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status = Server::client()
            .get(format!("{}/healthz", server.url))
            .send()
            .unwrap()
            .status()
            .as_u16();
        if status == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/healthz stayed {status}, not {want}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn device_pinned_through_a_is_seen_by_b(api_a: &Server, api_b: &Server, pin_to: i64) {
    let (status, device) = api_a.post(
        "/api/v1/apps/web/devices",
        ADMIN,
        &json!({"name": "nuc-1", "device_type": "intel-nuc"}),
    );
    assert_eq!(status, 201, "{device}");
    let key = device["device_key"].as_str().unwrap().to_string();
    let uuid = device["uuid"].as_str().unwrap().to_string();
    let etag = poll_until_known(api_b, &key);
    let waiting = {
        let (url, key) = (api_b.url.clone(), key.clone());
        std::thread::spawn(move || {
            let response = Server::client()
                .get(format!("{url}/api/v1/device/state?wait=30"))
                .bearer_auth(key)
                .header("if-none-match", etag)
                .send()
                .unwrap();
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().unwrap_or(Value::Null),
                Instant::now(),
            )
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let pinned_at = Instant::now();
    let response = Server::client()
        .put(format!("{}/api/v1/devices/{uuid}/pin", api_a.url))
        .bearer_auth(ADMIN)
        .json(&json!({"release_id": pin_to}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let (status, state, answered_at) = waiting.join().unwrap();
    let took = answered_at.saturating_duration_since(pinned_at);
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["release_id"].as_i64(), Some(pin_to), "{state}");
    assert!(took < Duration::from_secs(1), "B answered after {took:?}");
}

/// Waits for `release` to end, built by `survivor`.
fn survivor_builds(api: &Server, survivor: &Server, release: i64) -> Value {
    let closed = api.wait_closed(release, Duration::from_secs(120));
    assert!(
        survivor.log_text().contains(&format!("release={release}")),
        "the surviving builder built {release}"
    );
    closed
}

/// Polls the device state until it answers 200; returns its ETag.
fn poll_until_known(server: &Server, key: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = Server::client()
            .get(format!("{}/api/v1/device/state", server.url))
            .bearer_auth(key)
            .send()
            .unwrap();
        if response.status() == 200 {
            if let Some(etag) = response.headers().get("etag") {
                return etag.to_str().unwrap().to_string();
            }
        }
        assert!(Instant::now() < deadline, "B never knew the device");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGKILL: the builder gets no chance to tidy up.
unsafe fn libc_kill(pid: i32) {
    extern "C" {
        fn kill(pid: i32, signal: i32) -> i32;
    }
    kill(pid, 9);
}
