//! An on-disk cache of compiled plugins, so a CLI run does not recompile them,
//! and of their `info`, so it does not instantiate every plugin to ask.
//!
//! Entries are keyed by the component's sha256 and the engine's compatibility
//! hash (wasmtime version, target, compiler settings), and written atomically.
//! A plugin's `info` takes no input and sees no files, so it depends on the
//! component alone; its entry is also keyed by Slipway's version, because
//! the host's catalogue (which a plugin could consult) ships with it.

use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::component::Component;
use wasmtime::Engine;

use super::api::PluginInfo;

pub struct ComponentCache {
    dir: PathBuf,
    engine_key: String,
}

impl ComponentCache {
    /// A cache in `dir`, created when first written.
    pub fn new(engine: &Engine, dir: PathBuf) -> Self {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        ComponentCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        }
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
        let text = fs::read(self.info_entry(sha256)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Remembers a component's `info`; failures only cost a call next time.
    pub fn store_info(&self, sha256: &str, info: &PluginInfo) {
        let entry = self.info_entry(sha256);
        let written = serde_json::to_vec(info)
            .map_err(anyhow::Error::from)
            .and_then(|json| write_atomically(&self.dir, &entry, &json));
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
        if entry.is_file() {
            // SAFETY: the file was written by `store` below from
            // `Component::serialize` of this engine configuration (the key
            // includes its compatibility hash) and renamed into place
            // atomically, so it is a complete artifact wasmtime produced.
            // wasmtime still checks its header and compatibility.
            match unsafe { Component::deserialize_file(engine, &entry) } {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!("ignoring unusable cached plugin {}: {e}", entry.display())
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = self.store(&entry, &component) {
            tracing::debug!("cannot cache compiled plugin at {}: {e}", entry.display());
        }
        Ok(component)
    }

    fn store(&self, entry: &Path, component: &Component) -> anyhow::Result<()> {
        let serialized = component.serialize().map_err(|e| anyhow::anyhow!("{e}"))?;
        write_atomically(&self.dir, entry, &serialized)
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
