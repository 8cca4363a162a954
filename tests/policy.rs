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

/// `slipway detect --json` under `policy` with its own compile cache.
fn detect_with_cache(
    project: &tempfile::TempDir,
    plugins: &tempfile::TempDir,
    policy: &tempfile::NamedTempFile,
    cache: &tempfile::TempDir,
) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args([
            "detect",
            project.path().to_str().unwrap(),
            "--device-type",
            "intel-nuc",
            "--json",
        ])
        .args(args(plugins, policy))
        .env("SLIPWAY_CACHE_DIR", cache.path())
        .output()
        .unwrap()
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
    // Refused on its bytes, before it is compiled or run: named by file.
    assert!(errors.contains("deno.wasm (sha256 "), "{errors}");
    assert!(errors.contains(&sha256_of(&deno())), "{errors}");
    assert!(errors.contains(&format!("pins {pinned}")), "{errors}");
    assert!(out.json["services"].as_array().unwrap().is_empty());
}

/// Under a policy, a file whose digest is not pinned is never compiled (no
/// compiled cache entry appears for it) and its `info` never runs.
#[test]
fn an_unpinned_file_is_never_compiled() {
    let plugins = plugin_dir(&[deno()]);
    let cache = tempfile::tempdir().unwrap();
    let policy = policy(&format!("[plugin.deno]\nsha256 = \"{}\"\n", "1".repeat(64)));
    let project = project(&[("deno.json", "{}\n")]);
    let out = detect_with_cache(&project, &plugins, &policy, &cache);
    assert_eq!(out.status.code(), Some(21));
    let digest = sha256_of(&deno());
    let entries: Vec<String> = fs::read_dir(cache.path().join("components"))
        .map(|dir| {
            dir.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !entries.iter().any(|name| name.starts_with(&digest)),
        "compiled or asked: {entries:?}"
    );
}

/// A compiled cache entry swapped for another plugin's is not run as the
/// pinned plugin: its seal fails and the pinned bytes are compiled again.
#[test]
fn a_swapped_compiled_cache_entry_is_not_used() {
    let plugins = plugin_dir(&[deno()]);
    let cache = tempfile::tempdir().unwrap();
    let digest = sha256_of(&deno());
    let policy = policy(&format!("[plugin.deno]\nsha256 = \"{digest}\"\n"));
    let project = project(&[("deno.json", "{}\n")]);
    let detect = || detect_with_cache(&project, &plugins, &policy, &cache);
    assert_eq!(detect().status.code(), Some(0));
    let components = cache.path().join("components");
    let names: Vec<String> = fs::read_dir(&components)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cwasm"))
        .collect();
    let deno_entry = names
        .iter()
        .find(|n| n.starts_with(&digest))
        .expect("deno compiled");
    let other = names
        .iter()
        .find(|n| !n.starts_with(&digest))
        .expect("a built-in compiled");
    // Put a built-in's compiled code where deno's was.
    fs::copy(components.join(other), components.join(deno_entry)).unwrap();
    let out = detect();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["services"][0]["project_type"], "deno", "{json:#}");
    assert_ne!(
        fs::read(components.join(deno_entry)).unwrap(),
        fs::read(components.join(other)).unwrap(),
        "the swapped entry was replaced by a fresh compile"
    );
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
        out.errors().join("\n").contains("is not pinned by"),
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
