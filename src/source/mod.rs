//! The project being built, as a directory tree Slipway reads without ever
//! leaving it. Later sources (git push, tar upload) unpack into one of these.

pub mod git;
pub mod tar;
pub mod unpack;

use std::io::Read;
use std::path::{Path, PathBuf};

use cap_std::fs::Dir;

/// The largest file the host itself reads (Dockerfiles, balena.yml).
pub const MAX_HOST_READ: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("project directory {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path} is larger than {limit} bytes")]
    TooLarge { path: String, limit: u64 },
    #[error("`{path}` leads outside the project")]
    Outside { path: String },
    #[error("`{path}` is not a directory in the project")]
    NotADirectory { path: String },
}

impl SourceError {
    /// The same error with its project path prefixed by `context` (a
    /// service's context, when the path was relative to it).
    pub fn within(self, context: &str) -> SourceError {
        let prefix = |path: String| join(context, &path);
        match self {
            SourceError::Read { path, reason } => SourceError::Read {
                path: prefix(path),
                reason,
            },
            SourceError::TooLarge { path, limit } => SourceError::TooLarge {
                path: prefix(path),
                limit,
            },
            SourceError::Outside { path } => SourceError::Outside { path: prefix(path) },
            SourceError::NotADirectory { path } => {
                SourceError::NotADirectory { path: prefix(path) }
            }
            other => other,
        }
    }
}

/// A local project directory.
pub struct ProjectDir {
    root: PathBuf,
    canonical_root: PathBuf,
    dir: Dir,
}

impl ProjectDir {
    pub fn open(root: &Path) -> Result<ProjectDir, SourceError> {
        let open_error = |e: std::io::Error| SourceError::Open {
            path: root.to_path_buf(),
            reason: e.to_string(),
        };
        let canonical_root = root.canonicalize().map_err(open_error)?;
        if !canonical_root.is_dir() {
            return Err(SourceError::Open {
                path: root.to_path_buf(),
                reason: "not a directory".into(),
            });
        }
        let dir = Dir::open_ambient_dir(&canonical_root, cap_std::ambient_authority())
            .map_err(open_error)?;
        Ok(ProjectDir {
            root: root.to_path_buf(),
            canonical_root,
            dir,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory's own name, the default app name.
    pub fn name(&self) -> String {
        self.canonical_root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "app".into())
    }

    /// The host path of a service context, refusing one that is not a
    /// directory inside the project (through `..` or a symlink).
    pub fn context_path(&self, context: &str) -> Result<PathBuf, SourceError> {
        if context.starts_with('/') || context.split('/').any(|p| p == "..") {
            return Err(SourceError::Outside {
                path: context.into(),
            });
        }
        let path = self.canonical_root.join(context);
        let canonical = path
            .canonicalize()
            .map_err(|_| SourceError::NotADirectory {
                path: context.into(),
            })?;
        if !canonical.starts_with(&self.canonical_root) {
            return Err(SourceError::Outside {
                path: context.into(),
            });
        }
        if !canonical.is_dir() {
            return Err(SourceError::NotADirectory {
                path: context.into(),
            });
        }
        Ok(canonical)
    }

    /// Whether a regular file exists at `path` (relative to the root).
    pub fn is_file(&self, path: &str) -> bool {
        self.dir.metadata(path).is_ok_and(|m| m.is_file())
    }

    /// A text file of the project, at most [`MAX_HOST_READ`] bytes; refuses
    /// paths that leave the project.
    pub fn read_text(&self, path: &str) -> Result<String, SourceError> {
        let bytes = self.read_bytes(path, MAX_HOST_READ)?;
        String::from_utf8(bytes).map_err(|_| SourceError::Read {
            path: path.into(),
            reason: "not UTF-8 text".into(),
        })
    }

    /// A regular file of the project, at most `limit` bytes. Refuses paths
    /// that leave the project (through `..` or a symlink), and FIFOs,
    /// devices and directories: only a regular file is ever opened.
    pub fn read_bytes(&self, path: &str, limit: u64) -> Result<Vec<u8>, SourceError> {
        read_capped(&self.dir, path, limit)
    }
}

/// Reads `path` under `dir` through cap-std (it never leaves `dir`), checking
/// it is a regular file before opening it (a FIFO would block the open) and
/// reading at most `limit` bytes whatever the file claims.
pub fn read_capped(dir: &Dir, path: &str, limit: u64) -> Result<Vec<u8>, SourceError> {
    let read_error = |e: std::io::Error| {
        if is_escape(&e) {
            SourceError::Outside { path: path.into() }
        } else {
            SourceError::Read {
                path: path.into(),
                reason: e.to_string(),
            }
        }
    };
    // `metadata` follows symlinks inside the tree; one leading out is refused.
    let metadata = dir.metadata(path).map_err(read_error)?;
    if !metadata.is_file() {
        return Err(SourceError::Read {
            path: path.into(),
            reason: "not a regular file".into(),
        });
    }
    if metadata.len() > limit {
        return Err(SourceError::TooLarge {
            path: path.into(),
            limit,
        });
    }
    let mut bytes = Vec::new();
    let mut file = dir.open(path).map_err(read_error)?;
    // Checked again on the open file: the path may have been swapped since.
    if !file.metadata().map_err(read_error)?.is_file() {
        return Err(SourceError::Read {
            path: path.into(),
            reason: "not a regular file".into(),
        });
    }
    (&mut file)
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > limit {
        return Err(SourceError::TooLarge {
            path: path.into(),
            limit,
        });
    }
    Ok(bytes)
}

/// cap-std reports a path leaving its directory as permission denied with
/// "a path led outside of the filesystem".
fn is_escape(error: &std::io::Error) -> bool {
    error.to_string().contains("outside")
}

/// Joins a context and a path inside it, both relative to the project root.
pub fn join(context: &str, path: &str) -> String {
    if context == "." || context.is_empty() {
        path.to_string()
    } else {
        format!("{}/{path}", context.trim_end_matches('/'))
    }
}
