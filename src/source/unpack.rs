//! Writing a project tree from an untrusted archive or repository into a
//! fresh directory, without trusting a single path in it.
//!
//! Every path is checked lexically (relative, no `..`, no `.git`), every
//! write goes through a capability handle on the destination (the kernel
//! refuses anything that would resolve outside it), symlinks may only point
//! inside the tree, and sizes and counts are capped.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use cap_std::fs::{Dir, OpenOptions, Permissions};

/// What an archive or commit may hold.
#[derive(Debug, Clone, Copy)]
pub struct UnpackLimits {
    /// Entries (files, directories, links).
    pub max_entries: u64,
    /// Bytes once unpacked.
    pub max_bytes: u64,
    /// Unpacked bytes per packed byte, past `ratio_floor` (a bomb's tell).
    pub max_ratio: u64,
    /// Below this many unpacked bytes the ratio is not checked: small text
    /// compresses very well.
    pub ratio_floor: u64,
}

impl Default for UnpackLimits {
    fn default() -> UnpackLimits {
        UnpackLimits {
            max_entries: 100_000,
            max_bytes: 4 << 30,
            max_ratio: 200,
            ratio_floor: 64 << 20,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("entry `{entry}`: {reason}")]
    Entry { entry: String, reason: String },
    #[error("the archive has more than {limit} entries")]
    TooManyEntries { limit: u64 },
    #[error("entry `{entry}`: the archive unpacks to more than {limit} bytes")]
    TooLarge { entry: String, limit: u64 },
    #[error("entry `{entry}`: the archive unpacks to over {ratio} times its size (a decompression bomb?)")]
    Ratio { entry: String, ratio: u64 },
    #[error("reading the archive: {0}")]
    Read(#[source] std::io::Error),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl UnpackError {
    fn entry(entry: &str, reason: impl Into<String>) -> UnpackError {
        UnpackError::Entry {
            entry: printable(entry),
            reason: reason.into(),
        }
    }
}

/// A path as people should see it: control characters escaped, length capped.
pub fn printable(path: &str) -> String {
    path.chars()
        .take(300)
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// A checked relative path: its normal components, joined with `/`.
pub fn clean_path(raw: &str) -> Result<Option<PathBuf>, UnpackError> {
    if raw.contains('\0') {
        return Err(UnpackError::entry(raw, "a NUL byte in the name"));
    }
    let mut clean = PathBuf::new();
    for component in Path::new(raw).components() {
        match component {
            Component::Normal(part) => {
                if part == ".git" {
                    return Err(UnpackError::entry(raw, "`.git` is not part of a project"));
                }
                clean.push(part);
            }
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(UnpackError::entry(raw, "`..` leads outside the project"))
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(UnpackError::entry(raw, "an absolute path"))
            }
        }
    }
    Ok((!clean.as_os_str().is_empty()).then_some(clean))
}

/// Whether a symlink at `at` pointing to `target` stays inside the tree.
pub fn link_stays_inside(at: &Path, target: &str) -> bool {
    if target.is_empty() || target.starts_with('/') || target.contains('\0') {
        return false;
    }
    let mut depth: i64 = at.components().count() as i64 - 1;
    for component in Path::new(target).components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => return false,
        }
    }
    true
}

/// Counts what is written and enforces the limits.
pub struct Budget {
    limits: UnpackLimits,
    entries: u64,
    bytes: u64,
}

impl Budget {
    pub fn new(limits: UnpackLimits) -> Budget {
        Budget {
            limits,
            entries: 0,
            bytes: 0,
        }
    }

