//! The release API of `slipway serve`: tokens and scopes, filters and saved
//! views, webhooks, live logs, cancel, and a restart during a build.

mod common;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use common::server::{Server, ADMIN};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

/// Makes a step unique to this run, so the engine's cache cannot skip it.
fn nonce() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

/// Starts an upload in the background; returns its reader thread.
fn upload_in_background(
    server: &Server,
    app: &str,
    dockerfile: &str,
) -> std::thread::JoinHandle<Vec<String>> {
    let url = format!("{}/api/v1/apps/{app}/releases", server.url);
    let body = common::server::dockerfile_tar(dockerfile);
    std::thread::spawn(move || {
        let Ok(response) = Server::client()
            .post(url)
            .bearer_auth(ADMIN)
            .header("content-type", "application/x-tar")
            .body(body)
            .send()
        else {
            return Vec::new();
        };
        BufReader::new(response)
            .lines()
            .map_while(Result::ok)
            .collect()
    })
}

fn wait_for_status(server: &Server, id: i64, want: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let (status, release) = server.get(&format!("/api/v1/releases/{id}"), ADMIN);
        if status == 200 && release["status"] == want {
            return release;
        }
        assert!(
            Instant::now() < deadline,
            "release {id} never became {want}: {release}\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn tokens_are_required_and_scoped() {
    let server = Server::start();
    server.create_app("one", &["intel-nuc"]);
    server.create_app("two", &["raspberrypi4-64"]);
    let token = server.deploy_token("one");
    assert!(token.starts_with("slw_"));

    let bare = Server::client()
        .get(format!("{}/api/v1/apps", server.url))
        .send()
        .unwrap();
    assert_eq!(bare.status(), 401);
    let bare: Value = bare.json().unwrap();
    let (status, wrong) = server.get("/api/v1/apps", "slw_0000");
    assert_eq!(status, 401);
    // The same answer whatever was wrong.
    assert_eq!(bare, wrong);

    let (status, apps) = server.get("/api/v1/apps", &token);
    assert_eq!(status, 200);
    assert_eq!(apps["apps"].as_array().unwrap().len(), 1, "{apps}");
    assert_eq!(server.get("/api/v1/apps/one", &token).0, 200);
    let (status, body) = server.get("/api/v1/apps/two", &token);
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "forbidden");
    // A deploy token cannot make apps or tokens.
    assert_eq!(
        server
            .post(
                "/api/v1/apps",
                &token,
                &json!({"name": "three", "device_types": ["intel-nuc"]})
            )
            .0,
        403
    );
    assert_eq!(
        server.post("/api/v1/apps/one/tokens", &token, &json!({})).0,
        403
    );
    // Bad input names the field.
    let (status, body) = server.post(
        "/api/v1/apps",
        ADMIN,
        &json!({"name": "../x", "device_types": ["intel-nuc"]}),
    );
    assert_eq!(status, 400);
    assert!(
        body["detail"].as_str().unwrap().starts_with("name `../x`"),
        "{body}"
    );
    let (status, body) = server.post(
        "/api/v1/apps",
        ADMIN,
        &json!({"name": "ok", "device_types": ["raspberrypi9"]}),
    );
    assert_eq!(status, 400);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("device_types: "),
        "{body}"
    );
    assert_eq!(
        server
            .post(
                "/api/v1/apps",
                ADMIN,
                &json!({"name": "one", "device_types": ["intel-nuc"]})
            )
            .0,
        409
    );
    // Only the hash of a token is stored.
    let db = std::fs::read(server.data.join("releases.sqlite")).unwrap();
    assert!(!db.windows(token.len()).any(|w| w == token.as_bytes()));
    assert!(!db.windows(ADMIN.len()).any(|w| w == ADMIN.as_bytes()));
}

