//! The on-disk plugin cache: compiled components and their `info`, reused
//! across runs, and never trusted blindly.

mod common;

use std::fs;

use slipway::plugin_host::{Limits, PluginHost};

fn entries(dir: &std::path::Path, suffix: &str) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    found.sort();
    found
}

#[test]
fn info_is_cached_and_builtins_are_prepared_on_first_use() {
    // Start from the shared cache's compiled components (compiling ten
    // components in a debug build takes a minute) but none of its infos.
    let shared = common::cache_dir().join("components");
    PluginHost::new(Limits::default(), Some(shared.clone()))
        .unwrap()
        .load_builtins();
    let cache = tempfile::tempdir().unwrap();
    for compiled in entries(&shared, ".cwasm") {
        fs::copy(&compiled, cache.path().join(compiled.file_name().unwrap())).unwrap();
    }
    let first = PluginHost::new(Limits::default(), Some(cache.path().to_path_buf())).unwrap();
    let loaded: Vec<_> = first
        .load_builtins()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let infos = entries(cache.path(), ".info.json");
    assert_eq!(infos.len(), loaded.len());
    assert!(entries(cache.path(), ".cwasm").len() >= loaded.len());

    // A second host answers from the cache: the same info, field for field.
    let second = PluginHost::new(Limits::default(), Some(cache.path().to_path_buf())).unwrap();
    let again: Vec<_> = second
        .load_builtins()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for (a, b) in loaded.iter().zip(&again) {
        assert_eq!(a.info, b.info);
    }
    // ...and prepares a component only when it is first called.
    assert!(loaded.iter().all(|p| p.imports().is_some()));
    assert!(again.iter().all(|p| p.imports().is_none()));
    let node = again.iter().find(|p| p.info.name == "node").unwrap();
    let project = common::root().join("examples/node-hello");
    let target = slipway::target::lookup("raspberrypi4-64").unwrap().target();
    let detected = second.detect(node, &project, &target).unwrap();
    assert_eq!(detected.unwrap().project_type, "node");
    assert!(node
        .imports()
        .unwrap()
        .iter()
        .all(|i| i.starts_with("slipway:plugin/")));
    let prepared: Vec<&str> = again
        .iter()
        .filter(|p| p.imports().is_some())
        .map(|p| p.info.name.as_str())
        .collect();
    assert_eq!(prepared, ["node"]);

    // A damaged entry is ignored: the plugin is asked again and the entry rewritten.
    fs::write(&infos[0], b"{ not json").unwrap();
    let third = PluginHost::new(Limits::default(), Some(cache.path().to_path_buf())).unwrap();
    let repaired: Vec<_> = third
        .load_builtins()
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for (a, b) in loaded.iter().zip(&repaired) {
        assert_eq!(a.info, b.info);
    }
    // Sealed: a 32-byte MAC, then the JSON.
    let rewritten: serde_json::Value =
        serde_json::from_slice(&fs::read(&infos[0]).unwrap()[32..]).unwrap();
    assert!(rewritten["name"].is_string());
}
