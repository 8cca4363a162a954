//! A compose `build.dockerfile:` resolved with balena's rules, detected and
//! built on the real engine for a matching target, refused for another.

mod common;

use common::{build, detect, docker, docker_available, releases, root, TempProject};

fn example() -> std::path::PathBuf {
    root().join("examples/compose-balena-dockerfiles")
}

#[test]
fn named_templates_and_arch_dockerfiles_follow_balena() {
    let out = detect(&example(), "raspberrypi4-64", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let api = out.service("api");
    assert_eq!(api["project_type"], "dockerfile-template");
    assert!(api["dockerfile"]
        .as_str()
        .unwrap()
        .contains("FROM busybox:slipway-aarch64\n"));
    assert!(api["dockerfile"]
        .as_str()
        .unwrap()
        .contains("api for raspberrypi4-64"));
    let edge = out.service("edge");
    assert_eq!(edge["project_type"], "arch-dockerfile");
    assert!(edge["dockerfile"]
        .as_str()
        .unwrap()
        .contains("FROM busybox:slipway-aarch64\n"));

    let other = detect(&example(), "intel-nuc", &[]);
    assert_eq!(other.code, 21);
    let errors = other.errors().join("\n");
    assert!(
        errors.contains("service `edge`: the compose file names Dockerfile.aarch64, which is for aarch64, but this build is for intel-nuc (amd64)"),
        "{errors}"
    );
}

#[test]
fn a_missing_named_dockerfile_tries_balenas_variants() {
    let project = TempProject::new(
        "variants",
        &[
            (
                "docker-compose.yml",
                "services:\n  app:\n    build:\n      context: .\n      dockerfile: Dockerfile\n",
            ),
            (
                "Dockerfile.template",
                "FROM busybox:slipway-%%BALENA_ARCH%%\n",
            ),
        ],
    );
    let out = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let app = out.service("app");
    assert_eq!(app["project_type"], "dockerfile-template");
    assert_eq!(app["dockerfile"], "FROM busybox:slipway-amd64\n");
    assert!(app["notes"]
        .to_string()
        .contains("Dockerfile.template is used, as balena does"));
}

#[test]
fn the_matching_target_builds_and_the_other_is_refused_before_recording() {
    if !docker_available("compose_arch_dockerfile") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let run = build(
        data.path(),
        &example(),
        &["raspberrypi4-64"],
        &["--app", "t-balena-dockerfiles"],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let edge = run.image("edge", "aarch64")["image"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        docker(&["run", "--rm", "--platform", "linux/arm64", &edge]),
        "aarch64"
    );
    let api = run.image("api", "aarch64")["image"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        docker(&["run", "--rm", "--platform", "linux/arm64", &api]),
        "api for raspberrypi4-64"
    );

    let other = tempfile::tempdir().unwrap();
    let refused = build(other.path(), &example(), &["intel-nuc"], &[]);
    assert_eq!(refused.code, 21, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("which is for aarch64"),
        "{}",
        refused.stderr
    );
    assert!(releases(other.path()).is_empty());
}
