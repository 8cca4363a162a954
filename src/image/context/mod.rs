//! The build context: a service's directory streamed to the engine as tar.
//!
//! A blocking walker writes tar into a bounded channel of 64 KiB chunks, and
//! the HTTP request body reads from it, so memory stays at a few chunks
//! however large the context is. `.dockerignore` applies with Docker's
//! semantics; `.git`, `.balena` and `.resin` never go; `Dockerfile`,
//! `Dockerfile.*` and `.dockerignore` always go. Symlinks are sent as
//! symlinks, never followed. The resolved Dockerfile is added under
//! [`DOCKERFILE_NAME`], so generated and templated ones build the same way.

pub mod dockerignore;

use std::fs::{self, File, Metadata};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tar::{EntryType, Header, HeaderMode};
use tokio::sync::mpsc;

use dockerignore::{Dockerignore, PatternError};

/// Where the resolved Dockerfile sits in the streamed context.
pub const DOCKERFILE_NAME: &str = ".slipway.Dockerfile";
const IGNORE_FILE: &str = ".dockerignore";
const NEVER_SENT: [&str; 3] = [".git", ".balena", ".resin"];
const CHUNK: usize = 64 * 1024;
const CHUNKS_IN_FLIGHT: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error(transparent)]
    Pattern(#[from] PatternError),
    #[error("build context {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the engine stopped reading the build context")]
    Closed,
}

/// What was sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContextStats {
    pub files: u64,
    /// Bytes of tar, as the engine received them.
    pub bytes: u64,
}

/// A context ready to stream: its rules are read and valid.
pub struct BuildContext {
    root: PathBuf,
    ignore: Dockerignore,
    dockerfile: String,
}

impl BuildContext {
    /// Reads `root/.dockerignore`; `display_root` names the context in errors.
    pub fn prepare(
        root: &Path,
        display_root: &str,
        dockerfile: String,
    ) -> Result<BuildContext, ContextError> {
        let ignore_path = root.join(IGNORE_FILE);
        let ignore = match fs::read_to_string(&ignore_path) {
            Ok(text) => Dockerignore::parse(&join(display_root, IGNORE_FILE), &text)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Dockerignore::default(),
            Err(source) => {
                return Err(ContextError::Io {
                    path: ignore_path,
                    source,
                })
            }
        };
        Ok(BuildContext {
            root: root.to_path_buf(),
            ignore,
            dockerfile,
        })
    }

    /// Starts streaming. The receiver yields tar chunks; the handle yields the
    /// totals once the whole context was written.
    pub fn stream(
        self,
    ) -> (
        mpsc::Receiver<io::Result<Bytes>>,
        tokio::task::JoinHandle<Result<ContextStats, ContextError>>,
    ) {
        let (sender, receiver) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let handle = tokio::task::spawn_blocking(move || {
            let writer = ChannelWriter::new(sender.clone());
            let result = self.write_tar(writer);
            if let Err(e) = &result {
                // The request body ends with the error, so the engine never
                // builds from half a context.
                let _ = sender.blocking_send(Err(io::Error::other(e.to_string())));
            }
            result
        });
        (receiver, handle)
    }

    fn write_tar(&self, writer: ChannelWriter) -> Result<ContextStats, ContextError> {
        let mut tar = tar::Builder::new(writer);
        let mut files = 0u64;
        self.walk(&mut tar, &self.root, "", &mut files)?;
        let mut header = Header::new_gnu();
        header.set_entry_type(EntryType::Regular);
        header.set_size(self.dockerfile.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        tar.append_data(&mut header, DOCKERFILE_NAME, self.dockerfile.as_bytes())
            .map_err(|e| self.io_error(&self.root, e))?;
        files += 1;
        let mut writer = tar.into_inner().map_err(|e| self.io_error(&self.root, e))?;
        writer.flush().map_err(|e| self.io_error(&self.root, e))?;
        Ok(ContextStats {
            files,
            bytes: writer.written,
        })
    }

    fn walk(
        &self,
        tar: &mut tar::Builder<ChannelWriter>,
        dir: &Path,
        relative_dir: &str,
        files: &mut u64,
    ) -> Result<(), ContextError> {
        let mut entries: Vec<(String, PathBuf)> = fs::read_dir(dir)
            .map_err(|e| self.io_error(dir, e))?
            .map(|entry| {
                entry
                    .map(|entry| {
                        (
                            entry.file_name().to_string_lossy().into_owned(),
                            entry.path(),
                        )
                    })
                    .map_err(|e| self.io_error(dir, e))
            })
            .collect::<Result<_, _>>()?;
        entries.sort();
        for (name, path) in entries {
            let relative = join(relative_dir, &name);
            let at_root = relative_dir.is_empty();
            if at_root && (NEVER_SENT.contains(&name.as_str()) || name == DOCKERFILE_NAME) {
                continue;
            }
            let always_sent = at_root
                && (name == "Dockerfile" || name.starts_with("Dockerfile.") || name == IGNORE_FILE);
            let excluded = !always_sent && self.ignore.excludes(&relative);
            let meta = fs::symlink_metadata(&path).map_err(|e| self.io_error(&path, e))?;
            if meta.is_dir() {
                if excluded && !self.ignore.may_reinclude_inside() {
                    continue;
                }
                if !excluded {
                    self.append(tar, &path, &relative, &meta)?;
                }
                self.walk(tar, &path, &relative, files)?;
            } else if !excluded && (meta.is_file() || meta.file_type().is_symlink()) {
                self.append(tar, &path, &relative, &meta)?;
                *files += 1;
            }
        }
        Ok(())
    }

    fn append(
        &self,
        tar: &mut tar::Builder<ChannelWriter>,
        path: &Path,
        relative: &str,
        meta: &Metadata,
    ) -> Result<(), ContextError> {
        let mut header = Header::new_gnu();
        header.set_metadata_in_mode(meta, HeaderMode::Complete);
        // Like the docker CLI: owned by root, whoever owns the files here.
        header.set_uid(0);
        header.set_gid(0);
        let _ = header.set_username("");
        let _ = header.set_groupname("");
        let result = if meta.file_type().is_symlink() {
            let target = fs::read_link(path).map_err(|e| self.io_error(path, e))?;
            header.set_size(0);
            tar.append_link(&mut header, relative, target)
        } else if meta.is_dir() {
            header.set_size(0);
            tar.append_data(&mut header, format!("{relative}/"), io::empty())
        } else {
            let file = File::open(path).map_err(|e| self.io_error(path, e))?;
            tar.append_data(&mut header, relative, file)
        };
        result.map_err(|e| self.io_error(path, e))
    }

    fn io_error(&self, path: &Path, source: io::Error) -> ContextError {
        if source.kind() == io::ErrorKind::BrokenPipe {
            return ContextError::Closed;
        }
        ContextError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() || dir == "." {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// An `io::Write` that hands fixed-size chunks to the async side.
struct ChannelWriter {
    sender: mpsc::Sender<io::Result<Bytes>>,
    buffer: Vec<u8>,
    written: u64,
}

impl ChannelWriter {
    fn new(sender: mpsc::Sender<io::Result<Bytes>>) -> ChannelWriter {
        ChannelWriter {
            sender,
            buffer: Vec::with_capacity(CHUNK),
            written: 0,
        }
    }

    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.written += chunk.len() as u64;
        self.sender
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buffer.len();
        let taken = room.min(data.len());
        self.buffer.extend_from_slice(&data[..taken]);
        if self.buffer.len() == CHUNK {
            self.send_buffer()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffer()
    }
}
