//! `slipway plugin check FILE.wasm` on real components.

mod common;

use common::{hostile_plugin, root, slipway};

#[test]
fn a_valid_component_prints_its_info_and_imports() {
    let file = root().join("tests/fixtures/custom-plugins/deno.wasm");
    let out = slipway(&["plugin", "check", file.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["valid"], true);
    assert_eq!(info["name"], "deno");
    assert_eq!(info["contract_version"], "0.2.0");
    assert_eq!(info["priority"], 1000);
    let imports: Vec<&str> = info["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert!(
        imports.iter().all(|i| i.starts_with("slipway:plugin/")),
        "{imports:?}"
    );
    assert_eq!(info["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn a_component_importing_wasi_is_refused_naming_the_import() {
    let file = hostile_plugin("wasi-import");
    let out = slipway(&["plugin", "check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(21));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("imports `wasi:cli/environment@0.2"),
        "{stderr}"
    );
    assert!(
        stderr.contains("outside the slipway:plugin contract"),
        "{stderr}"
    );
}

#[test]
fn a_newer_contract_is_refused_naming_both_versions() {
    let file = hostile_plugin("future-contract");
    let out = slipway(&["plugin", "check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(21));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("0.3.0") && stderr.contains("0.2.0") && stderr.contains("0.1.0"),
        "{stderr}"
    );
}

#[test]
fn a_file_that_is_not_a_component_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.wasm");
    std::fs::write(&file, "not wasm").unwrap();
    let out = slipway(&["plugin", "check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(21));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("notes.wasm"), "{stderr}");
}

#[test]
fn a_plugin_for_the_previous_contract_still_loads() {
    let file = root().join("tests/fixtures/legacy-plugins/legacy-ini.wasm");
    let out = slipway(&["plugin", "check", file.to_str().unwrap(), "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["contract_version"], "0.1.0");
    assert_eq!(info["looks_for"], serde_json::json!([]));
    let imports: Vec<&str> = info["imports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    assert!(imports.iter().all(|i| i.ends_with("@0.1.0")), "{imports:?}");
}
