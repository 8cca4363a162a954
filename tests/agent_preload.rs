//! Preload: `slipway preload` writes a release's images and target state;
//! `slipway agent --preload` starts it with the server down and nothing to
//! pull, then follows the server once it is back (reports, next update).

mod common;

use std::time::Duration;

use common::agent::{
    add_device, agent_with, device, release, remove_containers, runs_only, wait_for,
};
use common::server::{Server, ADMIN};

/// Containers created before the agent knew its uuid (from the preload).
fn preloaded_containers(release: i64) -> Vec<String> {
    let ids = common::docker(&[
        "ps",
        "-q",
        "--filter",
        "label=io.slipway.device=",
        "--filter",
        &format!("label=io.slipway.release={release}"),
    ]);
    ids.lines().map(str::to_string).collect()
}

#[test]
fn a_preloaded_release_starts_offline_then_follows_the_server() {
    if !common::docker_available("a_preloaded_release_starts_offline") {
        return;
    }
    let server = Server::start();
    server.create_app("factory", &["intel-nuc"]);
    let (uuid, key) = add_device(&server, "factory");
    let nonce = format!("{:?}", std::time::SystemTime::now());
    let (r1, r1_image) = release(&server, "factory", &format!("one-{nonce}"));
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("preload.tar");
    let out = common::slipway(&[
        "preload",
        &r1.to_string(),
        "--device-type",
        "intel-nuc",
        "-o",
        file.to_str().unwrap(),
        "--server",
        &server.url,
        "--token",
        ADMIN,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 image(s)"));
    assert!(
        file.metadata().unwrap().len() > 100_000,
        "the image is in the file"
    );
    // Nothing to pull from: the engine forgets the digest reference.
    common::docker(&["rmi", &r1_image]);

    // The server is down; the device starts from the file.
    let (data, port) = (server.data.clone(), server.port);
    let mut server = server;
    server.kill();
    let state_dir = work.path().join("agent");
    let mut running = agent_with(
        &server,
        &key,
        &state_dir,
        None,
        &["--preload", file.to_str().unwrap()],
    );
    wait_for(
        "the preloaded release running offline",
        Duration::from_secs(60),
        || preloaded_containers(r1).len() == 1,
    );

    // The server comes back: the device reports it runs r1, then updates.
    let back = Server::start_in(&data, Some(port));
    wait_for(
        "the report of the preloaded release",
        Duration::from_secs(60),
        || {
            let d = device(&back, &uuid);
            d["release_id"] == r1 && d["update_status"] == "running"
        },
    );
    let (r2, _) = release(&back, "factory", &format!("two-{nonce}"));
    wait_for("the next update", Duration::from_secs(90), || {
        runs_only(&back, &uuid, r2)
    });
    assert!(
        preloaded_containers(r1).is_empty(),
        "the preloaded container was replaced"
    );

    running.kill().unwrap();
    running.wait().unwrap();
    remove_containers(&uuid);
    drop(server);
}
