//! The project being built, as a directory tree Slipway reads without ever
//! leaving it. Later sources (git push, tar upload) unpack into one of these.

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
        let read_error = |e: std::io::Error| {
            if e.to_string().contains("outside") {
                SourceError::Outside { path: path.into() }
            } else {
                SourceError::Read {
                    path: path.into(),
                    reason: e.to_string(),
                }
            }
        };
        let metadata = self.dir.metadata(path).map_err(read_error)?;
        if !metadata.is_file() {
            return Err(SourceError::Read {
                path: path.into(),
                reason: "not a regular file".into(),
            });
        }
        if metadata.len() > MAX_HOST_READ {
            return Err(SourceError::TooLarge {
                path: path.into(),
                limit: MAX_HOST_READ,
            });
        }
        let mut text = String::new();
        self.dir
            .open(path)
            .map_err(read_error)?
            .take(MAX_HOST_READ)
            .read_to_string(&mut text)
            .map_err(read_error)?;
        Ok(text)
    }
}

/// Joins a context and a path inside it, both relative to the project root.
pub fn join(context: &str, path: &str) -> String {
    if context == "." || context.is_empty() {
        path.to_string()
    } else {
        format!("{}/{path}", context.trim_end_matches('/'))
    }
}
