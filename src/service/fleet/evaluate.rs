//! Moves rollouts on: after every device report and once a second (soak
//! times pass without reports), each active rollout is counted and
//! [`crate::rollout::advance::decide`] says whether it advances, completes
//! or pauses itself. Changes are stored, logged and wake the app's devices.
//! The same task writes the batched last-seen times.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::Fleet;
use crate::device::{Device, UpdateStatus};
use crate::release::now_ms;
use crate::rollout::advance::{self, Decision, Progress};
use crate::rollout::{Rollout, RolloutState};
use crate::service::state::State;

/// How often soak times are checked.
const TICK: Duration = Duration::from_secs(1);
/// Last-seen times are written at most this often.
const SEEN_EVERY: u32 = 10;

/// Where `device` stands with `release`.
pub fn progress_of(device: &Device, release: i64) -> Progress {
    if device.report.release_id != Some(release) {
        return Progress::Waiting;
    }
    match device.report.update_status {
        Some(UpdateStatus::Running) => Progress::Running,
        Some(UpdateStatus::Failed | UpdateStatus::RolledBack) => Progress::Failed,
        Some(status) if status.is_updating() => Progress::Updating,
        _ => Progress::Waiting,
    }
}

/// Per-phase counts of a rollout, from the devices it selects.
pub fn counts(fleet: &super::FleetData, rollout: &Rollout) -> Vec<advance::PhaseCounts> {
    let devices = fleet
        .devices
        .values()
        .filter(|d| d.app == rollout.app && rollout.selector.selects(&d.tags));
    advance::count(
        rollout,
        devices.map(|d| (d.uuid.as_str(), progress_of(d, rollout.release_id))),
    )
}

/// Decides for every active rollout of `app`; returns the ones that changed.
pub fn evaluate_app(fleet: &Fleet, app: &str, now: i64) -> Vec<(Rollout, String)> {
    let mut data = fleet.write();
    let decisions: Vec<(i64, Decision)> = data
        .rollouts
        .get(app)
        .into_iter()
        .flatten()
        .filter(|r| r.state == RolloutState::Active)
        .map(|r| (r.id, advance::decide(r, &counts(&data, r), now)))
        .collect();
    let mut changed = Vec::new();
    for (id, decision) in decisions {
        let Some(rollout) = data.rollout_mut(id) else {
            continue;
        };
        let what = match decision {
            Decision::Nothing => continue,
            Decision::Advance { to } => {
                rollout.current_phase = to;
                rollout.phase_started_at_ms = now;
                format!("advanced to phase {}", to + 1)
            }
            Decision::Complete => {
                rollout.state = RolloutState::Completed;
                "completed".to_string()
            }
            Decision::Pause { reason } => {
                rollout.state = RolloutState::Paused;
                rollout.reason = Some(reason.clone());
                format!("paused itself: {reason}")
            }
        };
        changed.push((rollout.clone(), what));
    }
    changed
}

/// Stores and logs changed rollouts and wakes their apps' devices.
pub async fn persist(state: &State, changed: Vec<(Rollout, String)>) {
    for (rollout, what) in changed {
        tracing::info!(rollout = rollout.id, app = %rollout.app, "rollout {what}");
        let app = rollout.app.clone();
        let detail = json!({"rollout": rollout.id, "state": rollout.state, "phase": rollout.current_phase + 1, "what": what});
        let saved = state
            .store
            .call(move |s| {
                s.update_rollout(&rollout)?;
                s.record_event(
                    Some(&rollout.app),
                    "rollout.changed",
                    Some(&rollout.id.to_string()),
                    &detail,
                )
            })
            .await;
        if let Err(error) = saved {
            tracing::error!(%error, "could not store a rollout change");
        }
        state.fleet.changed(&app);
    }
}

/// The lease that makes one replica the one moving rollouts on.
const ROLLOUT_LEASE: &str = "rollouts";
/// How long it lasts unrenewed: a dead leader's successor takes over after it.
const ROLLOUT_LEASE_MS: i64 = 5_000;

/// Whether this replica moves rollouts on now: always alone; among
/// replicas, the holder of the `rollouts` lease (renewed every tick), so
/// two replicas never advance one phase twice.
async fn lead_rollouts(state: &State) -> bool {
    if !state.shared {
        return true;
    }
    let owner = state.owner.clone();
    let held = state
        .store
        .call(move |s| s.hold_lease(ROLLOUT_LEASE, &owner, ROLLOUT_LEASE_MS))
        .await;
    let leads = match held {
        Ok(held) => held,
        Err(error) => {
            tracing::warn!(%error, "could not renew the rollout lease");
            false
        }
    };
    let was = state
        .leads_rollouts
        .swap(leads, std::sync::atomic::Ordering::Relaxed);
    if leads != was {
        tracing::info!(leads, "rollout ticker lease");
    }
    leads
}

pub async fn run_ticker(state: Arc<State>) {
    let mut ticks = 0u32;
    let mut written = std::collections::HashMap::new();
    let mut interval = tokio::time::interval(TICK);
    loop {
        interval.tick().await;
        ticks = ticks.wrapping_add(1);
        if !lead_rollouts(&state).await {
            continue;
        }
        let apps: Vec<String> = {
            let data = state.fleet.read();
            data.rollouts
                .iter()
                .filter(|(_, rollouts)| rollouts.iter().any(|r| r.state == RolloutState::Active))
                .map(|(app, _)| app.clone())
                .collect()
        };
        for app in apps {
            let changed = evaluate_app(&state.fleet, &app, now_ms());
            persist(&state, changed).await;
        }
        if ticks.is_multiple_of(SEEN_EVERY) {
            let seen = state.fleet.take_seen(&mut written);
            if !seen.is_empty() {
                if let Err(error) = state.store.call(move |s| s.touch_devices(&seen)).await {
                    tracing::error!(%error, "could not write last-seen times");
                }
            }
        }
    }
}
