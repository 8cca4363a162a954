//! The agent's journal: one small JSON file in the state dir, replaced
//! atomically (write, fsync, rename, fsync the dir) before each step, so a
//! restart after a power loss knows which release runs and which one it was
//! switching to.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::target::TargetState;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// The release that runs (committed).
    pub current: Option<TargetState>,
    /// The release being switched to, from the first container changed
    /// until it is committed or rolled back.
    pub switching_to: Option<TargetState>,
    /// The last report's sequence number.
    pub seq: u64,
    /// This device's uuid, learned from the server.
    #[serde(default)]
    pub device: Option<String>,
    /// A release that failed here: not tried again until the target moves on.
    #[serde(default)]
    pub failed: Option<i64>,
    /// Image references this agent pulled (by digest): the only images it
    /// ever removes, once no release it needs uses them.
    #[serde(default)]
    pub pulled: Vec<String>,
    /// Images loaded from a preload file: digest reference -> image id
    /// (loading keeps no digest references, so services are created from
    /// the id).
    #[serde(default)]
    pub preloaded: std::collections::BTreeMap<String, String>,
    /// The last report made. Sent again after a restart: the power may have
    /// gone before it reached the server, and a device already on its
    /// target has nothing new to say that would correct the server's view.
    #[serde(default)]
    pub last_report: Option<serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("agent journal {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("agent journal {path} is damaged: {source}")]
    Damaged {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

const FILE: &str = "journal.json";

pub fn load(dir: &Path) -> Result<Journal, JournalError> {
    let path = dir.join(FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map_err(|source| JournalError::Damaged { path, source })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Journal::default()),
        Err(source) => Err(JournalError::Io { path, source }),
    }
}

pub fn save(dir: &Path, journal: &Journal) -> Result<(), JournalError> {
    let path = dir.join(FILE);
    let io = |source| JournalError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let temporary = dir.join(format!("{FILE}.new"));
    let mut file = std::fs::File::create(&temporary).map_err(io)?;
    file.write_all(&serde_json::to_vec_pretty(journal).unwrap_or_default())
        .map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&temporary, &path).map_err(io)?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io)?;
    Ok(())
}

/// The journal in a directory on the device (`journal.json`).
#[derive(Debug, Clone)]
pub struct FileJournal {
    pub dir: PathBuf,
}

impl super::ports::JournalStore for FileJournal {
    fn load(&self) -> Result<Journal, JournalError> {
        load(&self.dir)
    }

    fn save(&self, journal: &Journal) -> Result<(), JournalError> {
        save(&self.dir, journal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), Journal::default());
        let journal = Journal {
            current: None,
            switching_to: Some(TargetState {
                release_id: Some(3),
                services: Default::default(),
                hooks: Default::default(),
            }),
            seq: 7,
            device: Some("d".into()),
            failed: None,
            pulled: vec!["r/a@sha256:00".into()],
            preloaded: [("r/a@sha256:00".to_string(), "sha256:11".to_string())].into(),
            last_report: Some(
                serde_json::json!({"release_id": 3, "update_status": "installing", "seq": 7}),
            ),
        };
        save(dir.path(), &journal).unwrap();
        assert_eq!(load(dir.path()).unwrap(), journal);
        std::fs::write(dir.path().join(FILE), "{").unwrap();
        assert!(matches!(
            load(dir.path()),
            Err(JournalError::Damaged { .. })
        ));
    }
}
