//! An on-disk cache of compiled plugins, so a CLI run does not recompile them,
//! and of their `info`, so it does not instantiate every plugin to ask.
//!
//! Entries are keyed by the component's sha256 and the engine's compatibility
//! hash (wasmtime version, target, compiler settings), and written atomically.
//! A plugin's `info` takes no input and sees no files, so it depends on the
//! component alone; its entry is also keyed by Slipway's version, because
//! the host's catalogue (which a plugin could consult) ships with it.
//!
//! Every entry is sealed: a keyed BLAKE3 hash (a MAC; BLAKE3 rather than
//! HMAC-SHA256 because the whole compiled component is checked at every
//! load, and BLAKE3 reads it about three times faster), under a random key
//! kept in the cache directory (`seal.key`, mode 0600), over the source
//! component's sha256, the entry's kind and its bytes (beside a compiled component in
//! `<entry>.seal`, so the component itself can be mapped, not copied; in
//! front of an info entry). An entry copied from another
//! plugin, edited, or left half-written fails its seal and is ignored (then
//! rewritten), so a pinned plugin only ever runs code compiled from its own
//! bytes.

use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use wasmtime::component::Component;
use wasmtime::Engine;

use super::api::PluginInfo;

pub struct ComponentCache {
    dir: PathBuf,
    engine_key: String,
    /// The sealing key, read or made on first use; `None`: no cache.
    seal_key: OnceLock<Option<[u8; 32]>>,
}

const MAC_LEN: usize = blake3::OUT_LEN;

/// How entries are sealed; part of every entry's name, so entries sealed
/// another way (HMAC-SHA256, before) are not read, only replaced.
const SEAL_SCHEME: &str = "blake3-keyed";

impl ComponentCache {
    /// A cache in `dir`, created when first written.
    pub fn new(engine: &Engine, dir: PathBuf) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        SEAL_SCHEME.hash(&mut hasher);
        ComponentCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
            seal_key: OnceLock::new(),
        }
    }

    fn key(&self) -> Option<&[u8; 32]> {
        self.seal_key
            .get_or_init(|| match read_or_make_key(&self.dir) {
                Ok(key) => Some(key),
                Err(e) => {
                    tracing::debug!(
                        "plugin cache disabled: no seal key in {}: {e}",
                        self.dir.display()
                    );
                    None
                }
            })
            .as_ref()
    }

    fn seal(&self, sha256: &str, kind: &str, payload: &[u8]) -> Option<[u8; MAC_LEN]> {
        Some(mac(self.key()?, sha256, kind, payload).into())
    }

    /// The payload of a sealed entry (seal, then payload), if its seal holds.
    fn unseal<'a>(&self, sha256: &str, kind: &str, entry: &'a [u8]) -> Option<&'a [u8]> {
        if entry.len() < MAC_LEN {
            return None;
        }
        let (mac, payload) = entry.split_at(MAC_LEN);
        self.verify(sha256, kind, payload, mac).then_some(payload)
    }

    /// Whether `seal` seals `payload` of `kind` for the component `sha256`.
    fn verify(&self, sha256: &str, kind: &str, payload: &[u8], seal: &[u8]) -> bool {
        let Some(key) = self.key() else {
            return false;
        };
        let Ok(seal) = <[u8; MAC_LEN]>::try_from(seal) else {
            return false;
        };
        // `blake3::Hash` compares in constant time.
        mac(key, sha256, kind, payload) == blake3::Hash::from_bytes(seal)
    }

    fn write_sealed(
        &self,
        entry: &Path,
        sha256: &str,
        kind: &str,
        payload: &[u8],
    ) -> anyhow::Result<()> {
        let mac = self
            .seal(sha256, kind, payload)
            .ok_or_else(|| anyhow::anyhow!("no seal key"))?;
        let mut bytes = Vec::with_capacity(MAC_LEN + payload.len());
        bytes.extend_from_slice(&mac);
        bytes.extend_from_slice(payload);
        write_atomically(&self.dir, entry, &bytes)
    }

    /// `$SLIPWAY_CACHE_DIR`, else `$XDG_CACHE_HOME/slipway`, else `~/.cache/slipway`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("SLIPWAY_CACHE_DIR") {
            return Some(PathBuf::from(dir).join("components"));
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
        Some(base.join("slipway").join("components"))
    }

    fn entry(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    fn info_entry(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!(
            "{sha256}-{}-{}.info.json",
            self.engine_key,
            env!("CARGO_PKG_VERSION")
        ))
    }

    /// The `info` a component answered before, if it is cached.
    pub fn info(&self, sha256: &str) -> Option<PluginInfo> {
        let entry = fs::read(self.info_entry(sha256)).ok()?;
        let payload = self.unseal(sha256, "info", &entry)?;
        serde_json::from_slice(payload).ok()
    }

    /// Remembers a component's `info`; failures only cost a call next time.
    pub fn store_info(&self, sha256: &str, info: &PluginInfo) {
        let entry = self.info_entry(sha256);
        let written = serde_json::to_vec(info)
            .map_err(anyhow::Error::from)
            .and_then(|json| self.write_sealed(&entry, sha256, "info", &json));
        if let Err(e) = written {
            tracing::debug!("cannot cache plugin info at {}: {e}", entry.display());
        }
    }

    /// The compiled component for `bytes`, from the cache or freshly compiled
    /// (and then stored). Cache problems never fail the load: they are logged
    /// and the component is compiled in memory.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        sha256: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<Component> {
        let entry = self.entry(sha256);
        if let Ok(file) = fs::File::open(&entry) {
            match self.load_sealed(engine, sha256, &file) {
                Ok(Some(component)) => return Ok(component),
                Ok(None) => tracing::warn!(
                    "ignoring cached plugin {}: its seal does not match (edited, or another plugin's)",
                    entry.display()
                ),
                Err(e) => {
                    tracing::warn!("ignoring unusable cached plugin {}: {e}", entry.display())
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = self.store(&entry, sha256, &component) {
            tracing::debug!("cannot cache compiled plugin at {}: {e}", entry.display());
        }
        Ok(component)
    }

    /// Checks an open entry's seal and loads it. Both happen on the same
    /// open file (wasmtime maps it through `/proc/self/fd`), so renaming
    /// another file into place after the check changes nothing; the check
    /// reads a read-only mapping of the file, so nothing is copied.
    fn load_sealed(
        &self,
        engine: &Engine,
        sha256: &str,
        file: &fs::File,
    ) -> anyhow::Result<Option<Component>> {
        let Ok(seal) = fs::read(self.entry(sha256).with_extension("seal")) else {
            return Ok(None);
        };
        let mapping = ReadOnlyMap::new(file)?;
        if !self.verify(sha256, "component", mapping.bytes(), &seal) {
            return Ok(None);
        }
        drop(mapping);
        let fd_path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(file));
        // SAFETY: the seal proves this process's cache wrote this file from
        // `Component::serialize` of a component compiled from the component
        // whose sha256 is `sha256`, under this engine configuration (the
        // name includes its compatibility hash), and wasmtime maps the same
        // open file. wasmtime still checks its header and compatibility.
        let component = unsafe { Component::deserialize_file(engine, &fd_path) }
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Some(component))
    }

    /// A compiled component is stored as wasmtime wrote it (so it can be
    /// mapped, not copied, when loaded) with its seal beside it (`.seal`).
    fn store(&self, entry: &Path, sha256: &str, component: &Component) -> anyhow::Result<()> {
        let serialized = component.serialize().map_err(|e| anyhow::anyhow!("{e}"))?;
        let mac = self
            .seal(sha256, "component", &serialized)
            .ok_or_else(|| anyhow::anyhow!("no seal key"))?;
        write_atomically(&self.dir, entry, &serialized)?;
        write_atomically(&self.dir, &entry.with_extension("seal"), &mac)
    }
}

