//! A device's phase in a rollout: a stable hash of the rollout id and the
//! device uuid picks a point in 0..10,000; the first phase whose cumulative
//! percent covers it is the device's. The same device always lands in the
//! same phase of the same rollout (across restarts and on every server),
//! and different rollouts shuffle the fleet differently.

use sha2::{Digest, Sha256};

use super::Phase;

/// Resolution of a phase's percent: basis points.
const SCALE: u32 = 10_000;

/// Where the device falls, in 0..10,000.
pub fn point(rollout: i64, device_uuid: &str) -> u32 {
    let digest = Sha256::new()
        .chain_update(rollout.to_be_bytes())
        .chain_update(b":")
        .chain_update(device_uuid.as_bytes())
        .finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % SCALE
}

/// The index of the device's phase.
pub fn phase_of(phases: &[Phase], rollout: i64, device_uuid: &str) -> usize {
    let point = point(rollout, device_uuid);
    phases
        .iter()
        .position(|phase| point < u32::from(phase.percent.min(100)) * (SCALE / 100))
        .unwrap_or(phases.len().saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phases(percents: &[u8]) -> Vec<Phase> {
        percents
            .iter()
            .map(|&percent| Phase {
                percent,
                success_threshold: 100,
                soak_seconds: 0,
            })
            .collect()
    }

    #[test]
    fn membership_is_stable_and_proportional() {
        let phases = phases(&[10, 50, 100]);
        let mut counts = [0usize; 3];
        for i in 0..10_000 {
            let uuid = format!("device-{i}");
            let phase = phase_of(&phases, 7, &uuid);
            assert_eq!(phase, phase_of(&phases, 7, &uuid), "stable");
            counts[phase] += 1;
        }
        // 10 %, 40 %, 50 % of 10,000, within a few percent.
        assert!((900..1100).contains(&counts[0]), "{counts:?}");
        assert!((3800..4200).contains(&counts[1]), "{counts:?}");
        assert!((4800..5200).contains(&counts[2]), "{counts:?}");
    }

    #[test]
    fn rollouts_shuffle_differently() {
        let phases = phases(&[10, 100]);
        let first: Vec<usize> = (0..200)
            .map(|i| phase_of(&phases, 1, &format!("d{i}")))
            .collect();
        let second: Vec<usize> = (0..200)
            .map(|i| phase_of(&phases, 2, &format!("d{i}")))
            .collect();
        assert_ne!(first, second);
    }
}
