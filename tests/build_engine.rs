//! `slipway build` on a real Docker engine: images, architectures, logs,
//! the release record, cancellation. No mock of the engine anywhere.
//! The base images come from `scripts/setup-docker.sh`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{build, docker, docker_available, releases, slipway_in, TempProject};
use serde_json::Value;

fn data_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp data dir")
}

use common::image_tag as tag_of;

fn inspect(tag: &str, format: &str) -> String {
    docker(&["image", "inspect", "--format", format, tag])
}

#[test]
fn single_dockerfile_becomes_a_labelled_image_and_a_release() {
    if !docker_available("single_dockerfile") {
        return;
    }
    let project = TempProject::new(
        "single",
        &[(
            "Dockerfile",
            "FROM busybox:slipway\nARG GREETING=unset\nRUN echo $GREETING > /greeting\nCMD [\"cat\", \"/greeting\"]\n",
        )],
    );
    let data = data_dir();
    let run = build(
        data.path(),
        project.path(),
        &["intel-nuc"],
        &[
            "--app",
            "t-single",
            "--build-arg",
            "GREETING=built-by-slipway",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let tag = tag_of(&run, "main", "amd64");
    assert!(tag.starts_with("t-single/main:"), "{tag}");
    assert!(tag.ends_with("-amd64"), "{tag}");
    assert_eq!(inspect(&tag, "{{.Os}}/{{.Architecture}}"), "linux/amd64");
    assert_eq!(
        inspect(&tag, "{{index .Config.Labels \"io.slipway.service\"}}"),
        "main"
    );
    assert_eq!(
        inspect(&tag, "{{index .Config.Labels \"io.slipway.app\"}}"),
        "t-single"
    );
    assert_eq!(docker(&["run", "--rm", &tag]), "built-by-slipway");

    let release = &run.summary["release"];
    assert_eq!(release["status"], "success");
    let listed = releases(data.path());
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], release["id"]);
    assert_eq!(listed[0]["status"], "success");
    assert_eq!(listed[0]["source"], "local");
    assert!(listed[0]["duration_ms"].as_i64().unwrap() > 0);
    assert!(tag.contains(&listed[0]["hash"].as_str().unwrap()[..12]));

    let id = release["id"].to_string();
    let shown = slipway_in(data.path(), &["release", "show", &id, "--json"]);
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    let image = &shown["images"][0];
    assert_eq!(image["project_type"], "dockerfile");
    assert!(image["plugin"].as_str().unwrap().starts_with("dockerfile@"));
    assert!(image["dockerfile"]
        .as_str()
        .unwrap()
        .contains("ARG GREETING"));
    let log = image["log"].as_str().unwrap();
    assert_eq!(image["builder"], "buildkit");
    assert!(
        log.contains("[2/"),
        "BuildKit step lines are recorded: {log}"
    );
    assert!(log.contains(&format!("labelled and tagged {tag}")), "{log}");
    assert!(shown["release"]["composition"]
        .as_str()
        .unwrap()
        .contains("main:"));
}