#[test]
fn releases_filter_page_and_save_views() {
    if !common::docker_available("releases_filter_page_and_save_views") {
        return;
    }
    let server = Server::start();
    server.create_app("alpha", &["intel-nuc"]);
    server.create_app("beta", &["raspberrypi4-64"]);
    let ok = common::server::dockerfile_tar("FROM busybox:slipway-amd64\n");
    let bad = common::server::dockerfile_tar("FROM busybox:slipway-amd64\nRUN exit 1\n");
    let arm = common::server::dockerfile_tar("FROM busybox:slipway-aarch64\n");
    assert_eq!(
        server
            .upload("alpha", ADMIN, "application/x-tar", ok.clone())
            .0,
        200
    );
    let middle = release_time(&server, 1) + 1;
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(
        server.upload("alpha", ADMIN, "application/x-tar", bad).0,
        200
    );
    assert_eq!(
        server.upload("beta", ADMIN, "application/x-tar", arm).0,
        200
    );
    assert_eq!(
        server.upload("alpha", ADMIN, "application/x-tar", ok).0,
        200
    );

    let ids = |query: &str| -> Vec<i64> {
        let (status, body) = server.get(&format!("/api/v1/releases{query}"), ADMIN);
        assert_eq!(status, 200, "{query}: {body}");
        body["releases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids(""), vec![4, 3, 2, 1]);
    assert_eq!(ids("?status=failed"), vec![2]);
    assert_eq!(ids("?app=beta"), vec![3]);
    assert_eq!(ids("?device_type=raspberrypi4-64"), vec![3]);
    assert_eq!(ids("?app=alpha&status=success"), vec![4, 1]);
    assert_eq!(ids(&format!("?until={middle}")), vec![1]);
    assert_eq!(ids(&format!("?since={middle}")), vec![4, 3, 2]);
    // Pages follow the cursor to the end.
    let (_, page) = server.get("/api/v1/releases?limit=3", ADMIN);
    assert_eq!(page["releases"].as_array().unwrap().len(), 3);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (_, rest) = server.get(&format!("/api/v1/releases?limit=3&cursor={cursor}"), ADMIN);
    assert_eq!(rest["releases"][0]["id"], 1);
    assert_eq!(rest["next_cursor"], Value::Null);
    // Bad filters name the field.
    let (status, body) = server.get("/api/v1/releases?status=done", ADMIN);
    assert_eq!(status, 400);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("status: `done`"),
        "{body}"
    );
    let (status, body) = server.get("/api/v1/releases?colour=red", ADMIN);
    assert_eq!(status, 400);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("colour: unknown filter"),
        "{body}"
    );
    // A deploy token sees only its app's releases.
    let beta = server.deploy_token("beta");
    let (_, mine) = server.get("/api/v1/releases", &beta);
    assert_eq!(mine["releases"].as_array().unwrap().len(), 1);
    assert_eq!(server.get("/api/v1/releases/1", &beta).0, 404);

    // Saved views.
    let (status, saved) = server.post(
        "/api/v1/views",
        ADMIN,
        &json!({"name": "alpha failures", "filter": {"app": "alpha", "status": "failed"}}),
    );
    assert_eq!(status, 201, "{saved}");
    let (status, body) = server.post(
        "/api/v1/views",
        ADMIN,
        &json!({"name": "broken", "filter": {"status": "nope"}}),
    );
    assert_eq!(status, 400, "{body}");
    let (_, views) = server.get("/api/v1/views", ADMIN);
    let views = views["views"].as_array().unwrap();
    assert_eq!(views.len(), 1);
    let filter = views[0]["filter"].as_object().unwrap();
    let query: Vec<String> = filter
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
        .collect();
    assert_eq!(ids(&format!("?{}", query.join("&"))), vec![2]);
}

fn release_time(server: &Server, id: i64) -> i64 {
    server.release(id)["started_at_ms"].as_i64().unwrap()
}

