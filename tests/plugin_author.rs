//! A plugin author's whole flow with the real toolchain: `plugin new`, then
//! `plugin build`, `plugin check`, and `detect --plugins`.

mod common;

use std::process::Command;

fn slipway(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(args)
        .env("SLIPWAY_CACHE_DIR", common::cache_dir())
        // Shared between runs and with tests/plugin_anywhere.rs, so
        // build-std is compiled once.
        .env("CARGO_TARGET_DIR", common::plugin_target_dir())
        .output()
        .expect("slipway runs")
}

#[test]
fn new_build_check_detect() {
    if !common::wasm_toolchain_present("plugin author flow") {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().to_str().unwrap();

    let out = slipway(&["plugin", "new", "hello-lang", "--dir", dir]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let crate_dir = work.path().join("hello-lang");
    for file in [
        "Cargo.toml",
        ".cargo/config.toml",
        "src/lib.rs",
        "README.md",
        "tests/fixtures/sample/hello-lang.toml",
    ] {
        assert!(crate_dir.join(file).is_file(), "{file} was not scaffolded");
    }
    // Scaffolding again refuses to overwrite.
    let again = slipway(&["plugin", "new", "hello-lang", "--dir", dir]);
    assert_eq!(again.status.code(), Some(2));

    let out = slipway(&["plugin", "build", crate_dir.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("hello-lang@0.1.0 (contract 0.2.0)"),
        "{stdout}"
    );
    let wasm = common::plugin_target_dir().join("wasm32-unknown-unknown/release/hello_lang.wasm");

    let out = slipway(&["plugin", "check", wasm.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["name"], "hello-lang");

    let installed = work.path().join("my-plugins");
    std::fs::create_dir_all(&installed).unwrap();
    std::fs::copy(&wasm, installed.join("hello-lang.wasm")).unwrap();
    let fixture = crate_dir.join("tests/fixtures/sample");
    let detected = common::detect(
        &fixture,
        "raspberrypi4-64",
        &["--plugins", installed.to_str().unwrap()],
    );
    assert_eq!(detected.code, 0, "{}", detected.stderr);
    let main = detected.service("main");
    assert_eq!(main["project_type"], "hello-lang");
    assert!(main["dockerfile"]
        .as_str()
        .unwrap()
        .starts_with("FROM arm64v8/debian:bookworm-slim\n"));
}

#[test]
fn a_bad_plugin_name_is_refused() {
    let work = tempfile::tempdir().unwrap();
    let out = slipway(&[
        "plugin",
        "new",
        "Bad_Name",
        "--dir",
        work.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("plugin name `Bad_Name`"));
    assert!(
        std::fs::read_dir(work.path()).unwrap().next().is_none(),
        "nothing written"
    );
}