#[test]
fn template_builds_for_arm64_and_amd64_under_emulation() {
    if !docker_available("template_two_arches") {
        return;
    }
    let project = TempProject::new(
        "template",
        &[(
            "Dockerfile.template",
            "FROM busybox:slipway-%%BALENA_ARCH%%\nRUN uname -m > /built-on\nCMD [\"cat\", \"/built-on\"]\n",
        )],
    );
    let data = data_dir();
    let run = build(
        data.path(),
        project.path(),
        &["raspberrypi4-64", "intel-nuc"],
        &["--app", "t-template"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let arm = tag_of(&run, "main", "aarch64");
    let x86 = tag_of(&run, "main", "amd64");
    assert_eq!(inspect(&arm, "{{.Architecture}}"), "arm64");
    assert_eq!(inspect(&x86, "{{.Architecture}}"), "amd64");
    // What the RUN step saw while building, recorded in the image.
    assert_eq!(
        docker(&["run", "--rm", "--platform", "linux/arm64", &arm]),
        "aarch64"
    );
    assert_eq!(docker(&["run", "--rm", &x86]), "x86_64");
    // One release holds both.
    assert_eq!(releases(data.path()).len(), 1);
    assert_eq!(
        run.summary["release"]["device_types"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn node_project_builds_with_the_implicit_dockerfile_on_a_node_image() {
    if !docker_available("node_implicit") {
        return;
    }
    let project = TempProject::new(
        "node",
        &[
            (
                "package.json",
                r#"{"name": "hello", "version": "1.0.0", "engines": {"node": "18"},
                    "scripts": {"start": "node index.js"}}"#,
            ),
            ("index.js", "console.log('node says ' + process.version)\n"),
        ],
    );
    let data = data_dir();
    let run = build(
        data.path(),
        project.path(),
        &["intel-nuc"],
        &["--app", "t-node"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let image = run.image("main", "amd64");
    assert_eq!(image["project_type"], "node");
    let tag = tag_of(&run, "main", "amd64");
    let output = docker(&["run", "--rm", &tag]);
    assert!(output.contains("node says v18."), "{output}");
}

#[test]
fn compose_services_of_three_kinds_build_concurrently() {
    if !docker_available("compose_concurrent") {
        return;
    }
    let project = TempProject::new(
        "compose",
        &[
            (
                "docker-compose.yml",
                "services:\n  web:\n    build: ./web\n  worker:\n    build: ./worker\n  \
                 api:\n    build: ./api\n  cache:\n    image: redis:slipway\n",
            ),
            (
                "web/Dockerfile",
                "FROM busybox:slipway\nRUN sleep 2 && echo web > /kind\n",
            ),
            (
                "worker/Dockerfile.template",
                "FROM busybox:slipway-%%BALENA_ARCH%%\nRUN sleep 2 && echo worker > /kind\n",
            ),
            (
                "api/package.json",
                r#"{"name": "api", "engines": {"node": "18"}, "main": "server.js"}"#,
            ),
            ("api/server.js", "console.log('api')\n"),
        ],
    );
    let data = data_dir();
    let run = build(
        data.path(),
        project.path(),
        &["intel-nuc"],
        &["--app", "t-compose", "--no-cache", "--concurrency", "3"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.image("web", "amd64")["project_type"], "dockerfile");
    assert_eq!(
        run.image("worker", "amd64")["project_type"],
        "dockerfile-template"
    );
    assert_eq!(run.image("api", "amd64")["project_type"], "node");
    assert_eq!(run.image("cache", "amd64")["status"], "prebuilt");
    let prebuilt = run.events_of("prebuilt");
    let message = prebuilt[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("uses image redis:slipway (not on the engine"),
        "{message}"
    );

    // Every service has its own log stream.
    for service in ["web", "worker", "api"] {
        assert!(
            run.events
                .iter()
                .any(|e| e["kind"] == "log" && e["service"] == service),
            "no log lines for {service}"
        );
    }
    // Concurrency: some build started before another one finished.
    let time_of = |kind: &str, service: &str| -> i64 {
        run.events
            .iter()
            .find(|e| e["kind"] == kind && e["service"] == service)
            .and_then(|e| e["time"].as_i64())
            .unwrap_or_else(|| panic!("no {kind} event for {service}"))
    };
    let spans: Vec<(i64, i64)> = ["web", "worker", "api"]
        .iter()
        .map(|s| (time_of("started", s), time_of("succeeded", s)))
        .collect();
    let overlapping = spans
        .iter()
        .enumerate()
        .any(|(i, a)| spans.iter().skip(i + 1).any(|b| a.0 < b.1 && b.0 < a.1));
    assert!(overlapping, "builds ran one after another: {spans:?}");
}

#[test]
fn a_failing_run_step_fails_the_release_and_keeps_its_log() {
    if !docker_available("failing_step") {
        return;
    }
    let project = TempProject::new(
        "failing",
        &[(
            "Dockerfile",
            "FROM busybox:slipway\nRUN echo about-to-fail && exit 3\nRUN echo never-reached\n",
        )],
    );
    let data = data_dir();
    let run = build(
        data.path(),
        project.path(),
        &["intel-nuc"],
        &["--app", "t-failing"],
    );
    assert_eq!(run.code, 30, "{}", run.stderr);
    let failed = run.events_of("failed");
    assert_eq!(failed.len(), 1);
    let error = failed[0]["error"].as_str().unwrap();
    assert!(error.contains("service `main`"), "{error}");
    assert!(error.contains("step 2/3 RUN echo about-to-fail"), "{error}");
    // BuildKit's words for the exit status.
    assert!(error.contains("exit code: 3"), "{error}");
    assert!(
        error.contains("about-to-fail"),
        "the last log lines are quoted: {error}"
    );
    assert_eq!(failed[0]["step"], "2/3");

    let listed = releases(data.path());
    assert_eq!(listed[0]["status"], "failed");
    assert!(listed[0]["error"]
        .as_str()
        .unwrap()
        .contains("service `main`"));
    let id = listed[0]["id"].to_string();
    let shown = slipway_in(data.path(), &["release", "show", &id, "--json"]);
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    let image = &shown["images"][0];
    assert_eq!(image["status"], "failed");
    let log = image["log"].as_str().unwrap();
    assert!(log.contains("about-to-fail"), "{log}");
    assert!(!log.contains("never-reached"), "{log}");
    // Human output names the service too.
    let human = slipway_in(data.path(), &["release", "show", &id]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("exit code: 3"));
}

#[test]
fn dockerignore_and_metadata_dirs_stay_out_of_the_image() {
    if !docker_available("dockerignore") {
        return;
    }
    let project = TempProject::new(
        "ignore",
        &[
            (
                "Dockerfile",
                "FROM busybox:slipway\nCOPY . /app\nCMD [\"find\", \"/app\"]\n",
            ),
            (
                ".dockerignore",
                "secret.txt\n*.log\n!keep.log\nbuild/**/*.o\nDockerfile\n",
            ),
            ("secret.txt", "do not ship\n"),
            ("debug.log", "noise\n"),
            ("keep.log", "wanted\n"),
            ("build/deep/x.o", "object\n"),
            ("build/deep/x.c", "source\n"),
            (".git/HEAD", "ref: refs/heads/main\n"),
            (
                ".balena/balena.yml",
                "build-variables:\n  global:\n    - A=1\n",
            ),
            ("src/app.txt", "app\n"),
        ],
    );
    std::os::unix::fs::symlink("/etc/passwd", project.path().join("host-passwd")).unwrap();
    let data = data_dir();
    let run = build(
        data.path(),
        project.path(),
        &["intel-nuc"],
        &["--app", "t-ignore"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let tag = tag_of(&run, "main", "amd64");
    let listing = docker(&["run", "--rm", &tag]);
    let files: Vec<&str> = listing.lines().collect();
    for absent in [
        "/app/secret.txt",
        "/app/debug.log",
        "/app/build/deep/x.o",
        "/app/.git",
        "/app/.balena",
    ] {
        assert!(!files.contains(&absent), "{absent} was sent: {listing}");
    }
    for present in [
        "/app/keep.log",
        "/app/build/deep/x.c",
        "/app/src/app.txt",
        "/app/Dockerfile",
        "/app/.dockerignore",
    ] {
        assert!(files.contains(&present), "{present} missing: {listing}");
    }
    // The symlink is sent as a link, never as the host file it points at.
    let link = docker(&["run", "--rm", &tag, "readlink", "/app/host-passwd"]);
    assert_eq!(link, "/etc/passwd");
    let context = run.events_of("context");
    assert!(context[0]["message"]
        .as_str()
        .unwrap()
        .starts_with("build context:"));
}

/// A running `slipway build`, killed if the test ends early.
struct Builder(std::process::Child);

impl Drop for Builder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a build of a project whose RUN step runs `marker` (a sleep), and
/// waits until the step's container is running.
fn start_sleeping_build(
    data: &std::path::Path,
    project: &TempProject,
    app: &str,
    marker: &str,
) -> Builder {
    let mut child = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args([
            "build",
            project.path_str(),
            "--device-type",
            "intel-nuc",
            "--json",
            "--app",
            app,
        ])
        .env("SLIPWAY_CACHE_DIR", common::cache_dir())
        .env("SLIPWAY_DATA_DIR", data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("slipway starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    // Generous: with the other engine tests running, the engine can be busy.
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let line = lines
            .next()
            .expect("build output")
            .expect("readable output");
        if line.contains("\"kind\":\"step\"") && line.contains("RUN sleep") {
            break;
        }
        assert!(Instant::now() < deadline, "the RUN step never started");
    }
    // Keep draining so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let builder = Builder(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while sleeping_containers(marker) == 0 {
        assert!(
            Instant::now() < deadline,
            "the RUN step's container never ran"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    builder
}

/// A `sleep` command no other test run uses, so leftovers cannot be confused.
fn unique_sleep() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "sleep {}",
        100_000 + (nanos % 800_000) + std::process::id() % 1000
    )
}

/// Processes of RUN steps still running `marker`, whichever builder runs
/// them (BuildKit runs steps without engine containers; both show on the host).
fn sleeping_containers(marker: &str) -> usize {
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    String::from_utf8_lossy(&ps.stdout)
        .lines()
        .filter(|command| command.starts_with(marker) || command.contains(&format!("-c {marker}")))
        .count()
}

fn wait_exit(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            start.elapsed() < limit,
            "slipway still running after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ctrl_c_cancels_the_build_and_marks_the_release_cancelled() {
    if !docker_available("cancellation") {
        return;
    }
    let marker = unique_sleep();
    let dockerfile = format!("FROM busybox:slipway\nRUN {marker}\n");
    let project = TempProject::new("cancel", &[("Dockerfile", &dockerfile)]);
    let data = data_dir();
    let mut builder = start_sleeping_build(data.path(), &project, "t-cancel", &marker);
    assert!(sleeping_containers(&marker) >= 1, "the RUN step is running");
    let interrupt = Command::new("kill")
        .args(["-INT", &builder.0.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupt.success());
    let status = wait_exit(&mut builder.0, Duration::from_secs(15));
    assert_eq!(status.code(), Some(130));
    let listed = releases(data.path());
    assert_eq!(listed[0]["status"], "cancelled");
    // The engine stops the step's container once the request is gone.
    let start = Instant::now();
    while sleeping_containers(&marker) > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the build container survived"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_killed_build_leaves_an_interrupted_release_not_a_running_one() {
    if !docker_available("interrupted") {
        return;
    }
    let marker = unique_sleep();
    let dockerfile = format!("FROM busybox:slipway\nRUN {marker}\n");
    let project = TempProject::new("killed", &[("Dockerfile", &dockerfile)]);
    let data = data_dir();
    let mut builder = start_sleeping_build(data.path(), &project, "t-killed", &marker);
    // Logs of running images are saved every 2 s: let one save happen.
    std::thread::sleep(Duration::from_secs(3));
    builder.0.kill().unwrap(); // SIGKILL: no chance to clean up
    builder.0.wait().unwrap();
    let listed = releases(data.path());
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["status"], "interrupted");
    // What the build printed before it was killed survives in the record.
    let id = listed[0]["id"].to_string();
    let shown = slipway_in(data.path(), &["release", "show", &id, "--json"]);
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    let image = &shown["images"][0];
    assert_eq!(image["status"], "interrupted");
    let log = image["log"].as_str().unwrap();
    assert!(
        log.contains(&format!("RUN {marker}")),
        "partial log kept: {log}"
    );
    let start = Instant::now();
    while sleeping_containers(&marker) > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the build container survived"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_image_for_the_wrong_architecture_fails_the_build() {
    if !docker_available("platform_mismatch") {
        return;
    }
    // busybox:slipway is the amd64 image: not what a Raspberry Pi 4 runs.
    let project = TempProject::new(
        "mismatch",
        &[("Dockerfile", "FROM busybox:slipway\nRUN true\n")],
    );
    let data = data_dir();
    let run = build(
        data.path(),
        project.path(),
        &["raspberrypi4-64"],
        &["--app", "t-mismatch"],
    );
    assert_eq!(run.code, 30, "{}", run.stderr);
    let error = run.events_of("failed")[0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    // BuildKit refuses the local amd64 base for arm64 and asks its registry;
    // the error names the base image and both platforms.
    assert!(
        error.contains("`docker.io/library/busybox:slipway` is on the engine for linux/amd64 only, not linux/arm64"),
        "{error}"
    );
    let tag = tag_of(&run, "main", "aarch64");
    // The wrong-arch image never got the release's tag.
    let tagged = Command::new("docker")
        .args(["image", "inspect", &tag])
        .output()
        .unwrap();
    assert!(
        !tagged.status.success(),
        "the wrong-arch image kept its tag"
    );
}

#[test]
fn an_unreachable_engine_is_a_clear_error() {
    let project = TempProject::new("noengine", &[("Dockerfile", "FROM busybox:slipway\n")]);
    let data = data_dir();
    let out = slipway_in(
        data.path(),
        &[
            "build",
            project.path_str(),
            "--device-type",
            "raspberrypi4-64",
            "--engine",
            "aarch64=unix:///nonexistent/docker.sock",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "cannot reach the Docker engine at unix:///nonexistent/docker.sock (for aarch64)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("scripts/setup-docker.sh"), "{stderr}");
    // Nothing was recorded for a build that never started.
    assert!(releases(data.path()).is_empty());
}

/// Switches one binfmt_misc entry off for the life of the guard.
struct EmulationOff(&'static str);

impl EmulationOff {
    fn new(entry: &'static str) -> Option<EmulationOff> {
        let path = format!("/proc/sys/fs/binfmt_misc/{entry}");
        std::fs::write(&path, "0").ok()?;
        Some(EmulationOff(entry))
    }
}

impl Drop for EmulationOff {
    fn drop(&mut self) {
        let _ = std::fs::write(format!("/proc/sys/fs/binfmt_misc/{}", self.0), "1");
    }
}

#[test]
fn missing_emulation_is_named_not_just_exec_format_error() {
    if !docker_available("missing_emulation") {
        return;
    }
    // Only 32-bit ARM is switched off: the other tests build arm64 and amd64.
    let Some(_off) = EmulationOff::new("qemu-arm") else {
        assert_ne!(
            std::env::var("SLIPWAY_REQUIRE_DOCKER").as_deref(),
            Ok("1"),
            "cannot switch qemu-arm off (not root?)"
        );
        eprintln!("SKIPPED missing_emulation: cannot switch binfmt_misc entries");
        return;
    };
    let project = TempProject::new(
        "noemu",
        &[(
            "Dockerfile.template",
            "FROM busybox:slipway-%%BALENA_ARCH%%\nRUN uname -m > /arch\n",
        )],
    );
    let data = data_dir();
    let run = build(
        data.path(),
        project.path(),
        &["raspberrypi3"],
        &["--app", "t-noemu", "--no-cache"],
    );
    assert_eq!(run.code, 30, "{}", run.stderr);
    let error = run.events_of("failed")[0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("cannot run linux/arm/v7 programs (exec format error): no emulation"),
        "{error}"
    );
    assert!(error.contains("setup-docker.sh"), "{error}");
}

#[test]
fn prebuilt_images_are_checked_on_the_engine_not_built() {
    if !docker_available("prebuilt_images") {
        return;
    }
    let project = TempProject::new(
        "prebuilt",
        &[(
            "docker-compose.yml",
            "services:\n  ok:\n    image: busybox:slipway-aarch64\n  wrong:\n    image: busybox:slipway\n",
        )],
    );
    let data = data_dir();
    let run = build(
        data.path(),
        project.path(),
        &["raspberrypi4-64"],
        &["--app", "t-prebuilt"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let message = |service: &str| {
        run.events_of("prebuilt")
            .into_iter()
            .find(|e| e["service"] == service)
            .and_then(|e| e["message"].as_str())
            .unwrap()
            .to_string()
    };
    assert_eq!(
        message("ok"),
        "uses image busybox:slipway-aarch64 (on the engine, linux/arm64)"
    );
    assert!(
        message("wrong").contains("the engine's copy is for linux/amd64, not linux/arm64"),
        "{}",
        message("wrong")
    );
    assert_eq!(run.summary["release"]["status"], "success");
}
