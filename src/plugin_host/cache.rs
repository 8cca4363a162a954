//! An on-disk cache of compiled plugins, so a CLI run does not recompile them.
//!
//! Entries are keyed by the component's sha256 and the engine's compatibility
//! hash (wasmtime version, target, compiler settings), and written atomically.

use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::component::Component;
use wasmtime::Engine;

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
        fs::create_dir_all(&self.dir)?;
        let serialized = component.serialize().map_err(|e| anyhow::anyhow!("{e}"))?;
        let partial = entry.with_extension(format!("partial-{}", std::process::id()));
        fs::write(&partial, serialized)?;
        fs::rename(&partial, entry)?;
        Ok(())
    }
}
