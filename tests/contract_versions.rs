//! Contract lines side by side: a plugin built for the frozen 0.1 contract
//! still detects and plans next to the 0.2 built-ins, and 0.2's `looks-for`
//! lets the host skip plugins whose files are absent.

mod common;

use common::{detect, root, TempProject};
use slipway::plugin_host::{Limits, PluginHost};

fn legacy_plugins() -> String {
    root()
        .join("tests/fixtures/legacy-plugins")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn a_0_1_plugin_plans_a_service_beside_0_2_builtins() {
    let project = TempProject::new("ini", &[("app.ini", "[app]\nname = demo\n")]);
    let out = detect(
        project.path(),
        "raspberrypi4-64",
        &["--plugins", &legacy_plugins()],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let main = out.service("main");
    assert_eq!(main["plugin"], "legacy-ini");
    assert_eq!(main["candidates"][0]["project_type"], "ini");
    assert_eq!(main["plugin_version"], "1.0.0");
    assert!(main["dockerfile"]
        .as_str()
        .unwrap()
        .contains("COPY app.ini /etc/app.ini"));
    // A 0.1 plan has no command: the image's own CMD stays.
    assert!(main["command"].is_null());
    assert_eq!(main["notes"][0], "planned by a 0.1 plugin for aarch64");
}

#[test]
fn a_0_1_plugin_is_listed_with_its_contract() {
    let out = common::slipway(&["plugin", "list", "--json", "--plugins", &legacy_plugins()]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let contracts: Vec<(&str, &str)> = json["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["contract_version"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        contracts.contains(&("legacy-ini", "0.1.0")),
        "{contracts:?}"
    );
    assert!(contracts.contains(&("go", "0.2.0")), "{contracts:?}");
}

#[test]
fn looks_for_decides_which_plugins_are_asked() {
    let host = PluginHost::new(
        Limits::default(),
        Some(common::cache_dir().join("components")),
    )
    .unwrap();
    let builtins: Vec<_> = host
        .load_builtins()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let plugin = |name: &str| builtins.iter().find(|p| p.info.name == name).unwrap();
    let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let go_project = names(&["go.mod", "main.go"]);
    assert!(plugin("go").worth_asking(Some(&go_project)));
    assert!(!plugin("python").worth_asking(Some(&go_project)));
    assert!(!plugin("procfile").worth_asking(Some(&go_project)));
    // Globs: `Dockerfile.*` covers every device-type and arch file.
    let arch_files = names(&["Dockerfile.aarch64"]);
    assert!(plugin("arch-dockerfile").worth_asking(Some(&arch_files)));
    assert!(!plugin("dockerfile").worth_asking(Some(&arch_files)));
    // A root that could not be listed: everyone is asked.
    assert!(plugin("python").worth_asking(None));

    let legacy = host
        .load_file(&root().join("tests/fixtures/legacy-plugins/legacy-ini.wasm"))
        .unwrap();
    assert!(legacy.info.looks_for.is_empty());
    // A 0.1 plugin declared nothing, so it is always asked.
    assert!(legacy.worth_asking(Some(&go_project)));
}
