//! Authoring a plugin from an installed binary, far from any checkout: the
//! binary is copied to a fresh prefix and run with the checkout hidden
//! (an empty directory mounted over it), then scaffolds, builds, tests and
//! uses a plugin with the SDK and contract it carries inside.

mod common;

use std::path::Path;
use std::process::{Command, Output};

/// Runs the installed `slipway` with the checkout hidden behind an empty mount.
fn installed(prefix: &Path, empty: &Path, work: &Path, args: &[&str]) -> Output {
    let checkout = common::root();
    let mut script = format!(
        "mount --bind '{}' '{}' && cd '{}' && exec '{}'",
        empty.display(),
        checkout.display(),
        work.display(),
        prefix.join("bin/slipway").display()
    );
    for arg in args {
        script.push_str(&format!(" '{arg}'"));
    }
    Command::new("unshare")
        .args(["--mount", "sh", "-c", &script])
        .env("CARGO_TARGET_DIR", common::plugin_target_dir())
        .env("SLIPWAY_CACHE_DIR", work.join("cache"))
        .output()
        .expect("unshare runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn an_installed_binary_scaffolds_builds_tests_and_uses_a_plugin() {
    if !common::wasm_toolchain_present("plugin authoring from an installed binary") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let prefix = root.path().join("prefix");
    let empty = root.path().join("empty");
    let work = root.path().join("work");
    for dir in [prefix.join("bin"), empty.clone(), work.clone()] {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::copy(env!("CARGO_BIN_EXE_slipway"), prefix.join("bin/slipway")).unwrap();
    // The hiding works: the checkout's README is not visible inside.
    let probe = Command::new("unshare")
        .args([
            "--mount",
            "sh",
            "-c",
            &format!(
                "mount --bind '{}' '{}' && test ! -e '{}'",
                empty.display(),
                common::root().display(),
                common::root().join("README.md").display()
            ),
        ])
        .status()
        .unwrap();
    assert!(
        probe.success(),
        "cannot hide the checkout (needs root and unshare)"
    );

    let out = installed(&prefix, &empty, &work, &["plugin", "new", "ini-lang"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let crate_dir = work.join("ini-lang");
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("slipway-plugin-sdk = { path = \"sdk\" }"),
        "{manifest}"
    );
    assert!(!manifest.contains(&common::root().display().to_string()));
    assert!(crate_dir.join("sdk/wit/plugin.wit").is_file());
    assert!(crate_dir.join("Cargo.lock").is_file());

    let out = installed(&prefix, &empty, &work, &["plugin", "build", "ini-lang"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("ini-lang@0.1.0 (contract 0.2.0)"),
        "{}",
        text(&out)
    );

    let out = installed(&prefix, &empty, &work, &["plugin", "test", "ini-lang"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(report.contains("ok   sample: `ini-lang`"), "{report}");
    assert!(report.contains("ok   not-mine: nothing"), "{report}");
    assert!(report.contains("2 passed, 0 failed"), "{report}");

    // A wrong expectation fails the run and says what came out instead.
    let fixtures = crate_dir.join("tests/fixtures");
    std::fs::create_dir_all(fixtures.join("wrong")).unwrap();
    std::fs::write(fixtures.join("wrong/ini-lang.toml"), "# marker\n").unwrap();
    std::fs::write(fixtures.join("wrong.expected"), "python\n").unwrap();
    let out = installed(&prefix, &empty, &work, &["plugin", "test", "ini-lang"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("FAIL wrong: expected `python`, got detected `ini-lang`"),
        "{}",
        text(&out)
    );

    // And the plugin is used for detection, from the built component.
    let wasm = common::plugin_target_dir().join("wasm32-unknown-unknown/release/ini_lang.wasm");
    let plugins = work.join("my-plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(&wasm, plugins.join("ini-lang.wasm")).unwrap();
    let out = installed(
        &prefix,
        &empty,
        &work,
        &[
            "detect",
            "ini-lang/tests/fixtures/sample",
            "--device-type",
            "raspberrypi4-64",
            "--json",
            "--plugins",
            "my-plugins",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["services"][0]["project_type"], "ini-lang");
}
