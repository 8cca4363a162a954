//! The plugin policy (`--policy FILE`): pins, enabled plugins, order, and
//! per-plugin limits, with real components.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn sha256_of(path: &Path) -> String {
    hex::encode(Sha256::digest(fs::read(path).unwrap()))
}

fn deno() -> PathBuf {
    common::root().join("tests/fixtures/custom-plugins/deno.wasm")
}

/// A directory holding copies of the given components.
fn plugin_dir(components: &[PathBuf]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for component in components {
        fs::copy(component, dir.path().join(component.file_name().unwrap())).unwrap();
    }
    dir
}

fn policy(text: &str) -> tempfile::NamedTempFile {
    let file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    fs::write(file.path(), text).unwrap();
    file
}

fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        fs::write(dir.path().join(path), content).unwrap();
    }
    dir
}

fn args<'a>(plugins: &'a tempfile::TempDir, policy: &'a tempfile::NamedTempFile) -> Vec<&'a str> {
    vec![
        "--plugins",
        plugins.path().to_str().unwrap(),
        "--policy",
        policy.path().to_str().unwrap(),
    ]
}

#[test]
fn a_sha256_mismatch_is_refused_with_both_digests() {
    let plugins = plugin_dir(&[deno()]);
    let pinned = "0".repeat(64);
    let policy = policy(&format!("[plugin.deno]\nsha256 = \"{pinned}\"\n"));
    let project = project(&[("deno.json", "{}\n")]);
    let out = common::detect(project.path(), "intel-nuc", &args(&plugins, &policy));
    assert_eq!(out.code, 21, "{}", out.stderr);
    let errors = out.errors().join("\n");
    assert!(errors.contains("plugin deno@0.3.1"), "{errors}");
    assert!(errors.contains(&format!("pinned {pinned}")), "{errors}");
    assert!(
        errors.contains(&format!("file has {}", sha256_of(&deno()))),
        "{errors}"
    );
    assert!(out.json["services"].as_array().unwrap().is_empty());
}

#[test]
fn a_pinned_plugin_runs_and_an_unpinned_one_is_refused() {
    let plugins = plugin_dir(&[deno()]);
    let project = project(&[("deno.json", "{}\n")]);

    let pinned = policy(&format!(
        "[plugin.deno]\nsha256 = \"{}\"\n",
        sha256_of(&deno())
    ));
    let out = common::detect(project.path(), "intel-nuc", &args(&plugins, &pinned));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.service("main")["project_type"], "deno");

    let unpinned = policy("order = []\n");
    let out = common::detect(project.path(), "intel-nuc", &args(&plugins, &unpinned));
    assert_eq!(out.code, 21, "{}", out.stderr);
    assert!(
        out.errors().join("\n").contains("has no sha256 pin"),
        "{:?}",
        out.errors()
    );
}

#[test]
fn a_disabled_plugin_does_not_run() {
    let project = project(&[
        ("package.json", r#"{"name": "a", "main": "index.js"}"#),
        ("index.js", ""),
    ]);
    let plugins = plugin_dir(&[]);
    let policy = policy("[plugin.node]\nenabled = false\n");
    let out = common::detect(project.path(), "intel-nuc", &args(&plugins, &policy));
    assert_eq!(
        out.code, 20,
        "nothing left to recognise package.json: {}",
        out.stderr
    );

    let listed = common::slipway(&[
        "plugin",
        "list",
        "--json",
        "--policy",
        policy.path().to_str().unwrap(),
    ]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert!(listed["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["name"] != "node"));
    assert_eq!(listed["disabled"][0], "node@0.1.0");
}

#[test]
fn the_policy_order_puts_a_custom_plugin_before_the_builtins() {
    let plugins = plugin_dir(&[deno()]);
    let project = project(&[
        ("deno.json", "{}\n"),
        ("Dockerfile", "FROM busybox:slipway\n"),
    ]);
    let pin = sha256_of(&deno());

    let default = policy(&format!("[plugin.deno]\nsha256 = \"{pin}\"\n"));
    let out = common::detect(project.path(), "intel-nuc", &args(&plugins, &default));
    assert_eq!(out.service("main")["project_type"], "dockerfile");

    let reordered = policy(&format!(
        "order = [\"deno\"]\n[plugin.deno]\nsha256 = \"{pin}\"\n"
    ));
    let out = common::detect(project.path(), "intel-nuc", &args(&plugins, &reordered));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let main = out.service("main");
    assert_eq!(main["project_type"], "deno");
    assert_eq!(
        common::chosen_plugins(main),
        vec![
            ("deno".to_string(), true),
            ("dockerfile".to_string(), false)
        ]
    );
}

#[test]
fn per_plugin_limits_override_the_defaults() {
    let looping = common::hostile_plugin("infinite-loop");
    let hog = common::hostile_plugin("memory-hog");
    let plugins = plugin_dir(&[looping.clone(), hog.clone()]);
    let policy = policy(&format!(
        "[plugin.hostile-infinite-loop]\nsha256 = \"{}\"\ndeadline-ms = 60\n\n\
         [plugin.hostile-memory-hog]\nsha256 = \"{}\"\nmemory-mib = 8\n",
        sha256_of(&looping),
        sha256_of(&hog)
    ));
    let project = project(&[("Dockerfile", "FROM busybox:slipway\n")]);
    let out = common::detect(project.path(), "intel-nuc", &args(&plugins, &policy));
    let errors = out.errors().join("\n");
    assert!(
        errors.contains("exceeded its CPU deadline of 60 ms"),
        "{errors}"
    );
    assert!(
        errors.contains("exceeded its memory limit of 8 MiB"),
        "{errors}"
    );
    // The default deadline is 1 s and memory 64 MiB: the messages name the
    // policy's limits, so the policy's limits are what stopped them.
    // The Dockerfile still plans the service.
    assert_eq!(out.service("main")["project_type"], "dockerfile");
}

#[test]
fn a_bad_policy_names_the_file_and_the_field() {
    let policy = policy("[plugin.deno]\nsha256 = \"abc\"\n");
    let out = common::slipway(&[
        "plugin",
        "list",
        "--policy",
        policy.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(policy.path().to_str().unwrap()), "{stderr}");
    assert!(stderr.contains("plugin.deno.sha256"), "{stderr}");

    let typo = self::policy("[plugin.deno]\nshaa256 = \"abc\"\n");
    let out = common::slipway(&["plugin", "list", "--policy", typo.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("shaa256"),
        "unknown fields are refused: {stderr}"
    );
}
