//! Which release each device should run: pure decisions over data, no I/O.
//!
//! - [`resolve`]: the one resolution order, device pin > active rollout
//!   (device selected and its phase reached) > fleet target;
//! - [`membership`]: a device's phase in a rollout, a stable hash of the
//!   device uuid and the rollout id, so it never moves;
//! - [`advance`]: whether a rollout advances a phase, completes or pauses
//!   itself on its error threshold.
//!
//! The service keeps the data (store, in-memory index) and calls these.

pub mod advance;
pub mod membership;
pub mod resolve;
pub mod throttle;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One step of a rollout: how much of the selected devices it reaches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// Cumulative share of the selected devices, 1 to 100.
    pub percent: u8,
    /// Percent of the phase's devices that must run the release to advance.
    #[serde(default = "full")]
    pub success_threshold: u8,
    /// How long the phase runs before it may advance, once reached.
    #[serde(default)]
    pub soak_seconds: u64,
}

fn full() -> u8 {
    100
}

/// Which devices a rollout may reach: all of these tags must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl Selector {
    pub fn selects(&self, tags: &BTreeMap<String, String>) -> bool {
        self.tags.iter().all(|(k, v)| tags.get(k) == Some(v))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutState {
    /// Phases advance as their thresholds are met.
    Active,
    /// Held (by an operator or by the error threshold): reached devices keep
    /// the release, no phase advances.
    Paused,
    /// Every phase reached: its devices keep the release.
    Completed,
    /// Ended by an operator: devices that had not finished updating go back
    /// to the fleet target.
    Stopped,
}

impl RolloutState {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutState::Active => "active",
            RolloutState::Paused => "paused",
            RolloutState::Completed => "completed",
            RolloutState::Stopped => "stopped",
        }
    }

    pub fn parse(text: &str) -> Option<RolloutState> {
        [
            RolloutState::Active,
            RolloutState::Paused,
            RolloutState::Completed,
            RolloutState::Stopped,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A staged rollout of one release to a selected part of an app's fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    pub id: i64,
    pub app: String,
    pub release_id: i64,
    pub selector: Selector,
    pub phases: Vec<Phase>,
    /// Percent of finished devices that may fail before it pauses itself.
    pub error_threshold: u8,
    /// The error threshold counts once this many devices finished (or all, when fewer).
    pub min_finished: u32,
    /// At most this many devices start the release per minute (none: no limit).
    pub max_per_minute: Option<u32>,
    pub state: RolloutState,
    /// Index of the last phase reached.
    pub current_phase: usize,
    /// When the current phase was reached (Unix ms).
    pub phase_started_at_ms: i64,
    pub created_at_ms: i64,
    /// Why it paused or stopped, in words.
    pub reason: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RolloutError {
    #[error("phases: give at least one phase")]
    NoPhases,
    #[error("phases[{index}].percent: {percent} is not within 1 to 100")]
    Percent { index: usize, percent: u8 },
    #[error("phases[{index}].percent: {percent} is below the previous phase's {previous} (percents are cumulative)")]
    NotIncreasing {
        index: usize,
        percent: u8,
        previous: u8,
    },
    #[error("phases: the last phase must reach 100 percent, not {0}")]
    LastNotFull(u8),
    #[error("phases[{index}].success_threshold: {value} is above 100")]
    Threshold { index: usize, value: u8 },
    #[error("error_threshold: {0} is above 100")]
    ErrorThreshold(u8),
    #[error("phases: at most {max} phases")]
    TooManyPhases { max: usize },
}

/// The most phases a rollout may have.
pub const MAX_PHASES: usize = 20;

/// Checks phases and thresholds, naming the field at fault.
pub fn check(phases: &[Phase], error_threshold: u8) -> Result<(), RolloutError> {
    if phases.is_empty() {
        return Err(RolloutError::NoPhases);
    }
    if phases.len() > MAX_PHASES {
        return Err(RolloutError::TooManyPhases { max: MAX_PHASES });
    }
    let mut previous = 0;
    for (index, phase) in phases.iter().enumerate() {
        if phase.percent == 0 || phase.percent > 100 {
            return Err(RolloutError::Percent {
                index,
                percent: phase.percent,
            });
        }
        if phase.percent < previous {
            return Err(RolloutError::NotIncreasing {
                index,
                percent: phase.percent,
                previous,
            });
        }
        if phase.success_threshold > 100 {
            return Err(RolloutError::Threshold {
                index,
                value: phase.success_threshold,
            });
        }
        previous = phase.percent;
    }
    if previous != 100 {
        return Err(RolloutError::LastNotFull(previous));
    }
    if error_threshold > 100 {
        return Err(RolloutError::ErrorThreshold(error_threshold));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(percent: u8) -> Phase {
        Phase {
            percent,
            success_threshold: 100,
            soak_seconds: 0,
        }
    }

    #[test]
    fn phases_are_checked() {
        assert_eq!(check(&[phase(10), phase(100)], 5), Ok(()));
        assert_eq!(check(&[], 5), Err(RolloutError::NoPhases));
        assert_eq!(
            check(&[phase(50), phase(10), phase(100)], 5),
            Err(RolloutError::NotIncreasing {
                index: 1,
                percent: 10,
                previous: 50
            })
        );
        assert_eq!(check(&[phase(10)], 5), Err(RolloutError::LastNotFull(10)));
        assert_eq!(
            check(&[phase(0), phase(100)], 5),
            Err(RolloutError::Percent {
                index: 0,
                percent: 0
            })
        );
        assert_eq!(
            check(&[phase(100)], 101),
            Err(RolloutError::ErrorThreshold(101))
        );
    }

    #[test]
    fn selectors_match_all_tags() {
        let tags: BTreeMap<String, String> = [
            ("site".into(), "berlin".into()),
            ("ring".into(), "beta".into()),
        ]
        .into();
        let select = |pairs: &[(&str, &str)]| Selector {
            tags: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        assert!(select(&[]).selects(&tags));
        assert!(select(&[("site", "berlin")]).selects(&tags));
        assert!(!select(&[("site", "paris")]).selects(&tags));
        assert!(!select(&[("site", "berlin"), ("hw", "v2")]).selects(&tags));
    }
}
