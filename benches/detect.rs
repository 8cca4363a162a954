//! In-process detection latency with every built-in plugin, on a warm
//! host (plugins loaded once): the cost of one `detect` of one project.
//!
//!     cargo bench --bench detect
//!
//! Prints p50 / p90 / max over many runs per project. Not a timed test:
//! results are recorded in docs/benchmarks.md.

use std::path::Path;
use std::time::{Duration, Instant};

use slipway::detect::{detect, DetectOptions};
use slipway::plugin_host::{Limits, PluginHost, PluginSet};
use slipway::source::ProjectDir;

const RUNS: usize = 500;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cache = std::env::temp_dir().join("slipway-bench-cache");
    let host = PluginHost::new(Limits::default(), Some(cache)).expect("plugin host");
    let plugins = PluginSet::load(&host, &[]);
    assert!(plugins.load_errors.is_empty(), "{:?}", plugins.load_errors);
    let target = slipway::target::lookup("raspberrypi4-64")
        .expect("device type")
        .target();
    let options = DetectOptions {
        app: "bench".into(),
        release_hash: "bench".into(),
        context: None,
    };
    println!("in-process detect, {RUNS} runs each, all built-in plugins loaded once");
    for (name, dir) in [
        (
            "node (package.json + lockfile)",
            "tests/fixtures/projects/node-lockfile",
        ),
        (
            "dockerfile.template",
            "tests/fixtures/projects/template-over-dockerfile",
        ),
        ("compose, 4 services", "tests/fixtures/projects/compose"),
        ("compose, 5 services", "examples/compose-five-services"),
        ("python", "examples/python-app"),
        ("go", "examples/go-hello"),
        ("rust", "examples/rust-hello"),
        ("procfile, 2 processes (node)", "examples/procfile-app"),
    ] {
        let project = ProjectDir::open(&root.join(dir)).expect("fixture");
        let mut times: Vec<Duration> = (0..RUNS)
            .map(|_| {
                let started = Instant::now();
                let report = detect(&host, &plugins, &project, &target, &options);
                let elapsed = started.elapsed();
                assert!(report.is_clean(), "{:?}", report.problems);
                elapsed
            })
            .collect();
        times.sort();
        println!(
            "  {name:34} p50 {:>7.1} us   p90 {:>7.1} us   max {:>7.1} us",
            micros(times[RUNS / 2]),
            micros(times[RUNS * 9 / 10]),
            micros(times[RUNS - 1]),
        );
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
