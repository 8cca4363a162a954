//! The build context: a service's directory streamed to the engine as tar.
//!
//! A blocking walker writes tar into a bounded channel of 64 KiB chunks, and
//! the HTTP request body reads from it, so memory stays at a few chunks
//! however large the context is. `.dockerignore` applies with Docker's
//! semantics; `.git`, `.balena` and `.resin` never go; `Dockerfile`,
//! `Dockerfile.*` and `.dockerignore` always go. Symlinks are sent as
//! symlinks, never followed. The resolved Dockerfile is added under
//! [`DOCKERFILE_NAME`], so generated and templated ones build the same way.
//!
//! The project is not trusted: `.dockerignore` is read like every other
//! project file (never through a link leading out, only if it is a regular
//! file, at most 1 MiB); FIFOs, sockets and devices are skipped everywhere
//! (opening a FIFO blocks forever, a device never ends); the walk keeps its
//! own stack (no recursion to overflow) and refuses trees deeper than
//! [`MAX_DEPTH`]; names are sent byte for byte, UTF-8 or not.

pub mod dockerignore;

use std::ffi::OsString;
use std::fs::{self, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tar::{EntryType, Header, HeaderMode};
use tokio::sync::mpsc;

use dockerignore::{Dockerignore, PatternError};

/// Where the resolved Dockerfile sits in the streamed context.
pub const DOCKERFILE_NAME: &str = ".slipway.Dockerfile";
const IGNORE_FILE: &str = ".dockerignore";
const NEVER_SENT: [&str; 3] = [".git", ".balena", ".resin"];
/// The largest `.dockerignore` read.
pub const MAX_IGNORE_FILE: u64 = 1 << 20;
/// How deep the context's directories may nest.
pub const MAX_DEPTH: usize = 1024;
const CHUNK: usize = 64 * 1024;
const CHUNKS_IN_FLIGHT: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error(transparent)]
    Pattern(#[from] PatternError),
    #[error("build context {context}: {source}")]
    IgnoreFile {
        context: String,
        #[source]
        source: crate::source::SourceError,
    },
    #[error("build context: `{path}` is more than {MAX_DEPTH} directories deep")]
    TooDeep { path: String },
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
    /// `None`: a whole project for upload (`slipway push`): no Dockerfile
    /// added, `.balena` kept (its balena.yml and secrets drive the build).
    dockerfile: Option<String>,
}

