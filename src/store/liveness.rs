//! Whether the process that owns a `running` release is still alive.
//!
//! The owner holds an exclusive lock on `<data>/running/<release hash>.lock` for as long
//! as it builds. The kernel drops the lock when the process dies, however it
//! dies, so "can I take the lock?" is exactly "is the owner gone?". Unlike a
//! stored pid, this cannot be fooled by pid reuse, and two builds running at
//! once never mark each other interrupted.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// Held by the process building a release; dropping it releases ownership.
#[derive(Debug)]
pub struct Ownership {
    _file: File,
    path: PathBuf,
}

impl Drop for Ownership {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn lock_path(dir: &Path, release: &str) -> PathBuf {
    dir.join(format!("{release}.lock"))
}

fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

/// Takes ownership of `release`.
pub fn claim(dir: &Path, release: &str) -> std::io::Result<Ownership> {
    std::fs::create_dir_all(dir)?;
    let path = lock_path(dir, release);
    let file = open(&path)?;
    file.lock()?;
    Ok(Ownership { _file: file, path })
}

/// True when no live process owns `release`.
pub fn is_abandoned(dir: &Path, release: &str) -> std::io::Result<bool> {
    std::fs::create_dir_all(dir)?;
    let path = lock_path(dir, release);
    let file = open(&path)?;
    match file.try_lock() {
        Ok(()) => {
            drop(file);
            let _ = std::fs::remove_file(&path);
            Ok(true)
        }
        Err(std::fs::TryLockError::WouldBlock) => Ok(false),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}
