//! The `procfile` plugin through `slipway detect`: process types become
//! services with their commands, `release:`/`postdeploy:` become hooks, and
//! a malformed Procfile is an error at its line.

mod common;

use common::{detect, root, TempProject};
use serde_json::json;

#[test]
fn procfile_example_becomes_services_with_commands_and_hooks() {
    let out = detect(&root().join("examples/procfile-app"), "intel-nuc", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json["composition"]["kind"], "procfile");
    assert_eq!(out.json["composition"]["file"], "Procfile");
    assert_eq!(out.json["composition"]["plugin"]["name"], "procfile");
    let names: Vec<&str> = out.json["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web", "worker"]);
    for (service, command) in [("web", "node web.js"), ("worker", "node worker.js")] {
        let planned = out.service(service);
        assert_eq!(planned["project_type"], "node");
        assert_eq!(planned["context"], ".");
        assert_eq!(
            planned["command"],
            json!({"form": "shell", "command": command})
        );
    }
    // Both processes are planned from the same context: the same Dockerfile.
    assert_eq!(
        out.service("web")["dockerfile"],
        out.service("worker")["dockerfile"]
    );
    assert_eq!(
        out.json["hooks"],
        json!([
            {"phase": "release", "service": "web", "command": {"form": "shell", "command": "node migrate.js"}},
            {"phase": "postdeploy", "service": "web", "command": {"form": "shell", "command": "echo deployed"}},
        ])
    );
}

#[test]
fn human_output_shows_commands_and_hooks() {
    let out = common::slipway(&[
        "detect",
        root().join("examples/procfile-app").to_str().unwrap(),
        "--device-type",
        "raspberrypi4-64",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("services from Procfile (procfile, plugin procfile@"),
        "{text}"
    );
    assert!(text.contains("command: node worker.js"), "{text}");
    assert!(
        text.contains("release    in web: node migrate.js"),
        "{text}"
    );
}

#[test]
fn hooks_run_in_web_else_the_first_process() {
    let project = TempProject::new(
        "procs",
        &[
            ("Dockerfile", "FROM busybox:slipway\n"),
            (
                "Procfile",
                "clock: sh clock.sh\nworker: sh work.sh\nrelease: sh migrate.sh\n",
            ),
        ],
    );
    let out = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json["hooks"][0]["service"], "clock");
    assert_eq!(out.service("clock")["project_type"], "dockerfile");
}

#[test]
fn a_process_type_defined_twice_is_an_error_at_its_line() {
    let project = TempProject::new(
        "procs",
        &[
            ("Dockerfile", "FROM busybox:slipway\n"),
            ("Procfile", "web: a\nworker: b\n\nweb: c\n"),
        ],
    );
    let out = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 21, "{}", out.stderr);
    let errors = out.errors().join("\n");
    assert!(
        errors.contains("Procfile:4:1: `web` is defined twice (first at line 1)"),
        "{errors}"
    );
}

#[test]
fn a_procfile_with_only_hooks_has_nothing_to_run() {
    let project = TempProject::new(
        "procs",
        &[
            ("Dockerfile", "FROM busybox:slipway\n"),
            ("Procfile", "release: ./migrate\n"),
        ],
    );
    let out = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 21, "{}", out.stderr);
    let errors = out.errors().join("\n");
    assert!(
        errors.contains("Procfile: no process type to run"),
        "{errors}"
    );
}

#[test]
fn a_line_without_a_colon_is_an_error_at_its_line() {
    let project = TempProject::new(
        "procs",
        &[
            ("Dockerfile", "FROM busybox:slipway\n"),
            ("Procfile", "web: ./server\nworker ./work\n"),
        ],
    );
    let out = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 21, "{}", out.stderr);
    let errors = out.errors().join("\n");
    assert!(
        errors.contains("Procfile:2:1: expected `name: command`"),
        "{errors}"
    );
}

#[test]
fn a_compose_file_outranks_a_procfile() {
    let project = TempProject::new(
        "both",
        &[
            ("docker-compose.yml", "services:\n  api:\n    build: .\n"),
            ("Dockerfile", "FROM busybox:slipway\n"),
            ("Procfile", "web: ./server\n"),
        ],
    );
    let out = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.json["composition"]["kind"], "compose");
    assert_eq!(out.service("api")["project_type"], "dockerfile");
    assert_eq!(out.json["hooks"], json!([]));
}

#[test]
fn context_is_refused_when_a_procfile_splits_the_project() {
    let project = TempProject::new(
        "procs",
        &[
            ("Procfile", "web: ./server\n"),
            ("apps/api/Dockerfile", "FROM busybox:slipway\n"),
        ],
    );
    let out = detect(project.path(), "intel-nuc", &["--context", "apps/api"]);
    assert_eq!(out.code, 21, "{}", out.stderr);
    let errors = out.errors().join("\n");
    assert!(
        errors.contains("--context apps/api: Procfile splits the project into services"),
        "{errors}"
    );
}

#[test]
fn each_process_still_needs_a_way_to_build() {
    let project = TempProject::new("procs", &[("Procfile", "web: ./server\n")]);
    let out = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 20, "{}", out.stderr);
    let errors = out.errors().join("\n");
    assert!(
        errors.contains("service `web`: nothing detected in `.`"),
        "{errors}"
    );
}
