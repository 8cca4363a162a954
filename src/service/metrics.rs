//! `/metrics` in Prometheus' text format. Counters live in memory (they
//! restart with the process, as Prometheus expects); release counts and
//! queue depth come from the store.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::release::Status;

/// Upper bounds of the build duration histogram, in seconds.
const BUCKETS: [f64; 10] = [
    5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
];

#[derive(Default)]
pub struct Metrics {
    pub git_pushes: AtomicU64,
    pub uploads: AtomicU64,
    pub uploads_refused: AtomicU64,
    pub webhooks: AtomicU64,
    durations: Mutex<Histogram>,
}

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    pub fn observe_build(&self, seconds: f64) {
        let mut histogram = self.durations.lock().unwrap_or_else(|p| p.into_inner());
        for (bound, count) in BUCKETS.iter().zip(histogram.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }

    pub fn render(&self, by_status: &[(Status, i64)]) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP slipway_builds Releases by status.");
        let _ = writeln!(out, "# TYPE slipway_builds gauge");
        for status in Status::ALL {
            let count = by_status
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(0, |(_, n)| *n);
            let _ = writeln!(out, "slipway_builds{{status=\"{status}\"}} {count}");
        }
        let queued = by_status
            .iter()
            .find(|(s, _)| *s == Status::Queued)
            .map_or(0, |(_, n)| *n);
        let _ = writeln!(
            out,
            "# HELP slipway_queue_depth Releases waiting for a build slot."
        );
        let _ = writeln!(out, "# TYPE slipway_queue_depth gauge");
        let _ = writeln!(out, "slipway_queue_depth {queued}");
        let histogram = self.durations.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(
            out,
            "# HELP slipway_build_duration_seconds Build time of releases this process built."
        );
        let _ = writeln!(out, "# TYPE slipway_build_duration_seconds histogram");
        for (bound, count) in BUCKETS.iter().zip(histogram.counts.iter()) {
            let _ = writeln!(
                out,
                "slipway_build_duration_seconds_bucket{{le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "slipway_build_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            histogram.count
        );
        let _ = writeln!(out, "slipway_build_duration_seconds_sum {}", histogram.sum);
        let _ = writeln!(
            out,
            "slipway_build_duration_seconds_count {}",
            histogram.count
        );
        for (name, help, value) in [
            (
                "slipway_git_pushes_total",
                "git pushes received.",
                &self.git_pushes,
            ),
            (
                "slipway_uploads_total",
                "Tar uploads received.",
                &self.uploads,
            ),
            (
                "slipway_uploads_refused_total",
                "Tar uploads refused (unsafe or too large).",
                &self.uploads_refused,
            ),
            (
                "slipway_webhooks_total",
                "Repository webhooks accepted.",
                &self.webhooks,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        out
    }
}

/// What one replica is and does right now (each replica answers for itself).
pub struct ReplicaFacts<'a> {
    pub role: &'a str,
    pub backend: &'a str,
    pub database_up: bool,
    pub building: usize,
    pub leads_rollouts: bool,
}

pub fn render_replica(facts: &ReplicaFacts) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP slipway_replica_info This replica's role and store backend."
    );
    let _ = writeln!(out, "# TYPE slipway_replica_info gauge");
    let _ = writeln!(
        out,
        "slipway_replica_info{{role=\"{}\",backend=\"{}\"}} 1",
        facts.role, facts.backend
    );
    for (name, help, value) in [
        (
            "slipway_database_up",
            "Whether the database answered the last check.",
            facts.database_up as usize,
        ),
        (
            "slipway_builds_running_here",
            "Builds this replica runs now.",
            facts.building,
        ),
        (
            "slipway_rollout_leader",
            "Whether this replica moves rollouts on.",
            facts.leads_rollouts as usize,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        let _ = writeln!(out, "{name} {value}");
    }
    out
}
