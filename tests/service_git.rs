//! `git push` to `slipway serve`: real git client, real server, real
//! `git http-backend`, real engine and registry.

mod common;

use std::time::Duration;

use common::server::{
    commit_all, git_project, push, release_id_in, remote_ref, Server, Text, ADMIN,
};
use serde_json::Value;

const TEMPLATE: &str =
    "FROM busybox:slipway-%%BALENA_ARCH%%\nRUN uname -m > /arch\nCMD [\"cat\", \"/arch\"]\n";

/// The architecture the registry's copy of `reference` was built for.
fn registry_architecture(reference: &str) -> String {
    let (repo, digest) = reference.split_once('@').unwrap();
    let (host, name) = repo.split_once('/').unwrap();
    let client = Server::client();
    let manifest: Value = client
        .get(format!("http://{host}/v2/{name}/manifests/{digest}"))
        .header(
            "accept",
            "application/vnd.docker.distribution.manifest.v2+json",
        )
        .send()
        .unwrap()
        .json()
        .unwrap();
    let config = manifest["config"]["digest"]
        .as_str()
        .expect("a config blob");
    let config: Value = client
        .get(format!("http://{host}/v2/{name}/blobs/{config}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    config["architecture"].as_str().unwrap().to_string()
}

#[test]
fn a_push_builds_every_arch_and_lands_in_the_registry() {
    if !common::docker_available("a_push_builds_every_arch_and_lands_in_the_registry") {
        return;
    }
    let server = Server::start();
    server.create_app("fleet", &["raspberrypi4-64", "intel-nuc"]);
    let project = git_project(&[("Dockerfile.template", TEMPLATE)]);
    let head = common::server::git(project.path(), &["rev-parse", "HEAD"]).stdout_text();
    let url = server.git_url("fleet", ADMIN);
    let out = push(project.path(), &url, "HEAD:master");
    let said = out.stderr_text();
    assert!(out.status.success(), "{said}\n{}", server.log_text());
    // The build streamed back as remote: lines, ending with the release.
    assert!(said.contains("remote: [main aarch64]"), "{said}");
    assert!(
        said.contains("remote: slipway: release 1 success"),
        "{said}"
    );
    assert_eq!(remote_ref(&url, "master").as_deref(), Some(head.as_str()));

    let release = server.release(release_id_in(&said).unwrap());
    assert_eq!(release["commit"], head.as_str());
    assert_eq!(release["source"], "git");
    let images = release["images"].as_array().unwrap();
    assert_eq!(images.len(), 2, "{release}");
    for image in images {
        let reference = image["registry_reference"].as_str().expect("pushed");
        assert!(
            reference.starts_with("127.0.0.1:5055/fleet/main@sha256:"),
            "{reference}"
        );
        let want = if image["arch"] == "aarch64" {
            "arm64"
        } else {
            "amd64"
        };
        assert_eq!(registry_architecture(reference), want, "{reference}");
    }
}

#[test]
fn a_failed_build_rejects_the_push_and_keeps_the_branch() {
    if !common::docker_available("a_failed_build_rejects_the_push_and_keeps_the_branch") {
        return;
    }
    let server = Server::start();
    server.create_app("app", &["intel-nuc"]);
    let project = git_project(&[("Dockerfile", "FROM busybox:slipway-amd64\nRUN true\n")]);
    let url = server.git_url("app", ADMIN);
    let good = common::server::git(project.path(), &["rev-parse", "HEAD"]).stdout_text();
    assert!(push(project.path(), &url, "HEAD:main").status.success());

    std::fs::write(
        project.path().join("Dockerfile"),
        "FROM busybox:slipway-amd64\nRUN echo broken && exit 3\n",
    )
    .unwrap();
    let bad = commit_all(project.path(), "broken");
    let out = push(project.path(), &url, "HEAD:main");
    let said = out.stderr_text();
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("exit code: 3"), "{said}");
    assert!(said.contains("remote: slipway: release 2 failed"), "{said}");
    assert!(said.contains("(pre-receive hook declined)"), "{said}");
    assert_eq!(
        remote_ref(&url, "main").as_deref(),
        Some(good.as_str()),
        "the branch moved"
    );
    // The failed release is recorded with its commit.
    let release = server.release(2);
    assert_eq!(release["status"], "failed");
    assert_eq!(release["commit"], bad.as_str());
}

#[test]
fn other_branches_and_other_apps_tokens_are_refused() {
    if !common::docker_available("other_branches_and_other_apps_tokens_are_refused") {
        return;
    }
    let server = Server::start();
    server.create_app("mine", &["intel-nuc"]);
    server.create_app("theirs", &["intel-nuc"]);
    let mine = server.deploy_token("mine");
    let project = git_project(&[("Dockerfile", "FROM busybox:slipway-amd64\n")]);

    let out = push(
        project.path(),
        &server.git_url("mine", &mine),
        "HEAD:feature",
    );
    assert!(!out.status.success());
    assert!(
        out.stderr_text()
            .contains("only master and main deploy; refs/heads/feature refused"),
        "{}",
        out.stderr_text()
    );
    assert_eq!(remote_ref(&server.git_url("mine", &mine), "feature"), None);

    let out = push(
        project.path(),
        &server.git_url("theirs", &mine),
        "HEAD:master",
    );
    assert!(!out.status.success());
    assert!(out.stderr_text().contains("403"), "{}", out.stderr_text());
    let out = push(
        project.path(),
        &server.git_url("mine", "slw_wrong"),
        "HEAD:master",
    );
    assert!(!out.status.success());
    assert!(
        out.stderr_text().contains("Authentication failed") || out.stderr_text().contains("401"),
        "{}",
        out.stderr_text()
    );
    // No release was made by any of them.
    let (_, list) = server.get("/api/v1/releases", ADMIN);
    assert_eq!(list["releases"].as_array().unwrap().len(), 0, "{list}");

    // The deploy token does deploy its own app.
    let out = push(
        project.path(),
        &server.git_url("mine", &mine),
        "HEAD:master",
    );
    assert!(out.status.success(), "{}", out.stderr_text());
}

#[test]
fn two_apps_pushed_at_once_build_side_by_side() {
    if !common::docker_available("two_apps_pushed_at_once_build_side_by_side") {
        return;
    }
    let server = Server::start();
    let mut pushes = Vec::new();
    for app in ["left", "right"] {
        server.create_app(app, &["intel-nuc"]);
        let project = git_project(&[(
            "Dockerfile",
            &format!(
                "FROM busybox:slipway-amd64\nRUN echo {app} {:?} && sleep 3\n",
                std::time::SystemTime::now()
            ),
        )]);
        let url = server.git_url(app, ADMIN);
        pushes.push(std::thread::spawn(move || {
            let out = push(project.path(), &url, "HEAD:master");
            (out.status.success(), out.stderr_text())
        }));
    }
    let mut ids = Vec::new();
    for handle in pushes {
        let (ok, said) = handle.join().unwrap();
        assert!(ok, "{said}");
        ids.push(release_id_in(&said).unwrap());
    }
    let a = server.wait_closed(ids[0], Duration::from_secs(60));
    let b = server.wait_closed(ids[1], Duration::from_secs(60));
    assert_eq!(
        (a["status"].as_str(), b["status"].as_str()),
        (Some("success"), Some("success"))
    );
    // With two slots, neither waited for the other.
    let overlap = a["started_at_ms"].as_i64() < b["ended_at_ms"].as_i64()
        && b["started_at_ms"].as_i64() < a["ended_at_ms"].as_i64();
    assert!(overlap, "{a}\n{b}");
}
