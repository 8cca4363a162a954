//! Hostile plugins, built from `plugins/hostile/` into
//! `tests/fixtures/hostile-plugins/`: each ends in a clear error within its
//! limits, leaks nothing, and leaves the host and the other plugins working.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use slipway::plan::Target;
use slipway::plugin_host::{CallError, Limits, LoadError, PluginHost, PluginSet};

const SECRET: &str = "the-secret-outside-the-project";

/// A project with a Dockerfile, a file bigger than the read cap, and a
/// symlink leading to a directory outside it that holds a secret.
struct HostileProject {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

fn hostile_project() -> HostileProject {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    let root = dir.path().join("project");
    fs::create_dir_all(&outside).unwrap();
    fs::create_dir_all(&root).unwrap();
    fs::write(outside.join("secret.txt"), SECRET).unwrap();
    fs::write(root.join("Dockerfile"), "FROM busybox:slipway\n").unwrap();
    fs::write(root.join("huge.bin"), vec![b'h'; 4 << 20]).unwrap();
    symlink(&outside, root.join("escape")).unwrap();
    HostileProject { _dir: dir, root }
}

fn target() -> Target {
    Target {
        device_type: "intel-nuc".into(),
        arch: "amd64".into(),
        platform: "linux/amd64".into(),
    }
}

fn host(deadline: Duration) -> PluginHost {
    let limits = Limits {
        deadline,
        ..Limits::default()
    };
    PluginHost::new(limits, Some(common::cache_dir().join("components"))).unwrap()
}

/// Loads one hostile plugin and runs its `detect` on the hostile project.
fn run_hostile(
    name: &str,
    deadline: Duration,
) -> (CallError, Duration, PluginHost, HostileProject) {
    let host = host(deadline);
    let project = hostile_project();
    let plugin = host
        .load_file(&common::hostile_plugin(name))
        .unwrap_or_else(|e| panic!("{name} loads: {e}"));
    let started = Instant::now();
    let result = host.detect(&plugin, &project.root, &target());
    let elapsed = started.elapsed();
    let error = result.expect_err("a hostile plugin's call fails");
    assert!(
        !format!("{error:?}").contains(SECRET),
        "{name} leaked the secret: {error:?}"
    );
    (error, elapsed, host, project)
}

/// The host still runs a well-behaved plugin after a hostile one.
fn assert_host_unharmed(host: &PluginHost, root: &Path) {
    let builtins = host.load_builtins();
    let dockerfile = builtins
        .iter()
        .flatten()
        .find(|p| p.info.name == "dockerfile")
        .expect("the dockerfile plugin loads");
    let detection = host
        .detect(dockerfile, root, &target())
        .expect("dockerfile detect runs")
        .expect("the Dockerfile is detected");
    assert_eq!(detection.project_type, "dockerfile");
}

#[test]
fn infinite_loop_ends_at_its_deadline() {
    let deadline = Duration::from_millis(300);
    let (error, elapsed, host, project) = run_hostile("infinite-loop", deadline);
    assert!(matches!(error, CallError::Timeout { .. }), "{error}");
    assert_eq!(error.to_string(), "exceeded its CPU deadline of 300 ms");
    assert!(elapsed >= deadline, "stopped early: {elapsed:?}");
    assert!(
        elapsed < deadline + Duration::from_millis(500),
        "took {elapsed:?}"
    );
    assert_host_unharmed(&host, &project.root);
}

#[test]
fn memory_growth_stops_at_the_cap() {
    let (error, elapsed, host, project) = run_hostile("memory-hog", Duration::from_secs(5));
    assert!(
        matches!(error, CallError::MemoryLimit { limit } if limit == 64 << 20),
        "{error}"
    );
    assert_eq!(error.to_string(), "exceeded its memory limit of 64 MiB");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert_host_unharmed(&host, &project.root);
}

#[test]
fn parent_path_is_refused() {
    let (error, _, host, project) = run_hostile("parent-path", Duration::from_secs(1));
    assert!(error.is_invalid_project(), "{error}");
    assert_eq!(
        error.to_string(),
        "../outside/secret.txt: refused: ../outside/secret.txt leads outside the project"
    );
    assert_host_unharmed(&host, &project.root);
}

#[test]
fn absolute_path_is_refused() {
    let (error, _, host, project) = run_hostile("absolute-path", Duration::from_secs(1));
    assert_eq!(
        error.to_string(),
        "/etc/passwd: refused: /etc/passwd leads outside the project"
    );
    assert_host_unharmed(&host, &project.root);
}

#[test]
fn symlink_leading_outside_is_refused() {
    let (error, _, host, project) = run_hostile("symlink-escape", Duration::from_secs(1));
    assert_eq!(
        error.to_string(),
        "escape/secret.txt: refused: escape/secret.txt leads outside the project"
    );
    assert_host_unharmed(&host, &project.root);
}

#[test]
fn huge_read_is_refused_at_the_file_cap() {
    let (error, _, host, project) = run_hostile("huge-read", Duration::from_secs(1));
    assert_eq!(
        error.to_string(),
        format!("huge.bin: file too large to read ({} bytes)", 4 << 20)
    );
    assert_host_unharmed(&host, &project.root);
}

#[test]
fn huge_output_is_refused_at_the_output_cap() {
    let (error, _, host, project) = run_hostile("huge-output", Duration::from_secs(5));
    assert!(
        matches!(error, CallError::OutputTooLarge { size, cap } if size == 32 << 20 && cap == 1 << 20),
        "{error}"
    );
    assert_host_unharmed(&host, &project.root);
}

#[test]
fn panic_becomes_a_trap_that_quotes_the_panic() {
    let (error, _, host, project) = run_hostile("panic", Duration::from_secs(1));
    let message = error.to_string();
    // The SDK's panic hook logged the message before the abort.
    assert!(
        message.starts_with("trapped: unreachable code reached (the plugin panicked or aborted); its last error log: panic: panicked at hostile/src/misbehave.rs:"),
        "{message}"
    );
    assert!(
        message.contains("index out of bounds: the len is 0 but the index is 3"),
        "{message}"
    );
    assert_host_unharmed(&host, &project.root);
}

#[test]
fn wasi_import_is_refused_at_load_time_naming_the_import() {
    let host = host(Duration::from_secs(1));
    let error = host
        .load_file(&common::hostile_plugin("wasi-import"))
        .expect_err("a WASI-importing component is refused");
    assert!(
        matches!(error, LoadError::ForbiddenImport { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("imports `wasi:cli/environment@0.2"),
        "{message}"
    );
    assert!(message.contains("wasi-import.wasm"), "{message}");
}

#[test]
fn newer_contract_is_refused_naming_both_versions() {
    let host = host(Duration::from_secs(1));
    let error = host
        .load_file(&common::hostile_plugin("future-contract"))
        .expect_err("a plugin for contract 0.3 is refused");
    let message = error.to_string();
    assert!(
        message.contains("was built for contract slipway:plugin@0.3.0, but this host serves slipway:plugin@0.2.0, slipway:plugin@0.1.0"),
        "{message}"
    );
}

#[test]
fn not_a_component_is_refused_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.wasm");
    fs::write(&bogus, b"\0asm not really").unwrap();
    let error = host(Duration::from_secs(1)).load_file(&bogus).unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "plugin {} is not a usable WebAssembly component",
            bogus.display()
        )),
        "{message}"
    );
}