impl BuildContext {
    /// Reads `root/.dockerignore`; `display_root` names the context in errors.
    pub fn prepare(
        root: &Path,
        display_root: &str,
        dockerfile: String,
    ) -> Result<BuildContext, ContextError> {
        let ignore_error = |source| ContextError::IgnoreFile {
            context: display_root.to_string(),
            source,
        };
        let dir = cap_std::fs::Dir::open_ambient_dir(root, cap_std::ambient_authority()).map_err(
            |source| ContextError::Io {
                path: root.to_path_buf(),
                source,
            },
        )?;
        let ignore = match dir.symlink_metadata(IGNORE_FILE) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Dockerignore::default(),
            _ => {
                let bytes = crate::source::read_capped(&dir, IGNORE_FILE, MAX_IGNORE_FILE)
                    .map_err(|e| ignore_error(e.within(display_root)))?;
                let text = String::from_utf8_lossy(&bytes);
                Dockerignore::parse(&join(display_root, IGNORE_FILE), &text)?
            }
        };
        Ok(BuildContext {
            root: root.to_path_buf(),
            ignore,
            dockerfile: Some(dockerfile),
        })
    }

    /// A whole project as `slipway push` uploads it: `.dockerignore`
    /// applied, `.git` left out, nothing added.
    pub fn project_upload(root: &Path, display_root: &str) -> Result<BuildContext, ContextError> {
        let mut context = BuildContext::prepare(root, display_root, String::new())?;
        context.dockerfile = None;
        Ok(context)
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
        let files = self.walk(&mut tar)?;
        let Some(dockerfile) = &self.dockerfile else {
            let mut writer = tar.into_inner().map_err(|e| self.io_error(&self.root, e))?;
            writer.flush().map_err(|e| self.io_error(&self.root, e))?;
            return Ok(ContextStats {
                files,
                bytes: writer.written,
            });
        };
        let mut header = Header::new_gnu();
        header.set_entry_type(EntryType::Regular);
        header.set_size(dockerfile.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        tar.append_data(&mut header, DOCKERFILE_NAME, dockerfile.as_bytes())
            .map_err(|e| self.io_error(&self.root, e))?;
        let mut writer = tar.into_inner().map_err(|e| self.io_error(&self.root, e))?;
        writer.flush().map_err(|e| self.io_error(&self.root, e))?;
        Ok(ContextStats {
            files: files + 1,
            bytes: writer.written,
        })
    }

    /// Depth first, in byte order of names, with an explicit stack.
    fn walk(&self, tar: &mut tar::Builder<ChannelWriter>) -> Result<u64, ContextError> {
        struct Frame {
            dir: PathBuf,
            relative: PathBuf,
            names: std::vec::IntoIter<OsString>,
        }
        let mut files = 0u64;
        let mut stack = vec![Frame {
            dir: self.root.clone(),
            relative: PathBuf::new(),
            names: self.sorted_names(&self.root)?.into_iter(),
        }];
        while let Some(frame) = stack.last_mut() {
            let Some(name) = frame.names.next() else {
                stack.pop();
                continue;
            };
            let at_root = frame.relative.as_os_str().is_empty();
            let path = frame.dir.join(&name);
            let relative = frame.relative.join(&name);
            let never_sent = match self.dockerfile {
                Some(_) => NEVER_SENT.iter().any(|n| name == *n) || name == DOCKERFILE_NAME,
                None => name == ".git",
            };
            if at_root && never_sent {
                continue;
            }
            let always_sent = at_root
                && (name == "Dockerfile"
                    || name.as_encoded_bytes().starts_with(b"Dockerfile.")
                    || name == IGNORE_FILE);
            let excluded = !always_sent && self.ignore.excludes(&relative);
            let meta = match fs::symlink_metadata(&path) {
                Ok(meta) => meta,
                // Removed while the walk ran: nothing to send.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(self.io_error(&path, e)),
            };
            let kind = meta.file_type();
            if kind.is_fifo() || kind.is_socket() || kind.is_block_device() || kind.is_char_device()
            {
                tracing::debug!(path = %relative.display(), "special file left out of the context");
                continue;
            }
            if meta.is_dir() {
                if excluded && !self.ignore.may_reinclude_inside() {
                    continue;
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(ContextError::TooDeep {
                        path: shorten(&relative),
                    });
                }
                if !excluded {
                    self.append(tar, &path, &relative, &meta)?;
                }
                let names = self.sorted_names(&path)?;
                stack.push(Frame {
                    dir: path,
                    relative,
                    names: names.into_iter(),
                });
            } else if !excluded {
                self.append(tar, &path, &relative, &meta)?;
                files += 1;
            }
        }
        Ok(files)
    }

    fn sorted_names(&self, dir: &Path) -> Result<Vec<OsString>, ContextError> {
        let mut names: Vec<OsString> = fs::read_dir(dir)
            .map_err(|e| self.io_error(dir, e))?
            .map(|entry| {
                entry
                    .map(|entry| entry.file_name())
                    .map_err(|e| self.io_error(dir, e))
            })
            .collect::<Result<_, _>>()?;
        names.sort();
        Ok(names)
    }

    fn append(
        &self,
        tar: &mut tar::Builder<ChannelWriter>,
        path: &Path,
        relative: &Path,
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
            tar.append_data(&mut header, relative, io::empty())
        } else {
            // Non-blocking: a file swapped for a FIFO since it was looked at
            // must not hang the open; it is checked again once open.
            let file = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path)
                .map_err(|e| self.io_error(path, e))?;
            let opened = file.metadata().map_err(|e| self.io_error(path, e))?;
            if !opened.is_file() {
                return Ok(());
            }
            // Exactly the size in the header, even if the file grows meanwhile.
            tar.append_data(&mut header, relative, file.take(meta.len()))
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

/// A deep path for a message: its start and its end.
fn shorten(path: &Path) -> String {
    let text = path.to_string_lossy();
    if text.len() <= 120 {
        return text.into_owned();
    }
    let mut start = 60;
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = text.len() - 50;
    while !text.is_char_boundary(end) {
        end += 1;
    }
    format!("{}...{}", &text[..start], &text[end..])
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
