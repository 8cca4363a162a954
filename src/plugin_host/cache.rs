//! An on-disk cache of compiled plugins, so a CLI run does not recompile them,
//! and of their `info`, so it does not instantiate every plugin to ask.
//!
//! Entries are keyed by the component's sha256 and the engine's compatibility
//! hash (wasmtime version, target, compiler settings), and written atomically.
//! A plugin's `info` takes no input and sees no files, so it depends on the
//! component alone; its entry is also keyed by Slipway's version, because
//! the host's catalogue (which a plugin could consult) ships with it.
//!
//! Every entry is sealed: an HMAC-SHA256, under a random key kept in the
//! cache directory (`seal.key`, mode 0600), over the source component's
//! sha256, the entry's kind and its bytes. An entry copied from another
//! plugin, edited, or left half-written fails its seal and is ignored (then
//! rewritten), so a pinned plugin only ever runs code compiled from its own
//! bytes.

use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use wasmtime::component::Component;
use wasmtime::Engine;

use super::api::PluginInfo;

pub struct ComponentCache {
    dir: PathBuf,
    engine_key: String,
    /// The sealing key, read or made on first use; `None`: no cache.
    seal_key: OnceLock<Option<[u8; 32]>>,
}

const MAC_LEN: usize = 32;

impl ComponentCache {
    /// A cache in `dir`, created when first written.
    pub fn new(engine: &Engine, dir: PathBuf) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
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
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key()?).ok()?;
        mac.update(sha256.as_bytes());
        mac.update(b"\0");
        mac.update(kind.as_bytes());
        mac.update(b"\0");
        mac.update(payload);
        Some(mac.finalize().into_bytes().into())
    }

    /// The payload of a sealed entry, if its seal holds.
    fn unseal<'a>(&self, sha256: &str, kind: &str, entry: &'a [u8]) -> Option<&'a [u8]> {
        if entry.len() < MAC_LEN {
            return None;
        }
        let (mac, payload) = entry.split_at(MAC_LEN);
        let mut check = Hmac::<Sha256>::new_from_slice(self.key()?).ok()?;
        check.update(sha256.as_bytes());
        check.update(b"\0");
        check.update(kind.as_bytes());
        check.update(b"\0");
        check.update(payload);
        // Constant-time comparison.
        check.verify_slice(mac).ok()?;
        Some(payload)
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
        if let Ok(sealed) = fs::read(&entry) {
            match self.unseal(sha256, "component", &sealed) {
                // SAFETY: the seal proves this process's cache wrote these
                // bytes from `Component::serialize` of a component compiled
                // from the component whose sha256 is `sha256`, under this
                // engine configuration (the name includes its compatibility
                // hash). wasmtime still checks its header and compatibility.
                Some(artifact) => match unsafe { Component::deserialize(engine, artifact) } {
                    Ok(component) => return Ok(component),
                    Err(e) => {
                        tracing::warn!("ignoring unusable cached plugin {}: {e}", entry.display())
                    }
                },
                None => tracing::warn!(
                    "ignoring cached plugin {}: its seal does not match (edited, or another plugin's)",
                    entry.display()
                ),
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = self.store(&entry, sha256, &component) {
            tracing::debug!("cannot cache compiled plugin at {}: {e}", entry.display());
        }
        Ok(component)
    }

    fn store(&self, entry: &Path, sha256: &str, component: &Component) -> anyhow::Result<()> {
        let serialized = component.serialize().map_err(|e| anyhow::anyhow!("{e}"))?;
        self.write_sealed(entry, sha256, "component", &serialized)
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
