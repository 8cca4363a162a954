//! A plugin written in C, built from source with clang and loaded by the
//! same host: the contract is language-neutral.

mod common;

use std::process::Command;

#[test]
fn the_c_plugin_builds_loads_and_plans_a_make_project() {
    let clang = Command::new("clang-22").arg("--version").output().is_ok();
    if !clang {
        assert_ne!(
            std::env::var("SLIPWAY_REQUIRE_TOOLCHAIN").as_deref(),
            Ok("1"),
            "clang-22 is required here (the test command installs it)"
        );
        eprintln!("SKIPPED c plugin: no clang-22");
        return;
    }
    let plugins = tempfile::tempdir().unwrap();
    let wasm = plugins.path().join("make-c.wasm");
    let built = Command::new("bash")
        .arg(common::root().join("examples/c-plugin/build.sh"))
        .arg(&wasm)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );

    let checked = common::slipway(&["plugin", "check", wasm.to_str().unwrap(), "--json"]);
    assert_eq!(
        checked.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&checked.stdout).unwrap();
    assert_eq!(info["name"], "make-c");
    assert!(info["imports"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i.as_str().unwrap().starts_with("slipway:plugin/")));

    let project = common::root().join("examples/make-hello");
    let out = common::detect(
        &project,
        "raspberrypi3",
        &["--plugins", plugins.path().to_str().unwrap()],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let main = out.service("main");
    assert_eq!(main["project_type"], "make-c");
    let dockerfile = main["dockerfile"].as_str().unwrap();
    assert!(
        dockerfile.starts_with("FROM arm32v7/debian:bookworm-slim\n"),
        "{dockerfile}"
    );
    assert!(dockerfile.contains("RUN make\n"), "{dockerfile}");

    // Without the plugin nothing recognises the project.
    assert_eq!(common::detect(&project, "raspberrypi3", &[]).code, 20);
}