    pub fn entry(&mut self) -> Result<(), UnpackError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(UnpackError::TooManyEntries {
                limit: self.limits.max_entries,
            });
        }
        Ok(())
    }

    /// Adds `bytes`; `packed` is how much of the input was read so far.
    pub fn bytes(&mut self, entry: &str, bytes: u64, packed: u64) -> Result<(), UnpackError> {
        self.bytes += bytes;
        if self.bytes > self.limits.max_bytes {
            return Err(UnpackError::TooLarge {
                entry: printable(entry),
                limit: self.limits.max_bytes,
            });
        }
        if self.bytes > self.limits.ratio_floor
            && self.bytes / packed.max(1) > self.limits.max_ratio
        {
            return Err(UnpackError::Ratio {
                entry: printable(entry),
                ratio: self.limits.max_ratio,
            });
        }
        Ok(())
    }

    pub fn total_bytes(&self) -> u64 {
        self.bytes
    }
}

/// The destination of an unpack: a directory handle nothing escapes.
pub struct Destination {
    root: PathBuf,
    dir: Dir,
}

impl Destination {
    /// Creates `root` (which must not exist yet) and opens it.
    pub fn create(root: &Path) -> Result<Destination, UnpackError> {
        let write_error = |source| UnpackError::Write {
            path: root.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(root.parent().unwrap_or(Path::new("/"))).map_err(write_error)?;
        std::fs::create_dir(root).map_err(write_error)?;
        let dir = Dir::open_ambient_dir(root, cap_std::ambient_authority()).map_err(write_error)?;
        Ok(Destination {
            root: root.to_path_buf(),
            dir,
        })
    }

    fn error(&self, path: &Path, source: std::io::Error) -> UnpackError {
        UnpackError::Write {
            path: self.root.join(path),
            source,
        }
    }

    pub fn dir(&mut self, path: &Path) -> Result<(), UnpackError> {
        self.dir
            .create_dir_all(path)
            .map_err(|e| self.error(path, e))
    }

    fn parent(&mut self, path: &Path) -> Result<(), UnpackError> {
        match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => self.dir(parent),
            _ => Ok(()),
        }
    }

    /// Writes a file from `content`, counting its bytes against `budget`.
    pub fn file(
        &mut self,
        path: &Path,
        display: &str,
        executable: bool,
        content: &mut dyn Read,
        budget: &mut Budget,
        packed: &dyn Fn() -> u64,
    ) -> Result<(), UnpackError> {
        self.parent(path)?;
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        let mut file = self.dir.open_with(path, &options).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                UnpackError::entry(display, "appears twice")
            } else {
                self.error(path, e)
            }
        })?;
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = content.read(&mut buffer).map_err(UnpackError::Read)?;
            if read == 0 {
                break;
            }
            budget.bytes(display, read as u64, packed())?;
            std::io::Write::write_all(&mut file, &buffer[..read])
                .map_err(|e| self.error(path, e))?;
        }
        if executable {
            use cap_std::fs::PermissionsExt;
            file.set_permissions(Permissions::from_mode(0o755))
                .map_err(|e| self.error(path, e))?;
        }
        Ok(())
    }

    /// A symlink that must stay inside the tree.
    pub fn symlink(&mut self, path: &Path, display: &str, target: &str) -> Result<(), UnpackError> {
        if !link_stays_inside(path, target) {
            return Err(UnpackError::entry(
                display,
                format!("a link to `{}`, outside the project", printable(target)),
            ));
        }
        self.parent(path)?;
        self.dir
            .symlink(target, path)
            .map_err(|e| self.error(path, e))
    }

    /// A hard link to a file written earlier.
    pub fn hard_link(
        &mut self,
        path: &Path,
        display: &str,
        target: &Path,
    ) -> Result<(), UnpackError> {
        self.parent(path)?;
        let metadata = self.dir.symlink_metadata(target).map_err(|_| {
            UnpackError::entry(
                display,
                "a hard link to a file not in the archive before it",
            )
        })?;
        if !metadata.is_file() {
            return Err(UnpackError::entry(
                display,
                "a hard link to something other than a file",
            ));
        }
        self.dir
            .hard_link(target, &self.dir, path)
            .map_err(|e| self.error(path, e))
    }
}
