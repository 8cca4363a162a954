//! The plugin components committed in the repository (and embedded in the
//! binary) are exactly what their sources build to.

mod common;

use std::process::Command;

#[test]
fn committed_components_match_their_sources() {
    let toolchain =
        std::path::Path::new("/usr/lib/rustlib/x86_64-unknown-linux-gnu/bin/wasm-component-ld");
    if !toolchain.exists() && std::env::var_os("SLIPWAY_REQUIRE_TOOLCHAIN").is_none() {
        eprintln!(
            "SKIPPED committed_components_match_their_sources: the wasm plugin toolchain is not \
             installed (scripts/install-wasm-toolchain.sh; the test command installs it)"
        );
        return;
    }
    let out = Command::new("bash")
        .arg(common::root().join("scripts/build-plugins.sh"))
        .arg("--check")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("plugin components match their sources"),
        "{stdout}"
    );
}