/// Every hostile plugin at once, through the CLI: each fails with a clear
/// error, and the built-in plugins' plan still comes out.
#[test]
fn cli_reports_every_hostile_plugin_and_still_plans() {
    let project = hostile_project();
    let plugins = tempfile::tempdir().unwrap();
    for entry in fs::read_dir(common::root().join("tests/fixtures/hostile-plugins")).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, plugins.path().join(path.file_name().unwrap())).unwrap();
    }
    // Compile (and cache) the components first: the timing below is about
    // running them, not about compiling them on a busy machine.
    let _ = common::slipway(&[
        "plugin",
        "list",
        "--plugins",
        plugins.path().to_str().unwrap(),
    ]);
    let started = Instant::now();
    let out = common::detect(
        &project.root,
        "intel-nuc",
        &[
            "--plugins",
            plugins.path().to_str().unwrap(),
            "--plugin-deadline-ms",
            "500",
        ],
    );
    let elapsed = started.elapsed();
    assert_eq!(out.code, 21, "{}", out.stderr);
    assert!(!out.json.to_string().contains(SECRET));
    assert!(!out.stderr.contains(SECRET));

    let main = out.service("main");
    assert_eq!(main["project_type"], "dockerfile");
    assert_eq!(main["dockerfile"], "FROM busybox:slipway\n");

    let errors = out.errors().join("\n");
    for expected in [
        "plugin hostile-infinite-loop@0.1.0 failed in detect: exceeded its CPU deadline of 500 ms",
        "plugin hostile-memory-hog@0.1.0 failed in detect: exceeded its memory limit of 64 MiB",
        "plugin hostile-huge-output@0.1.0 failed in detect: returned 33554432 bytes, over the output cap",
        "plugin hostile-panic@0.1.0 failed in detect: trapped: unreachable code reached",
        "leads outside the project (reported by plugin hostile-parent-path@0.1.0)",
        "leads outside the project (reported by plugin hostile-absolute-path@0.1.0)",
        "leads outside the project (reported by plugin hostile-symlink-escape@0.1.0)",
        "file too large to read (4194304 bytes) (reported by plugin hostile-huge-read@0.1.0)",
        "imports `wasi:cli/environment@0.2",
        "slipway:plugin@0.3.0",
    ] {
        assert!(errors.contains(expected), "missing `{expected}` in:\n{errors}");
    }
    // One deadline (the loop) plus work, not the sum of many.
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
}

#[test]
fn plugin_set_keeps_going_past_a_broken_plugin_dir_entry() {
    let host = host(Duration::from_secs(1));
    let plugins = tempfile::tempdir().unwrap();
    fs::copy(
        common::hostile_plugin("wasi-import"),
        plugins.path().join("wasi-import.wasm"),
    )
    .unwrap();
    let set = PluginSet::load(&host, &[plugins.path().to_path_buf()]);
    assert_eq!(set.all().len(), 10, "the built-ins all load");
    assert_eq!(set.load_errors.len(), 1);
}
