//! The agent killed with SIGKILL at each step of an update (after the pull,
//! after the old container stopped, after the new one was created, after it
//! started), then restarted: it converges to the new release with exactly
//! one container per service. Also: images it pulled for a release no longer
//! needed are removed once the new one runs. Real engine, registry, server.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use common::agent::{
    add_device, agent, containers, device, image_present, release, remove_containers, runs_only,
    wait_for,
};
use common::server::Server;

#[test]
fn killed_at_each_step_of_an_update_the_agent_converges_on_restart() {
    if !common::docker_available("killed_at_each_step_of_an_update_the_agent_converges") {
        return;
    }
    let server = Server::start();
    server.create_app("faults", &["intel-nuc"]);
    let (uuid, key) = add_device(&server, "faults");
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

    remove_containers(&uuid);
}
