//! Custom-language plugins loaded with `--plugins DIR`: they plan projects
//! the built-ins do not recognise, and rank below balena's conventions
//! whatever priority they declare.

mod common;

use std::fs;

use sha2::{Digest, Sha256};

fn plugins_dir() -> String {
    common::root()
        .join("tests/fixtures/custom-plugins")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn custom_plugin_plans_what_builtins_do_not_recognise() {
    let project = tempfile::tempdir().unwrap();
    fs::write(project.path().join("deno.json"), "{}\n").unwrap();
    fs::write(project.path().join("main.ts"), "console.log('hi')\n").unwrap();

    let without = common::detect(project.path(), "raspberrypi4-64", &[]);
    assert_eq!(without.code, 20, "{}", without.stderr);

    let with = common::detect(
        project.path(),
        "raspberrypi4-64",
        &["--plugins", &plugins_dir()],
    );
    assert_eq!(with.code, 0, "{}", with.stderr);
    let main = with.service("main");
    assert_eq!(main["project_type"], "deno");
    assert_eq!(main["plugin_version"], "0.3.1");
    assert!(main["dockerfile"]
        .as_str()
        .unwrap()
        .starts_with("FROM denoland/deno:aarch64\n"));
}

#[test]
fn builtins_outrank_a_custom_plugin_with_a_higher_priority() {
    let project = tempfile::tempdir().unwrap();
    fs::write(project.path().join("deno.json"), "{}\n").unwrap();
    fs::write(project.path().join("Dockerfile"), "FROM busybox:slipway\n").unwrap();
    let out = common::detect(project.path(), "intel-nuc", &["--plugins", &plugins_dir()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let main = out.service("main");
    assert_eq!(main["project_type"], "dockerfile");
    assert_eq!(
        common::chosen_plugins(main),
        vec![
            ("dockerfile".to_string(), true),
            ("deno".to_string(), false)
        ]
    );
}

#[test]
fn plugin_list_shows_a_custom_plugin_with_its_digest() {
    let out = common::slipway(&["plugin", "list", "--json", "--plugins", &plugins_dir()]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let deno = json["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "deno")
        .expect("deno is listed");
    let bytes = fs::read(common::root().join("tests/fixtures/custom-plugins/deno.wasm")).unwrap();
    assert_eq!(deno["sha256"], hex::encode(Sha256::digest(&bytes)));
    assert_eq!(deno["priority"], 1000);
    assert_eq!(deno["contract_version"], "0.2.0");
}
