//! The state of one plugin call, and the host side of the contract's
//! imports in version-neutral form: a read-only view of one directory tree
//! backed by cap-std, a capped log, and the base-image catalogue.

use std::io::{self, Read};
use std::path::PathBuf;

use cap_std::fs::Dir;

use super::limits::{Limits, MemoryCap};

/// Why a file-system request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FsFailure {
    NotFound(String),
    OutsideRoot(String),
    InvalidPath(String),
    NotADirectory(String),
    NotAFile(String),
    TooLarge(u64),
    BudgetExhausted,
    Io(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    pub kind: EntryKind,
    pub size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// Store data for one call. Dropped with the store when the call ends.
pub struct Sandbox {
    plugin: String,
    root: Option<Dir>,
    limits: Limits,
    bytes_read: u64,
    log_bytes: usize,
    logs_dropped: bool,
    /// The last error-level log line (shortened): the SDK's panic hook
    /// logs the panic message there before the plugin aborts.
    pub(crate) last_error: Option<String>,
    pub(crate) memory: MemoryCap,
}

impl Sandbox {
    /// A sandbox seeing `root` (none for calls that need no files, like `info`).
    pub fn new(plugin: &str, root: Option<Dir>, limits: Limits) -> Self {
        Sandbox {
            plugin: plugin.to_string(),
            root,
            limits,
            bytes_read: 0,
            log_bytes: 0,
            logs_dropped: false,
            last_error: None,
            memory: MemoryCap::new(limits.memory_bytes),
        }
    }

    fn root(&self, path: &str) -> Result<&Dir, FsFailure> {
        self.root
            .as_ref()
            .ok_or_else(|| FsFailure::NotFound(path.to_string()))
    }

    fn charge(&mut self, bytes: u64) -> Result<(), FsFailure> {
        let total = self.bytes_read.saturating_add(bytes);
        if total > self.limits.read_budget_bytes {
            return Err(FsFailure::BudgetExhausted);
        }
        self.bytes_read = total;
        Ok(())
    }

    pub fn list_dir(&mut self, path: &str) -> Result<Vec<DirEntry>, FsFailure> {
        let rel = relative_path(path)?;
        let root = self.root(path)?;
        let entries = if rel.as_os_str() == "." {
            root.entries()
        } else {
            root.read_dir(&rel)
        }
        .map_err(|e| fs_failure(path, e))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| fs_failure(path, e))?;
            if out.len() == self.limits.max_dir_entries {
                return Err(FsFailure::Io(format!(
                    "{path} has more than {} entries",
                    self.limits.max_dir_entries
                )));
            }
            let file_type = entry.file_type().map_err(|e| fs_failure(path, e))?;
            let kind = kind_of(file_type);
            let size = match kind {
                EntryKind::File => entry.metadata().map(|m| m.len()).unwrap_or(0),
                _ => 0,
            };
            out.push(DirEntry {
                name: entry.file_name().to_string_lossy().into_owned(),
                kind,
                size,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        let listed: u64 = out.iter().map(|e| e.name.len() as u64 + 16).sum();
        self.charge(listed)?;
        Ok(out)
    }

    pub fn read_file(&mut self, path: &str) -> Result<Vec<u8>, FsFailure> {
        let rel = relative_path(path)?;
        let root = self.root(path)?;
        // Looking before opening keeps FIFOs and devices from blocking the call.
        let metadata = root.metadata(&rel).map_err(|e| fs_failure(path, e))?;
        if !metadata.is_file() {
            return Err(FsFailure::NotAFile(path.to_string()));
        }
        let cap = self.limits.max_file_bytes;
        if metadata.len() > cap {
            return Err(FsFailure::TooLarge(metadata.len()));
        }
        let file = root.open(&rel).map_err(|e| fs_failure(path, e))?;
        let mut bytes = Vec::with_capacity(metadata.len() as usize);
        file.take(cap + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| fs_failure(path, e))?;
        if bytes.len() as u64 > cap {
            return Err(FsFailure::TooLarge(bytes.len() as u64));
        }
        self.charge(bytes.len() as u64)?;
        Ok(bytes)
    }

    pub fn stat(&mut self, path: &str) -> Result<Option<DirEntry>, FsFailure> {
        let rel = relative_path(path)?;
        let root = self.root(path)?;
        match root.metadata(&rel) {
            Ok(metadata) => Ok(Some(DirEntry {
                name: rel
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                kind: kind_of(metadata.file_type()),
                size: if metadata.is_file() {
                    metadata.len()
                } else {
                    0
                },
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(fs_failure(path, e)),
        }
    }

    pub fn log(&mut self, level: LogLevel, message: &str) {
        if level == LogLevel::Error {
            // Kept even past the log cap: it explains a trap.
            self.last_error = Some(shorten(message, MAX_KEPT_ERROR));
        }
        let remaining = self.limits.max_log_bytes.saturating_sub(self.log_bytes);
        if message.len() > remaining {
            if !self.logs_dropped {
                self.logs_dropped = true;
                tracing::warn!(plugin = %self.plugin, "log cap of {} bytes reached; further plugin logs dropped", self.limits.max_log_bytes);
            }
            return;
        }
        self.log_bytes += message.len();
        let plugin = self.plugin.as_str();
        match level {
            LogLevel::Trace => tracing::trace!(plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(plugin, "{message}"),
            LogLevel::Info => tracing::info!(plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(plugin, "{message}"),
            LogLevel::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

/// A plugin's `/`-separated relative path as a host path, refusing anything
/// that could name a place outside the tree. cap-std checks again (and
/// handles symlinks); this gives plugins a precise error first.
fn relative_path(path: &str) -> Result<PathBuf, FsFailure> {
    if path.contains('\0') {
        return Err(FsFailure::InvalidPath(path.to_string()));
    }
    if path.starts_with('/') {
        return Err(FsFailure::OutsideRoot(path.to_string()));
    }
    let mut rel = PathBuf::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(FsFailure::OutsideRoot(path.to_string())),
            part => rel.push(part),
        }
    }
    if rel.as_os_str().is_empty() {
        rel.push(".");
    }
    Ok(rel)
}

fn kind_of(file_type: cap_std::fs::FileType) -> EntryKind {
    if file_type.is_symlink() {
        EntryKind::Symlink
    } else if file_type.is_dir() {
        EntryKind::Directory
    } else if file_type.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    }
}

fn fs_failure(path: &str, error: io::Error) -> FsFailure {
    match error.kind() {
        io::ErrorKind::NotFound => FsFailure::NotFound(path.to_string()),
        io::ErrorKind::NotADirectory => FsFailure::NotADirectory(path.to_string()),
        // cap-std reports an escape (through `..` or a symlink) this way.
        io::ErrorKind::PermissionDenied if error.to_string().contains("outside") => {
            FsFailure::OutsideRoot(path.to_string())
        }
        _ => FsFailure::Io(format!("{path}: {error}")),
    }
}

/// Bytes of the last error log line kept to explain a trap.
const MAX_KEPT_ERROR: usize = 1024;

/// `text` cut to at most `max` bytes on a character boundary, marked when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_stay_inside() {
        assert_eq!(relative_path("").unwrap(), PathBuf::from("."));
        assert_eq!(relative_path("./a//b/").unwrap(), PathBuf::from("a/b"));
        assert!(matches!(
            relative_path("a/../../x"),
            Err(FsFailure::OutsideRoot(_))
        ));
        assert!(matches!(
            relative_path("/etc/passwd"),
            Err(FsFailure::OutsideRoot(_))
        ));
        assert!(matches!(
            relative_path("a\0b"),
            Err(FsFailure::InvalidPath(_))
        ));
    }
}
