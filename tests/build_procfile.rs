//! Building a Procfile project on a real Docker engine: one image build per
//! arch shared by every process, each process's image running its own
//! command, hooks recorded with the release. No mock of the engine.

mod common;

use common::{build, docker, docker_available, root, slipway_in, TempProject};
use serde_json::{json, Value};

fn image_tag(run: &common::BuildRun, service: &str, arch: &str) -> String {
    run.image(service, arch)["image"]
        .as_str()
        .expect("image tag")
        .to_string()
}

fn shown(data: &std::path::Path, run: &common::BuildRun) -> Value {
    let id = run.summary["release"]["id"].to_string();
    let out = slipway_in(data, &["release", "show", &id, "--json"]);
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn image_record<'a>(shown: &'a Value, service: &str, arch: &str) -> &'a Value {
    shown["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["service"] == service && i["arch"] == arch)
        .unwrap_or_else(|| panic!("no {service}/{arch} in {shown:#}"))
}

#[test]
fn procfile_example_builds_once_and_each_process_runs_its_command() {
    if !docker_available("procfile_example") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let run = build(
        data.path(),
        &root().join("examples/procfile-app"),
        &["intel-nuc"],
        &["--app", "t-procfile"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let worker = image_tag(&run, "worker", "amd64");
    let web = image_tag(&run, "web", "amd64");
    assert_eq!(docker(&["run", "--rm", &worker]), "worker x64 ran");
    assert_eq!(
        docker(&[
            "image",
            "inspect",
            "--format",
            "{{json .Config.Cmd}} {{json .Config.Entrypoint}}",
            &worker
        ]),
        // The base's entrypoint is cleared (`ENTRYPOINT []` leaves none).
        r#"["/bin/sh","-c","node worker.js"] null"#
    );
    assert_eq!(
        docker(&["image", "inspect", "--format", "{{json .Config.Cmd}}", &web]),
        r#"["/bin/sh","-c","node web.js"]"#
    );
    // One build: the worker's image is the web build's layers, relabelled.
    let layers = |tag: &str| {
        docker(&[
            "image",
            "inspect",
            "--format",
            "{{json .RootFS.Layers}}",
            tag,
        ])
    };
    assert_eq!(layers(&web), layers(&worker));
    let shown = shown(data.path(), &run);
    let web_log = image_record(&shown, "web", "amd64")["log"]
        .as_str()
        .unwrap();
    let worker_log = image_record(&shown, "worker", "amd64")["log"]
        .as_str()
        .unwrap();
    // The web service ran the build (BuildKit steps); the worker ran none.
    assert!(web_log.contains("exporting to image"), "{web_log}");
    assert!(!worker_log.contains("[1/"), "{worker_log}");
    assert!(
        worker_log.contains(
            "same context, Dockerfile and build args as service `web`: shares its image build"
        ),
        "{worker_log}"
    );
    assert_eq!(
        image_record(&shown, "worker", "amd64")["command"],
        json!({"form": "shell", "command": "node worker.js"})
    );
    assert_eq!(
        shown["release"]["hooks"],
        json!([
            {"phase": "release", "service": "web", "command": {"form": "shell", "command": "node migrate.js"}},
            {"phase": "postdeploy", "service": "web", "command": {"form": "shell", "command": "echo deployed"}},
        ])
    );
    assert!(shown["release"]["composition"]
        .as_str()
        .unwrap()
        .contains("worker: node worker.js"));
}

#[test]
fn procfile_commands_replace_the_entrypoint_on_every_arch() {
    if !docker_available("procfile_two_arches") {
        return;
    }
    let project = TempProject::new(
        "procs",
        &[
            (
                "Dockerfile.template",
                "FROM busybox:slipway-%%BALENA_ARCH%%\nENTRYPOINT [\"echo\", \"from-entrypoint\"]\n",
            ),
            ("Procfile", "web: echo web on $(uname -m)\nworker: uname -m\n"),
        ],
    );
    let data = tempfile::tempdir().unwrap();
    let run = build(
        data.path(),
        project.path(),
        &["intel-nuc", "raspberrypi4-64"],
        &["--app", "t-procs"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    for (arch, machine) in [("amd64", "x86_64"), ("aarch64", "aarch64")] {
        let worker = image_tag(&run, "worker", arch);
        let web = image_tag(&run, "web", arch);
        assert_eq!(docker(&["run", "--rm", &worker]), machine);
        assert_eq!(docker(&["run", "--rm", &web]), format!("web on {machine}"));
    }
    // Two builds (one per arch), not four.
    let shown = shown(data.path(), &run);
    let built = shown["images"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| {
            !i["log"]
                .as_str()
                .unwrap()
                .contains("shares its image build")
        })
        .count();
    assert_eq!(built, 2, "{shown:#}");
}

#[test]
fn a_failing_shared_build_fails_every_process_naming_the_build() {
    if !docker_available("procfile_failure") {
        return;
    }
    let project = TempProject::new(
        "procs",
        &[
            (
                "Dockerfile",
                "FROM busybox:slipway\nRUN echo broken && exit 3\n",
            ),
            ("Procfile", "web: ./server\nworker: ./work\n"),
        ],
    );
    let data = tempfile::tempdir().unwrap();
    let run = build(
        data.path(),
        project.path(),
        &["intel-nuc"],
        &["--app", "t-procfail"],
    );
    assert_eq!(run.code, 30, "{}", run.stderr);
    assert_eq!(run.summary["release"]["status"], "failed");
    let shown = shown(data.path(), &run);
    let web = image_record(&shown, "web", "amd64");
    let worker = image_record(&shown, "worker", "amd64");
    assert_eq!(web["status"], "failed");
    assert_eq!(worker["status"], "failed");
    assert!(
        web["error"]
            .as_str()
            .unwrap()
            .contains("step 2/2 RUN echo broken && exit 3 failed"),
        "{web:#}"
    );
    let error = worker["error"].as_str().unwrap();
    assert!(
        error.contains(
            "shares its image build with service `web`, which failed: step 2/2 RUN echo broken"
        ),
        "{error}"
    );
}
