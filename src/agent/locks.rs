//! Update locks (balena's `updates.lock`): a service holds its updates by
//! creating `updates.lock` in its lock directory, mounted into its container
//! at [`MOUNT`]. The agent downloads the new release, then waits while any
//! running service holds its lock, unless the server says to force it.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where each container sees its lock directory (also in `SLIPWAY_LOCK_DIR`).
pub const MOUNT: &str = "/tmp/slipway";
/// The file that holds the updates of a service.
pub const FILE: &str = "updates.lock";

/// The host directory of `service`'s lock, under the agent's state dir.
pub fn dir(state_dir: &Path, service: &str) -> PathBuf {
    state_dir.join("locks").join(service)
}

/// Takes the locks of `services` away (after the server forced the update):
/// the new containers start unlocked, as after a release.
pub fn clear(state_dir: &Path, services: &[String]) {
    for service in services {
        let file = dir(state_dir, service).join(FILE);
        if let Err(error) = std::fs::remove_file(&file) {
            if error.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(file = %file.display(), %error, "cannot remove an overridden update lock");
            }
        }
    }
}

/// The services among `services` whose lock is held now.
pub fn held<'a>(state_dir: &Path, services: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    services
        .into_iter()
        .filter(|service| dir(state_dir, service).join(FILE).exists())
        .cloned()
        .collect()
}

/// What the agent does about held locks: a pure decision over what it saw.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// No lock held, or the server forced the update: go on.
    Proceed { overridden: Vec<String> },
    /// Wait; the text is what the device reports.
    Wait { reason: String },
}

pub fn decide(held: Vec<String>, force: bool, waited: Duration, timeout: Duration) -> Decision {
    if held.is_empty() {
        return Decision::Proceed {
            overridden: Vec::new(),
        };
    }
    if force {
        return Decision::Proceed { overridden: held };
    }
    let names = held
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut reason = format!("update lock held by {names} ({MOUNT}/{FILE} in the container)");
    if waited >= timeout {
        reason.push_str(&format!(
            "; held past the lock timeout of {} s: override it with POST /api/v1/devices/UUID/update {{\"force\": true}}",
            timeout.as_secs()
        ));
    }
    Decision::Wait { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_hold_until_released_or_forced_and_a_long_hold_says_so() {
        let t = Duration::from_secs(60);
        assert_eq!(
            decide(vec![], false, Duration::ZERO, t),
            Decision::Proceed { overridden: vec![] }
        );
        assert_eq!(
            decide(vec!["db".into()], true, Duration::ZERO, t),
            Decision::Proceed {
                overridden: vec!["db".into()]
            }
        );
        let Decision::Wait { reason } = decide(vec!["db".into()], false, Duration::from_secs(5), t)
        else {
            panic!("held locks wait");
        };
        assert!(
            reason.contains("`db`") && !reason.contains("timeout"),
            "{reason}"
        );
        let Decision::Wait { reason } =
            decide(vec!["db".into()], false, Duration::from_secs(61), t)
        else {
            panic!("held locks wait");
        };
        assert!(reason.contains("past the lock timeout of 60 s"), "{reason}");
        assert!(reason.contains("\"force\": true"), "{reason}");
    }

    #[test]
    fn held_reads_the_lock_files() {
        let state = tempfile::tempdir().unwrap();
        let services = vec!["web".to_string(), "db".to_string()];
        assert!(held(state.path(), &services).is_empty());
        std::fs::create_dir_all(dir(state.path(), "db")).unwrap();
        std::fs::write(dir(state.path(), "db").join(FILE), "").unwrap();
        assert_eq!(held(state.path(), &services), vec!["db".to_string()]);
    }
}