/// Writes `bytes` to `entry` through a temporary file and a rename, so a
/// reader never sees half an entry.
fn write_atomically(dir: &Path, entry: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    fs::create_dir_all(dir)?;
    let partial = entry.with_extension(format!("partial-{}", std::process::id()));
    fs::write(&partial, bytes)?;
    fs::rename(&partial, entry)?;
    Ok(())
}

/// The MAC of an entry: the component's sha256 and the entry's kind (each
/// NUL-terminated, so no two inputs run together), then its bytes.
fn mac(key: &[u8; 32], sha256: &str, kind: &str, payload: &[u8]) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new_keyed(key);
    hasher.update(sha256.as_bytes());
    hasher.update(b"\0");
    hasher.update(kind.as_bytes());
    hasher.update(b"\0");
    hasher.update(payload);
    hasher.finalize()
}

/// The cache's sealing key: 32 random bytes in `dir/seal.key`, readable by
/// its owner only; made once (the first writer wins a race).
fn read_or_make_key(dir: &Path) -> std::io::Result<[u8; 32]> {
    let path = dir.join("seal.key");
    let read = |path: &Path| -> std::io::Result<[u8; 32]> {
        let bytes = fs::read(path)?;
        bytes
            .try_into()
            .map_err(|_| std::io::Error::other("seal.key is not 32 bytes"))
    };
    match read(&path) {
        Ok(key) => return Ok(key),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    fs::create_dir_all(dir)?;
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(mut file) => {
            file.write_all(&key)?;
            file.sync_all()?;
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(&path),
        Err(e) => Err(e),
    }
}

/// A read-only private mapping of a whole file.
struct ReadOnlyMap {
    pointer: *mut libc::c_void,
    length: usize,
}

impl ReadOnlyMap {
    fn new(file: &fs::File) -> std::io::Result<ReadOnlyMap> {
        let length = file.metadata()?.len() as usize;
        if length == 0 {
            return Ok(ReadOnlyMap {
                pointer: std::ptr::null_mut(),
                length: 0,
            });
        }
        // SAFETY: a fresh read-only private mapping of an open file; it is
        // only read through `bytes` and unmapped in `drop`.
        let pointer = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                length,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                std::os::fd::AsRawFd::as_raw_fd(file),
                0,
            )
        };
        if pointer == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(ReadOnlyMap { pointer, length })
    }

    fn bytes(&self) -> &[u8] {
        if self.length == 0 {
            return &[];
        }
        // SAFETY: `pointer` maps `length` readable bytes until `drop`.
        unsafe { std::slice::from_raw_parts(self.pointer as *const u8, self.length) }
    }
}

impl Drop for ReadOnlyMap {
    fn drop(&mut self) {
        if self.length > 0 {
            // SAFETY: unmaps exactly the mapping made in `new`.
            unsafe {
                libc::munmap(self.pointer, self.length);
            }
        }
    }
}
