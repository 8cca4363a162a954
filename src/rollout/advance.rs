//! Whether an active rollout moves on: a phase advances when its success
//! threshold (percent of its devices running the release) is met and its
//! soak time since it was reached has passed; the last phase completes the
//! rollout. It pauses itself when failed devices pass `error_threshold`
//! percent of the devices that finished (running or failed) in the phases
//! reached, counted once `min_finished` of them finished (or all, when the
//! reached phases have fewer devices).

use serde::Serialize;

use super::{membership, Rollout, RolloutState};

/// Where one selected device stands with the rollout's release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Not started on the release (or not reached).
    Waiting,
    /// Downloading or installing it.
    Updating,
    Running,
    Failed,
}

/// Per phase: how many devices it holds and where they stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PhaseCounts {
    pub targeted: u64,
    pub updating: u64,
    pub running: u64,
    pub failed: u64,
}

/// Counts the selected devices, by phase.
pub fn count<'a>(
    rollout: &Rollout,
    devices: impl IntoIterator<Item = (&'a str, Progress)>,
) -> Vec<PhaseCounts> {
    let mut counts = vec![PhaseCounts::default(); rollout.phases.len()];
    for (uuid, progress) in devices {
        let phase = membership::phase_of(&rollout.phases, rollout.id, uuid);
        let Some(slot) = counts.get_mut(phase) else {
            continue;
        };
        slot.targeted += 1;
        match progress {
            Progress::Waiting => {}
            Progress::Updating => slot.updating += 1,
            Progress::Running => slot.running += 1,
            Progress::Failed => slot.failed += 1,
        }
    }
    counts
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Nothing,
    Advance { to: usize },
    Complete,
    Pause { reason: String },
}

pub fn decide(rollout: &Rollout, counts: &[PhaseCounts], now_ms: i64) -> Decision {
    if rollout.state != RolloutState::Active || counts.len() != rollout.phases.len() {
        return Decision::Nothing;
    }
    let reached = &counts[..=rollout.current_phase.min(counts.len() - 1)];
    let targeted: u64 = reached.iter().map(|c| c.targeted).sum();
    let failed: u64 = reached.iter().map(|c| c.failed).sum();
    let finished: u64 = reached.iter().map(|c| c.running + c.failed).sum();
    let needed = u64::from(rollout.min_finished).min(targeted).max(1);
    if finished >= needed && failed * 100 > u64::from(rollout.error_threshold) * finished {
        return Decision::Pause {
            reason: format!(
                "{failed} of {finished} updated devices failed ({}%), over the error threshold of {}%",
                failed * 100 / finished.max(1),
                rollout.error_threshold
            ),
        };
    }
    let phase = &rollout.phases[rollout.current_phase];
    let current = counts[rollout.current_phase];
    let met = current.running * 100 >= u64::from(phase.success_threshold) * current.targeted;
    let soaked = now_ms >= rollout.phase_started_at_ms + (phase.soak_seconds as i64) * 1000;
    if !(met && soaked) {
        return Decision::Nothing;
    }
    if rollout.current_phase + 1 >= rollout.phases.len() {
        Decision::Complete
    } else {
        Decision::Advance {
            to: rollout.current_phase + 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::{Phase, Selector};

    fn rollout(phases: &[(u8, u8, u64)]) -> Rollout {
        Rollout {
            id: 3,
            app: "a".into(),
            release_id: 2,
            selector: Selector::default(),
            phases: phases
                .iter()
                .map(|&(percent, success_threshold, soak_seconds)| Phase {
                    percent,
                    success_threshold,
                    soak_seconds,
                })
                .collect(),
            error_threshold: 10,
            min_finished: 5,
            max_per_minute: None,
            state: RolloutState::Active,
            current_phase: 0,
            phase_started_at_ms: 1_000,
            created_at_ms: 0,
            reason: None,
        }
    }

    fn counts(per_phase: &[(u64, u64, u64)]) -> Vec<PhaseCounts> {
        per_phase
            .iter()
            .map(|&(targeted, running, failed)| PhaseCounts {
                targeted,
                updating: 0,
                running,
                failed,
            })
            .collect()
    }

    #[test]
    fn a_phase_advances_when_its_threshold_is_met_and_soaked() {
        let r = rollout(&[(10, 90, 60), (100, 100, 0)]);
        let now = 1_000 + 60_000;
        assert_eq!(
            decide(&r, &counts(&[(10, 8, 0), (90, 0, 0)]), now),
            Decision::Nothing
        );
        assert_eq!(
            decide(&r, &counts(&[(10, 9, 0), (90, 0, 0)]), now - 1),
            Decision::Nothing,
            "not soaked yet"
        );
        assert_eq!(
            decide(&r, &counts(&[(10, 9, 0), (90, 0, 0)]), now),
            Decision::Advance { to: 1 }
        );
        let mut last = r.clone();
        last.current_phase = 1;
        assert_eq!(
            decide(&last, &counts(&[(10, 10, 0), (90, 90, 0)]), now),
            Decision::Complete
        );
        // A phase nobody falls in is met at once.
        assert_eq!(
            decide(&r, &counts(&[(0, 0, 0), (5, 0, 0)]), now),
            Decision::Advance { to: 1 }
        );
    }

    #[test]
    fn errors_pause_once_enough_devices_finished() {
        let r = rollout(&[(50, 100, 0), (100, 100, 0)]);
        // 2 of 3 finished failed, but fewer than min_finished (5) finished.
        assert_eq!(
            decide(&r, &counts(&[(20, 1, 2), (20, 0, 0)]), 5_000),
            Decision::Nothing
        );
        // 5 finished, 1 failed: 20 % > 10 %.
        match decide(&r, &counts(&[(20, 4, 1), (20, 0, 0)]), 5_000) {
            Decision::Pause { reason } => assert!(
                reason.starts_with("1 of 5 updated devices failed (20%)"),
                "{reason}"
            ),
            other => panic!("{other:?}"),
        }
        // A phase with fewer devices than min_finished counts when all finished.
        assert!(matches!(
            decide(&r, &counts(&[(2, 1, 1), (20, 0, 0)]), 5_000),
            Decision::Pause { .. }
        ));
        let mut paused = r.clone();
        paused.state = RolloutState::Paused;
        assert_eq!(
            decide(&paused, &counts(&[(10, 10, 0), (10, 0, 0)]), 5_000),
            Decision::Nothing
        );
    }

    #[test]
    fn counts_follow_membership() {
        let r = rollout(&[(10, 100, 0), (100, 100, 0)]);
        let uuids: Vec<String> = (0..1000).map(|i| format!("d{i}")).collect();
        let c = count(&r, uuids.iter().map(|u| (u.as_str(), Progress::Running)));
        assert_eq!(c[0].targeted + c[1].targeted, 1000);
        assert_eq!(c[0].running, c[0].targeted);
        assert!((60..140).contains(&c[0].targeted), "{c:?}");
    }
}
