//! The dashboard in a real Chromium over WebDriver, against a real server,
//! engine and build: sign in, the releases pushed by the test, a status
//! filter in the URL, a saved view reopened, a release whose log grows in
//! the page while it builds, a device pinned, a rollout paused.
//! With SLIPWAY_SCREENSHOTS=DIR it also saves each page at desktop and phone
//! width (docs/screenshots/ comes from this).

mod common;

use std::time::{Duration, Instant};

use common::browser::{self, Browser};
use common::server::{dockerfile_tar, Server, ADMIN};
use serde_json::{json, Value};

/// How long a page may take to change after a click.
const WAIT: Duration = Duration::from_secs(20);

fn upload(server: &Server, dockerfile: &str) -> Value {
    let (status, lines) = server.upload(
        "web",
        ADMIN,
        "application/x-tar",
        dockerfile_tar(dockerfile),
    );
    assert_eq!(status, 200, "{lines:?}");
    lines.last().unwrap()["release"].clone()
}

#[test]
fn the_dashboard_in_a_real_browser() {
    if !common::docker_available("the_dashboard_in_a_real_browser")
        || !browser::available("the_dashboard_in_a_real_browser")
    {
        return;
    }
    let server = Server::start();
    server.create_app("web", &["intel-nuc"]);
    let good = upload(
        &server,
        "FROM busybox:slipway-amd64\nRUN echo fine > /v\nCMD [\"sleep\", \"3600\"]\n",
    );
    assert_eq!(good["status"], "success");
    let good = good["id"].as_i64().unwrap();
    let bad = upload(
        &server,
        "FROM busybox:slipway-amd64\nRUN echo broken && exit 3\n",
    );
    assert_eq!(bad["status"], "failed");
    let bad = bad["id"].as_i64().unwrap();

    let b = Browser::start();
    // Signed out: sent to the sign-in page; a wrong token is refused.
    b.goto(&format!("{}/", server.url));
    assert!(b.url().contains("/signin"), "{}", b.url());
    b.screenshots("signin");
    b.type_into(&b.find("#token"), "slw_not-a-token");
    b.click(&b.find("form.card button[type=submit]"));
    b.wait_for_text("p.error", WAIT, |t| t.contains("not valid"));
    b.type_into(&b.find("#token"), ADMIN);
    b.click(&b.find("form.card button[type=submit]"));
    b.wait_for_url(|u| u.ends_with("/releases"));
    let table = b.text_of("#releases");
    assert!(
        table.contains(&format!("#{good}")) && table.contains(&format!("#{bad}")),
        "{table}"
    );
    assert!(table.contains("upload"), "{table}");
    b.screenshots("releases");

    // Filter by status: in the URL, only failed releases listed.
    b.click(&b.find("#f-status option[value=failed]"));
    b.click(&b.find("form.filters button[type=submit]"));
    b.wait_for_url(|u| u.contains("status=failed"));
    let table = b.text_of("#releases");
    assert!(
        table.contains(&format!("#{bad}")) && !table.contains(&format!("#{good}")),
        "{table}"
    );

    // Save the filter as a view; reopen it from a cleared list.
    b.type_into(&b.find("#view-name"), "broken builds");
    b.click(&b.find(".save-view button"));
    b.wait_for_text("#views a", WAIT, |t| t == "broken builds");
    b.goto(&format!("{}/releases", server.url));
    assert!(b.text_of("#releases").contains(&format!("#{good}")));
    b.click(&b.find("#views a"));
    b.wait_for_url(|u| u.contains("status=failed"));
    let table = b.text_of("#releases");
    assert!(!table.contains(&format!("#{good}")), "{table}");
    // Delete it: gone from the list and from the API.
    b.click(&b.find("#views form button"));
    b.wait_for_text("section.card", WAIT, |t| t.contains("No saved views yet"));
    let (_, views) = server.get("/api/v1/views", ADMIN);
    assert_eq!(views["views"].as_array().unwrap().len(), 0, "{views}");

    // A release building now: its log grows in the open page.
    let building = {
        let url = server.url.clone();
        // Never cached: the engine really runs the loop.
        let fresh = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        std::thread::spawn(move || {
            let body = dockerfile_tar(&format!(
                "FROM busybox:slipway-amd64\nRUN echo {fresh} && for i in 1 2 3 4 5 6 7 8; do echo tick-$i; sleep 1; done\n"
            ));
            Server::client()
                .post(format!("{url}/api/v1/apps/web/releases"))
                .bearer_auth(ADMIN)
                .header("content-type", "application/x-tar")
                .body(body)
                .send()
                .unwrap()
                .text()
                .unwrap()
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let live = loop {
        let (_, running) = server.get("/api/v1/releases?app=web&status=running", ADMIN);
        if let Some(id) = running["releases"][0]["id"].as_i64() {
            break id;
        }
        assert!(Instant::now() < deadline, "no running release");
        std::thread::sleep(Duration::from_millis(100));
    };
    b.goto(&format!("{}/releases/{live}", server.url));
    let early = b.wait_for_text("#live-log", Duration::from_secs(30), |t| {
        t.contains("tick-2")
    });
    assert!(!early.contains("tick-8"), "{early}");
    let later = b.wait_for_text("#live-log", Duration::from_secs(30), |t| {
        t.contains("tick-7")
    });
    assert!(later.len() > early.len());
    b.screenshots("release-building");
    building.join().unwrap();
    // The page reloads itself when the build ends.
    b.wait_for_text("#release-status", Duration::from_secs(30), |t| {
        t.contains("success")
    });
    // The stored log (in a closed <details>: read from the page's source).
    assert!(b.source().contains("tick-8"));

    // A failed release: its failing step highlighted.
    b.goto(&format!("{}/releases/{bad}", server.url));
    b.wait_for_url(|u| u.ends_with(&format!("/releases/{bad}")));
    let source = b.source();
    let failed = source
        .lines()
        .find(|l| l.contains("<mark class=\"fail\">"))
        .unwrap_or_else(|| panic!("no highlighted failure"));
    assert!(
        failed.contains("exit 3") || failed.contains("ERROR"),
        "{failed}"
    );
    b.screenshots("release-failed");

    // The fleet: pin a device from the page.
    let (status, device) = server.post(
        "/api/v1/apps/web/devices",
        ADMIN,
        &json!({"name": "kiosk-1", "device_type": "intel-nuc", "tags": {"site": "lobby"}}),
    );
    assert_eq!(status, 201, "{device}");
    let uuid = device["uuid"].as_str().unwrap().to_string();
    b.goto(&format!("{}/apps/web", server.url));
    b.type_into(&b.find(&format!("#pin-{uuid}")), &good.to_string());
    b.click(&b.find(&format!("#device-{uuid} form.pin button")));
    b.wait_for_text(&format!("#device-{uuid}"), WAIT, |t| {
        t.contains(&format!("pinned to #{good}"))
    });
    let (_, shown) = server.get(&format!("/api/v1/devices/{uuid}"), ADMIN);
    assert_eq!(shown["pin_release"], good);
    b.screenshots("fleet");
    // And unpin it.
    b.click(&b.find(&format!("#device-{uuid} form button")));
    b.wait_for_text(&format!("#device-{uuid}"), WAIT, |t| {
        !t.contains("pinned to")
    });
    let (_, shown) = server.get(&format!("/api/v1/devices/{uuid}"), ADMIN);
    assert_eq!(shown["pin_release"], Value::Null);

    // A rollout paused from its page.
    let (status, rollout) = server.post(
        "/api/v1/apps/web/rollouts",
        ADMIN,
        &json!({"release_id": good, "phases": [{"percent": 20}, {"percent": 100}]}),
    );
    assert_eq!(status, 201, "{rollout}");
    let id = rollout["id"].as_i64().unwrap();
    b.goto(&format!("{}/rollouts/{id}", server.url));
    assert!(b.text_of("#rollout-state").contains("active"));
    assert_eq!(b.count("progress"), 2);
    b.screenshots("rollout");
    b.click(&b.find("form[action$='/pause'] button"));
    b.wait_for_text("#rollout-state", WAIT, |t| t.contains("paused"));
    let (_, shown) = server.get(&format!("/api/v1/rollouts/{id}"), ADMIN);
    assert_eq!(shown["state"], "paused");

    // A form from another session (no CSRF token) is refused.
    let forged = Server::client()
        .post(format!("{}/rollouts/{id}/resume", server.url))
        .header("cookie", format!("slipway_session={ADMIN}"))
        .form(&[("csrf", "0000")])
        .send()
        .unwrap();
    assert_eq!(forged.status().as_u16(), 403);
    let (_, shown) = server.get(&format!("/api/v1/rollouts/{id}"), ADMIN);
    assert_eq!(shown["state"], "paused");
}
