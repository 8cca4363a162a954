//! Local mode on the real engine: `slipway agent --local --listen` with no
//! server; `slipway push --local` builds a project on the device's engine,
//! hands the release to the agent's local API and streams the build, the
//! update and the container's own output back. A second push replaces the
//! container (one per service); a wrong token is refused and changes nothing.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::agent::{containers, remove_containers, wait_for, AgentProcess};
use common::TempProject;

const TOKEN: &str = "local-mode-test-token-0123456789";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn project(word: &str) -> TempProject {
    TempProject::new(
        "local",
        &[(
            "Dockerfile",
            &format!(
                "FROM busybox:slipway-amd64\nCMD [\"sh\", \"-c\", \"echo {word} from the device; sleep 3600\"]\n"
            ),
        )],
    )
}

/// Runs `slipway push --local` until its output has `wanted` (then stops
/// it, as a user's Ctrl-C would); everything it printed.
fn push_until(
    address: &str,
    project: &TempProject,
    data: &std::path::Path,
    wanted: &str,
) -> String {
    let mut child = AgentProcess::from(
        Command::new(env!("CARGO_BIN_EXE_slipway"))
            .args(["push", "--local", address, project.path_str()])
            .arg("--data-dir")
            .arg(data)
            .env("SLIPWAY_LOCAL_TOKEN", TOKEN)
            .env("SLIPWAY_CACHE_DIR", common::cache_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (lines, received) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut seen = String::new();
    while Instant::now() < deadline {
        match received.recv_timeout(Duration::from_millis(500)) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.contains(wanted) {
                    return seen; // the drop stops it
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(status)) = child.try_wait() {
                    let mut err = String::new();
                    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err)
                        .unwrap();
                    panic!("push exited {status} before `{wanted}`:\n{seen}\n{err}");
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    panic!("no `{wanted}` from push --local:\n{seen}");
}

#[test]
fn local_mode_push_builds_on_the_device_applies_and_streams_logs() {
    if !common::docker_available("local_mode_push_builds_on_the_device_applies_and_streams_logs") {
        return;
    }
    remove_containers("local");
    let state = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let _agent = AgentProcess::from(
        Command::new(env!("CARGO_BIN_EXE_slipway"))
            .args([
                "agent",
                "--local",
                "--listen",
                &address,
                "--settle-seconds",
                "1",
            ])
            .arg("--state-dir")
            .arg(state.path())
            .env("SLIPWAY_LOCAL_TOKEN", TOKEN)
            .env("SLIPWAY_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(state.path().with_extension("log")).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for("the local API", Duration::from_secs(10), || {
        std::net::TcpStream::connect(&address).is_ok()
    });

    // First push: built here, applied by the agent, its output streamed.
    let first = project("hello");
    let out = push_until(&address, &first, data.path(), "hello from the device");
    assert!(out.contains("handed to the agent"), "{out}");
    assert!(out.contains("device: running"), "{out}");
    assert!(out.contains("main | hello from the device"), "{out}");
    let running = containers("local");
    assert_eq!(running.len(), 1, "{running:?}");
    assert_eq!(running[0].1, "running");
    let first_release = running[0].0.clone();

    // Second push: the container is replaced, never two.
    let second = project("bonjour");
    let out = push_until(&address, &second, data.path(), "bonjour from the device");
    assert!(out.contains("main | bonjour from the device"), "{out}");
    let running = containers("local");
    assert_eq!(running.len(), 1, "{running:?}");
    assert_ne!(running[0].0, first_release);
    assert_eq!(running[0].1, "running");

    // Hooks: a failing `release` hook stops the update before anything is
    // touched; a failing `postdeploy` rolls the new release back.
    let hooked = |hook: &str| {
        TempProject::new(
            "hooked",
            &[
                ("Dockerfile", "FROM busybox:slipway-amd64\n"),
                ("Procfile", &format!("web: sleep 3600\n{hook}\n")),
            ],
        )
    };
    let push_detached = |project: &TempProject| {
        Command::new(env!("CARGO_BIN_EXE_slipway"))
            .args(["push", "--local", &address, project.path_str(), "--detach"])
            .arg("--data-dir")
            .arg(data.path())
            .env("SLIPWAY_LOCAL_TOKEN", TOKEN)
            .env("SLIPWAY_CACHE_DIR", common::cache_dir())
            .output()
            .unwrap()
    };
    let container_ids =
        || common::docker(&["ps", "-aq", "--filter", "label=io.slipway.device=local"]);
    let before = container_ids();
    let out = push_detached(&hooked("release: exit 3"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the release hook (") && err.contains("exit 3) exited 3"),
        "{err}"
    );
    assert_eq!(
        container_ids(),
        before,
        "a failed release hook touches nothing"
    );
    let out = push_detached(&hooked("postdeploy: exit 4"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the postdeploy hook (") && err.contains("exit 4) exited 4"),
        "{err}"
    );
    assert_eq!(
        containers("local"),
        running,
        "rolled back to the release before"
    );

    // A wrong token: refused, nothing changes.
    let refused = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(["push", "--local", &address, first.path_str(), "--detach"])
        .arg("--data-dir")
        .arg(data.path())
        .env("SLIPWAY_LOCAL_TOKEN", "not-the-token-of-this-device")
        .env("SLIPWAY_CACHE_DIR", common::cache_dir())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("refused the release (401"), "{err}");
    assert_eq!(containers("local"), running);
    remove_containers("local");
}