#[test]
fn github_webhooks_need_the_apps_signature() {
    if !common::docker_available("github_webhooks_need_the_apps_signature") {
        return;
    }
    let server = Server::start();
    server.create_app("linked", &["intel-nuc"]);
    let upstream = common::server::git_project(&[(
        "Dockerfile",
        "FROM busybox:slipway-amd64\nRUN echo from-webhook\n",
    )]);
    let head = common::server::git(upstream.path(), &["rev-parse", "HEAD"]);
    let head = String::from_utf8_lossy(&head.stdout).trim().to_string();
    let payload = json!({
        "ref": "refs/heads/master",
        "after": head,
        "deleted": false,
        "repository": {"clone_url": upstream.path().to_str().unwrap(), "default_branch": "master"}
    })
    .to_string();
    let sign = |secret: &str, body: &str| {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    let hook = |signature: &str| {
        Server::client()
            .post(format!("{}/api/v1/apps/linked/webhooks/github", server.url))
            .header("x-github-event", "push")
            .header("x-hub-signature-256", signature)
            .body(payload.clone())
            .send()
            .unwrap()
    };
    // No secret yet: refused.
    let refused = hook(&sign("whatever-secret-123", &payload));
    assert_eq!(refused.status(), 403);
    let response = Server::client()
        .put(format!("{}/api/v1/apps/linked/webhook", server.url))
        .bearer_auth(ADMIN)
        .json(&json!({"secret": "a-long-webhook-secret"}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 204);

    assert_eq!(hook(&sign("not-the-secret-at-all", &payload)).status(), 401);
    assert_eq!(hook("sha256=00").status(), 401);
    let started = Instant::now();
    let accepted = hook(&sign("a-long-webhook-secret", &payload));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "answered in {:?}",
        started.elapsed()
    );
    assert_eq!(accepted.status(), 202);
    let accepted: Value = accepted.json().unwrap();
    let id = accepted["release"].as_i64().expect("a release id");
    let release = server.wait_closed(id, Duration::from_secs(120));
    assert_eq!(release["status"], "success", "{release}");
    assert_eq!(release["commit"], head.as_str());
    assert_eq!(release["source"], "git");
    let logs = Server::client()
        .get(format!("{}/api/v1/releases/{id}/logs", server.url))
        .bearer_auth(ADMIN)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(logs.contains("from-webhook"), "{logs}");
}

#[test]
fn logs_follow_a_build_live_and_cancel_stops_it() {
    if !common::docker_available("logs_follow_a_build_live_and_cancel_stops_it") {
        return;
    }
    let server = Server::start();
    server.create_app("slow", &["intel-nuc"]);
    let upload = upload_in_background(
        &server,
        "slow",
        &format!("FROM busybox:slipway-amd64\nRUN echo before-the-wait {} && sleep 7 && echo after-the-wait\n", nonce()),
    );
    wait_for_status(&server, 1, "running", Duration::from_secs(30));
    // Follow: lines arrive live, a keepalive covers the silent sleep, the end is named.
    let follow = Server::client()
        .get(format!("{}/api/v1/releases/1/logs?follow=true", server.url))
        .bearer_auth(ADMIN)
        .send()
        .unwrap();
    assert_eq!(follow.headers()["x-accel-buffering"], "no");
    let lines: Vec<String> = BufReader::new(follow)
        .lines()
        .map_while(Result::ok)
        .collect();
    let text = lines.join("\n");
    assert!(
        text.contains("before-the-wait") && text.contains("after-the-wait"),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.is_empty()),
        "no keepalive during a 7 s silent step: {text}"
    );
    assert!(
        lines.last().unwrap().starts_with("release 1 success"),
        "{text}"
    );
    assert!(upload
        .join()
        .unwrap()
        .last()
        .unwrap()
        .contains("\"summary\""));

    // Cancel: the engine stops and the slot frees at once.
    let upload = upload_in_background(
        &server,
        "slow",
        &format!(
            "FROM busybox:slipway-amd64\nRUN echo started-sleeping {} && sleep 300\n",
            nonce()
        ),
    );
    wait_for_status(&server, 2, "running", Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.release(2)["images"][0]["status"] != "running" {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let asked = Instant::now();
    let (status, body) = server.post("/api/v1/releases/2/cancel", ADMIN, &json!({}));
    assert_eq!(status, 202, "{body}");
    let release = wait_for_status(&server, 2, "cancelled", Duration::from_secs(30));
    assert!(
        asked.elapsed() < Duration::from_secs(20),
        "took {:?}",
        asked.elapsed()
    );
    assert_eq!(release["images"][0]["status"], "cancelled");
    let last = upload.join().unwrap();
    assert!(last.last().unwrap().contains("\"cancelled\""), "{last:?}");
    let (status, body) = server.post("/api/v1/releases/2/cancel", ADMIN, &json!({}));
    assert_eq!(status, 409, "{body}");
    // The slot is free: the next build of the app starts and ends at once.
    let (status, lines) = server.upload(
        "slow",
        ADMIN,
        "application/x-tar",
        common::server::dockerfile_tar("FROM busybox:slipway-amd64\n"),
    );
    assert_eq!(status, 200);
    assert_eq!(lines.last().unwrap()["release"]["status"], "success");
}

#[test]
fn a_restart_interrupts_the_running_build_and_resumes_the_queued_one() {
    if !common::docker_available(
        "a_restart_interrupts_the_running_build_and_resumes_the_queued_one",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start_in(&data, None);
    server.create_app("busy", &["intel-nuc"]);
    let first = upload_in_background(
        &server,
        "busy",
        &format!(
            "FROM busybox:slipway-amd64\nRUN echo {} && sleep 300\n",
            nonce()
        ),
    );
    wait_for_status(&server, 1, "running", Duration::from_secs(30));
    let second = upload_in_background(
        &server,
        "busy",
        "FROM busybox:slipway-amd64\nRUN echo resumed\n",
    );
    // One build per app: the second waits its turn, visibly.
    wait_for_status(&server, 2, "queued", Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(server.release(2)["status"], "queued");

    let port = server.port;
    server.kill();
    let _ = first.join();
    let _ = second.join();
    let server = Server::start_in(&data, Some(port));
    let interrupted = server.release(1);
    assert_eq!(interrupted["status"], "interrupted", "{interrupted}");
    let resumed = server.wait_closed(2, Duration::from_secs(120));
    assert_eq!(resumed["status"], "success", "{resumed}");
    let (_, list) = server.get("/api/v1/releases", ADMIN);
    assert_eq!(
        list["releases"].as_array().unwrap().len(),
        2,
        "built twice? {list}"
    );
}

#[test]
fn the_first_start_prints_an_admin_token_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let start = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_slipway"))
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(&data)
            .arg("--cache-dir")
            .arg(common::cache_dir())
            .env_remove("SLIPWAY_ADMIN_TOKEN")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let wait_ready = || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while reqwest::blocking::get(format!("http://127.0.0.1:{port}/healthz")).is_err() {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut first = start();
    let mut line = String::new();
    BufReader::new(first.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let token = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(
        line.starts_with("admin token (shown once, keep it): slw_"),
        "{line}"
    );
    wait_ready();
    let apps = Server::client()
        .get(format!("http://127.0.0.1:{port}/api/v1/apps"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(apps.status(), 200);
    first.kill().unwrap();
    first.wait().unwrap();

    let mut second = start();
    wait_ready();
    second.kill().unwrap();
    let out = second.wait_with_output().unwrap();
    assert!(
        out.stdout.is_empty(),
        "printed again: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_git_client_that_goes_away_leaves_the_build_running_to_its_end() {
    if !common::docker_available("a_git_client_that_goes_away_leaves_the_build_running_to_its_end")
    {
        return;
    }
    let server = Server::start();
    server.create_app("away", &["intel-nuc"]);
    let project = common::server::git_project(&[(
        "Dockerfile",
        &format!(
            "FROM busybox:slipway-amd64\nRUN echo {} && sleep 4 && echo done-sleeping\n",
            nonce()
        ),
    )]);
    let mut client = std::process::Command::new("git")
        .current_dir(project.path())
        .args(["push", &server.git_url("away", ADMIN), "HEAD:master"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for_status(&server, 1, "running", Duration::from_secs(30));
    // Ctrl-C: the client is gone mid-build.
    client.kill().unwrap();
    client.wait().unwrap();
    let release = server.wait_closed(1, Duration::from_secs(120));
    assert_eq!(release["status"], "success", "{release}");
    let logs = Server::client()
        .get(format!("{}/api/v1/releases/1/logs", server.url))
        .bearer_auth(ADMIN)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(logs.contains("done-sleeping"), "{logs}");
}
