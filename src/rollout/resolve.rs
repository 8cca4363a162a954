//! The release a device should run, in one documented order:
//! **device pin > active rollout > fleet target**.
//!
//! A rollout applies to a device when its selector matches the device's
//! tags and the device's phase has been reached. Active, paused and
//! completed rollouts keep the devices they reached; a stopped one keeps
//! only the devices that had finished updating to its release. When several
//! rollouts apply, the newest wins.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{membership, Rollout, RolloutState};

/// What resolution needs to know about a device.
#[derive(Debug, Clone)]
pub struct DeviceFacts<'a> {
    pub uuid: &'a str,
    pub tags: &'a BTreeMap<String, String>,
    pub pin: Option<i64>,
    /// The release it reports running (update finished), if any.
    pub running: Option<i64>,
}

/// The fleet's own target: a release, or none yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetTarget {
    pub release: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum Reason {
    Pin,
    Rollout {
        rollout: i64,
    },
    Fleet,
    /// Nothing to run yet: no successful release, no pin.
    Nothing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Target {
    pub release: Option<i64>,
    #[serde(flatten)]
    pub reason: Reason,
}

/// Whether `rollout` has reached `device`.
pub fn reaches(rollout: &Rollout, device: &DeviceFacts) -> bool {
    if !rollout.selector.selects(device.tags) {
        return false;
    }
    let phase = membership::phase_of(&rollout.phases, rollout.id, device.uuid);
    let reached = match rollout.state {
        RolloutState::Completed => true,
        RolloutState::Active | RolloutState::Paused | RolloutState::Stopped => {
            phase <= rollout.current_phase
        }
    };
    match rollout.state {
        RolloutState::Stopped => reached && device.running == Some(rollout.release_id),
        _ => reached,
    }
}

/// The target of `device`; `rollouts` are the app's, any order.
pub fn target(device: &DeviceFacts, fleet: FleetTarget, rollouts: &[Rollout]) -> Target {
    if let Some(release) = device.pin {
        return Target {
            release: Some(release),
            reason: Reason::Pin,
        };
    }
    if let Some(rollout) = rollouts
        .iter()
        .filter(|r| reaches(r, device))
        .max_by_key(|r| r.id)
    {
        return Target {
            release: Some(rollout.release_id),
            reason: Reason::Rollout {
                rollout: rollout.id,
            },
        };
    }
    match fleet.release {
        Some(release) => Target {
            release: Some(release),
            reason: Reason::Fleet,
        },
        None => Target {
            release: None,
            reason: Reason::Nothing,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::{Phase, Selector};

    fn rollout(id: i64, release: i64, percents: &[u8], current: usize) -> Rollout {
        Rollout {
            id,
            app: "a".into(),
            release_id: release,
            selector: Selector::default(),
            phases: percents
                .iter()
                .map(|&percent| Phase {
                    percent,
                    success_threshold: 100,
                    soak_seconds: 0,
                })
                .collect(),
            error_threshold: 5,
            min_finished: 5,
            max_per_minute: None,
            state: RolloutState::Active,
            current_phase: current,
            phase_started_at_ms: 0,
            created_at_ms: 0,
            reason: None,
        }
    }

    fn device<'a>(uuid: &'a str, tags: &'a BTreeMap<String, String>) -> DeviceFacts<'a> {
        DeviceFacts {
            uuid,
            tags,
            pin: None,
            running: None,
        }
    }

    #[test]
    fn pin_beats_rollout_beats_fleet() {
        let tags = BTreeMap::new();
        let fleet = FleetTarget { release: Some(1) };
        let everyone = rollout(1, 2, &[100], 0);
        let mut facts = device("d", &tags);
        assert_eq!(target(&facts, fleet, &[]).release, Some(1));
        assert_eq!(
            target(&facts, fleet, std::slice::from_ref(&everyone)).release,
            Some(2)
        );
        facts.pin = Some(3);
        let pinned = target(&facts, fleet, &[everyone]);
        assert_eq!((pinned.release, pinned.reason), (Some(3), Reason::Pin));
        assert_eq!(
            target(&device("d", &tags), FleetTarget { release: None }, &[]).reason,
            Reason::Nothing
        );
    }

    #[test]
    fn only_reached_phases_and_selected_tags_count() {
        let berlin: BTreeMap<String, String> = [("site".into(), "berlin".into())].into();
        let paris: BTreeMap<String, String> = [("site".into(), "paris".into())].into();
        let fleet = FleetTarget { release: Some(1) };
        let mut r = rollout(9, 2, &[10, 100], 0);
        r.selector.tags.insert("site".into(), "berlin".into());
        let uuids: Vec<String> = (0..1000).map(|i| format!("u{i}")).collect();
        let on_new = |r: &Rollout, tags: &BTreeMap<String, String>| {
            uuids
                .iter()
                .filter(|u| {
                    target(&device(u, tags), fleet, std::slice::from_ref(r)).release == Some(2)
                })
                .count()
        };
        let first = on_new(&r, &berlin);
        assert!((60..140).contains(&first), "{first}");
        assert_eq!(on_new(&r, &paris), 0);
        r.current_phase = 1;
        assert_eq!(on_new(&r, &berlin), 1000);
    }

    #[test]
    fn a_stopped_rollout_keeps_only_finished_devices() {
        let tags = BTreeMap::new();
        let fleet = FleetTarget { release: Some(1) };
        let mut r = rollout(1, 2, &[100], 0);
        r.state = RolloutState::Stopped;
        let mut facts = device("d", &tags);
        assert_eq!(
            target(&facts, fleet, std::slice::from_ref(&r)).release,
            Some(1)
        );
        facts.running = Some(2);
        assert_eq!(
            target(&facts, fleet, std::slice::from_ref(&r)).release,
            Some(2)
        );
    }

    #[test]
    fn the_newest_rollout_wins() {
        let tags = BTreeMap::new();
        let fleet = FleetTarget { release: Some(1) };
        let older = rollout(1, 2, &[100], 0);
        let newer = rollout(2, 3, &[100], 0);
        assert_eq!(
            target(&device("d", &tags), fleet, &[newer, older]).release,
            Some(3)
        );
    }
}
