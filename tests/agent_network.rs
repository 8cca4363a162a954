//! The agent and the network during a download (slowed by the
//! `agent-slow-pull` failpoint: each pull from the real registry then takes
//! 20 s more): a newer target that arrives mid-download wins before anything
//! is switched, and the server stopped mid-download leaves the update to
//! finish from the registry, the agent retrying until the server is back
//! and has its report again.

mod common;

use std::time::Duration;

use common::agent::{add_device, agent, device, release, remove_containers, runs_only, wait_for};
use common::server::Server;

#[test]
fn a_newer_target_wins_mid_download_and_a_server_outage_is_ridden_out() {
    if !common::docker_available("a_newer_target_wins_mid_download") {
        return;
    }
    let server = Server::start();
    server.create_app("net", &["intel-nuc"]);
    let (uuid, key) = add_device(&server, "net");
    let nonce = format!("{:?}", std::time::SystemTime::now());
    let state = tempfile::tempdir().unwrap();
    let state_dir = state.path().join("agent");
    let log = state_dir.with_extension("log");

    let (r1, _) = release(&server, "net", &format!("one-{nonce}"));
    let mut running = agent(&server, &key, &state_dir, Some("agent-slow-pull"));
    wait_for("the first install", Duration::from_secs(120), || {
        runs_only(&server, &uuid, r1)
    });

    // r2 starts downloading; r3 arrives meanwhile and wins.
    let (r2, _) = release(&server, "net", &format!("two-{nonce}"));
    wait_for("r2 downloading", Duration::from_secs(60), || {
        let d = device(&server, &uuid);
        d["release_id"] == r2 && d["update_status"] == "downloading"
    });
    let (r3, _) = release(&server, "net", &format!("three-{nonce}"));
    wait_for("r3 running", Duration::from_secs(120), || {
        runs_only(&server, &uuid, r3)
    });
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("a newer target arrived during the download: it wins")
            && text.contains(&format!("from=Some({r2}) to=Some({r3})")),
        "{text}"
    );
    assert!(
        !text.contains(&format!("update committed release=Some({r2})")),
        "r2 was never switched to: {text}"
    );

    // r4 starts downloading; the server goes away until after the switch.
    let (r4, _) = release(&server, "net", &format!("four-{nonce}"));
    wait_for("r4 downloading", Duration::from_secs(60), || {
        let d = device(&server, &uuid);
        d["release_id"] == r4 && d["update_status"] == "downloading"
    });
    let (data, port) = (server.data.clone(), server.port);
    let mut server = server;
    server.kill();
    wait_for(
        "the switch with the server down",
        Duration::from_secs(90),
        || {
            std::fs::read_to_string(&log)
                .unwrap()
                .contains(&format!("update committed release=Some({r4})"))
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    let back = Server::start_in(&data, Some(port));
    wait_for(
        "the report after the outage",
        Duration::from_secs(90),
        || runs_only(&back, &uuid, r4),
    );

    running.kill().unwrap();
    running.wait().unwrap();
    remove_containers(&uuid);
    drop(server);
}
