//! The sandboxed WebAssembly plugin host.
//!
//! Plugins are components targeting `wit/` (the `detector` world, contract
//! 0.2 or the frozen 0.1; see `contract`). They get
//! no WASI: only a read-only view of one directory (cap-std), a capped log
//! and the base-image catalogue. Every call runs in a fresh store made from
//! a pre-linked `InstancePre`, under an epoch deadline, a memory cap, a read
//! budget and an output cap. Compiled components are cached on disk.

pub mod api;
mod builtin;
pub mod cache;
pub mod contract;
mod engine;
pub mod error;
pub mod limits;
mod looks_for;
pub mod policy;
pub mod remote;
pub mod sandbox;
pub mod set;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cap_std::fs::Dir;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, Trap};

use crate::plan::{PluginRef, Target};
use api::{Detection, OutputSize, PlanOutput, PluginInfo};
use cache::ComponentCache;
use contract::{v0_1, v0_2, ContractVersion};
pub use engine::Instances;
pub use error::{CallError, LoadError};
pub use limits::Limits;
use sandbox::Sandbox;
pub use set::PluginSet;

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginOrigin {
    /// Embedded in the binary.
    Builtin,
    /// Loaded from a file (`--plugins DIR`).
    File(PathBuf),
    /// Fetched from an OCI registry by digest (a policy's `source`).
    Registry(String),
}

impl fmt::Display for PluginOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginOrigin::Builtin => write!(f, "built-in"),
            PluginOrigin::File(path) => write!(f, "{}", path.display()),
            PluginOrigin::Registry(reference) => write!(f, "oci://{reference}"),
        }
    }
}

/// A pre-linked component, per contract version.
enum Pre {
    V0_1(v0_1::DetectorPre<Sandbox>),
    V0_2(v0_2::DetectorPre<Sandbox>),
}

/// Decides, from a plugin file's path and sha256, whether it may be loaded.
pub type Admit<'a> = dyn Fn(&Path, &str) -> Result<(), LoadError> + 'a;

/// A component compiled (or read from the cache), checked against the
/// contract and pre-linked.
struct Ready {
    pre: Pre,
    contract: ContractVersion,
    /// What it imports (all of it contract interfaces, or it would not load).
    imports: Vec<String>,
}

impl LoadedPlugin {
    /// What `slipway plugin list --json` and `GET /api/v1/plugins` show.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.info.name,
            "version": self.info.version,
            "contract_version": self.info.contract_version,
            "priority": self.info.priority,
            "scope": self.info.scope,
            "description": self.info.description,
            "looks_for": self.info.looks_for,
            "sha256": self.sha256,
            "origin": self.origin.to_string(),
        })
    }
}

/// A plugin ready to be called.
pub struct LoadedPlugin {
    pub info: PluginInfo,
    pub sha256: String,
    pub origin: PluginOrigin,
    /// The limits its calls run under.
    pub limits: Limits,
    /// Set at load, or on first use for a built-in whose info was cached:
    /// most runs then never deserialize the plugins they do not call.
    ready: OnceLock<Result<Ready, String>>,
    /// The component, for a built-in prepared on first use.
    deferred: Option<&'static [u8]>,
}

impl LoadedPlugin {
    pub fn reference(&self) -> PluginRef {
        PluginRef {
            name: self.info.name.clone(),
            version: self.info.version.clone(),
        }
    }

    pub fn is_builtin(&self) -> bool {
        self.origin == PluginOrigin::Builtin
    }

    /// What the component imports; none while a built-in has not been
    /// prepared yet (files are always prepared when loaded).
    pub fn imports(&self) -> Option<&[String]> {
        match self.ready.get() {
            Some(Ok(ready)) => Some(&ready.imports),
            _ => None,
        }
    }

    /// Whether `detect` could answer anything but none for a tree whose root
    /// holds `root_names` (none: unknown): false when the plugin declared the
    /// files it looks for and none is there, so the call (an instantiation)
    /// can be skipped.
    pub fn worth_asking(&self, root_names: Option<&[String]>) -> bool {
        let patterns = &self.info.looks_for;
        match root_names {
            // Patterns were checked at load (`looks_for::check`).
            Some(names) if !patterns.is_empty() => looks_for::matches_any(patterns, names),
            _ => true,
        }
    }
}

/// Runs plugins. One per process: it owns the engine and the epoch clock.
pub struct PluginHost {
    engine: Engine,
    linker_v0_1: Linker<Sandbox>,
    linker_v0_2: Linker<Sandbox>,
    limits: Limits,
    cache: Option<ComponentCache>,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot start the plugin engine: {0}")]
pub struct HostError(String);

impl PluginHost {
    /// A host whose plugins run under `limits`, caching compiled components
    /// in `cache_dir` (none: compile every time); instances from a pool.
    pub fn new(limits: Limits, cache_dir: Option<PathBuf>) -> Result<Self, HostError> {
        let pooled = Instances::Pooled {
            max_memory_bytes: limits.memory_bytes,
        };
        PluginHost::with_instances(limits, pooled, cache_dir)
    }

    /// Like [`PluginHost::new`], with instances allocated as `instances`
    /// says; a pool's memory slots must fit the largest per-plugin limit (a
    /// policy's).
    pub fn with_instances(
        limits: Limits,
        instances: Instances,
        cache_dir: Option<PathBuf>,
    ) -> Result<Self, HostError> {
        let instances = match instances {
            Instances::Pooled { max_memory_bytes } => Instances::Pooled {
                max_memory_bytes: max_memory_bytes.max(limits.memory_bytes),
            },
            Instances::OnDemand => Instances::OnDemand,
        };
        let engine = engine::new_engine(instances).map_err(|e| HostError(e.to_string()))?;
        engine::start_epoch_ticker(&engine);
        let mut linker_v0_1 = Linker::new(&engine);
        v0_1::add_to_linker(&mut linker_v0_1).map_err(|e| HostError(e.to_string()))?;
        let mut linker_v0_2 = Linker::new(&engine);
        v0_2::add_to_linker(&mut linker_v0_2).map_err(|e| HostError(e.to_string()))?;
        let cache = cache_dir.map(|dir| ComponentCache::new(&engine, dir));
        Ok(PluginHost {
            engine,
            linker_v0_1,
            linker_v0_2,
            limits,
            cache,
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Loads the plugins embedded in the binary. With a cache that knows
    /// their info, nothing is compiled or deserialized until a plugin is called.
    pub fn load_builtins(&self) -> Vec<Result<LoadedPlugin, LoadError>> {
        builtin::BUILTINS
            .iter()
            .map(|b| {
                let cached = self.cache.as_ref().and_then(|c| c.info(b.sha256));
                match cached {
                    Some(info) => self.deferred(b.bytes, b.sha256.to_string(), info, b.name),
                    None => self.load(
                        b.bytes,
                        b.sha256.to_string(),
                        None,
                        PluginOrigin::Builtin,
                        b.name,
                    ),
                }
            })
            .collect()
    }

    /// A built-in known by its cached info, prepared when first called.
    fn deferred(
        &self,
        bytes: &'static [u8],
        sha256: String,
        info: PluginInfo,
        origin_text: &str,
    ) -> Result<LoadedPlugin, LoadError> {
        looks_for::check(origin_text, &info.looks_for)?;
        Ok(LoadedPlugin {
            info,
            sha256,
            origin: PluginOrigin::Builtin,
            limits: self.limits,
            ready: OnceLock::new(),
            deferred: Some(bytes),
        })
    }

    /// Compiles (or reads from the cache), checks and pre-links a component.
    fn prepare(&self, bytes: &[u8], sha256: &str, origin_text: &str) -> Result<Ready, LoadError> {
        let invalid = |e: wasmtime::Error| LoadError::Invalid {
            origin: origin_text.to_string(),
            reason: format!("{e:#}"),
        };
        let component = match &self.cache {
            Some(cache) => cache.load_or_compile(&self.engine, sha256, bytes),
            None => Component::new(&self.engine, bytes),
        }
        .map_err(invalid)?;
        let contract = contract::check(&self.engine, &component, origin_text)?;
        let imports = contract::imports(&self.engine, &component);
        let pre = match contract {
            ContractVersion::V0_1 => {
                let instance_pre = self
                    .linker_v0_1
                    .instantiate_pre(&component)
                    .map_err(invalid)?;
                Pre::V0_1(v0_1::DetectorPre::new(instance_pre).map_err(invalid)?)
            }
            ContractVersion::V0_2 => {
                let instance_pre = self
                    .linker_v0_2
                    .instantiate_pre(&component)
                    .map_err(invalid)?;
                Pre::V0_2(v0_2::DetectorPre::new(instance_pre).map_err(invalid)?)
            }
        };
        Ok(Ready {
            pre,
            contract,
            imports,
        })
    }

    /// The plugin's prepared component, preparing a deferred built-in now.
    fn ready<'p>(&self, plugin: &'p LoadedPlugin) -> Result<&'p Ready, CallError> {
        plugin
            .ready
            .get_or_init(|| {
                let bytes = plugin
                    .deferred
                    .ok_or_else(|| "the component is gone".to_string())?;
                let origin = &plugin.info.name;
                let ready = self
                    .prepare(bytes, &plugin.sha256, origin)
                    .map_err(|e| e.to_string())?;
                contract::check_declared(origin, &plugin.info.contract_version, ready.contract)
                    .map_err(|e| e.to_string())?;
                Ok(ready)
            })
            .as_ref()
            .map_err(|reason| CallError::Unavailable(reason.clone()))
    }

    /// Loads one component file.
    pub fn load_file(&self, path: &Path) -> Result<LoadedPlugin, LoadError> {
        self.load_file_admitted(path, &|_, _| Ok(()))
    }

    /// Loads one component file if `admit` accepts its path and sha256,
    /// which it is asked before anything of the file is compiled or run.
    /// Loads a component fetched from a registry, already checked against
    /// the digest that pinned it.
    pub fn load_fetched(&self, bytes: &[u8], reference: &str) -> Result<LoadedPlugin, LoadError> {
        let sha256 = hex::encode(Sha256::digest(bytes));
        let cached_info = self.cache.as_ref().and_then(|c| c.info(&sha256));
        let origin_text = format!("oci://{reference}");
        self.load(
            bytes,
            sha256,
            cached_info,
            PluginOrigin::Registry(reference.to_string()),
            &origin_text,
        )
    }

    pub fn load_file_admitted(
        &self,
        path: &Path,
        admit: &Admit<'_>,
    ) -> Result<LoadedPlugin, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        admit(path, &sha256)?;
        let origin_text = path.display().to_string();
        let cached_info = self.cache.as_ref().and_then(|c| c.info(&sha256));
        self.load(
            &bytes,
            sha256,
            cached_info,
            PluginOrigin::File(path.to_path_buf()),
            &origin_text,
        )
    }

    /// Loads every `*.wasm` of a directory, in name order; each file succeeds
    /// or fails on its own.
    pub fn load_dir(&self, dir: &Path) -> Result<Vec<Result<LoadedPlugin, LoadError>>, LoadError> {
        self.load_dir_admitted(dir, &|_, _| Ok(()))
    }

    /// [`load_dir`](Self::load_dir), asking `admit` about each file first.
    pub fn load_dir_admitted(
        &self,
        dir: &Path,
        admit: &Admit<'_>,
    ) -> Result<Vec<Result<LoadedPlugin, LoadError>>, LoadError> {
        let read_error = |source| LoadError::Read {
            path: dir.to_path_buf(),
            source,
        };
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(read_error)? {
            let path = entry.map_err(read_error)?.path();
            if path.extension().is_some_and(|e| e == "wasm") && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        Ok(files
            .iter()
            .map(|f| self.load_file_admitted(f, admit))
            .collect())
    }

    /// Prepares a component now and takes its info from `cached_info`, else
    /// from a call (then cached).
    fn load(
        &self,
        bytes: &[u8],
        sha256: String,
        cached_info: Option<PluginInfo>,
        origin: PluginOrigin,
        origin_text: &str,
    ) -> Result<LoadedPlugin, LoadError> {
        let ready = self.prepare(bytes, &sha256, origin_text)?;
        let contract = ready.contract;
        let mut plugin = LoadedPlugin {
            info: PluginInfo {
                name: origin_text.to_string(),
                version: String::new(),
                contract_version: String::new(),
                priority: 0,
                scope: api::Scope::Service,
                description: String::new(),
                looks_for: Vec::new(),
            },
            sha256,
            origin,
            limits: self.limits,
            ready: OnceLock::from(Ok(ready)),
            deferred: None,
        };
        plugin.info = match cached_info {
            Some(info) => info,
            None => {
                let info = self.info(&plugin).map_err(|error| LoadError::Info {
                    origin: origin_text.to_string(),
                    error,
                })?;
                if let Some(cache) = &self.cache {
                    cache.store_info(&plugin.sha256, &info);
                }
                info
            }
        };
        contract::check_declared(origin_text, &plugin.info.contract_version, contract)?;
        looks_for::check(origin_text, &plugin.info.looks_for)?;
        Ok(plugin)
    }

    fn info(&self, plugin: &LoadedPlugin) -> Result<PluginInfo, CallError> {
        self.call(plugin, None, |instance, store| match instance {
            Instance::V0_1(d) => d.slipway_plugin_plugin().call_info(store).map(v0_1::info),
            Instance::V0_2(d) => d.slipway_plugin_plugin().call_info(store).map(v0_2::info),
        })
    }

    /// Asks `plugin` whether it recognises the tree at `root`.
    pub fn detect(
        &self,
        plugin: &LoadedPlugin,
        root: &Path,
        target: &Target,
    ) -> Result<Option<Detection>, CallError> {
        self.call(plugin, Some(root), |instance, store| match instance {
            Instance::V0_1(d) => d
                .slipway_plugin_plugin()
                .call_detect(store, &v0_1::target(target))
                .map(|r| r.map(|o| o.map(v0_1::detection)).map_err(v0_1::reported)),
            Instance::V0_2(d) => d
                .slipway_plugin_plugin()
                .call_detect(store, &v0_2::target(target))
                .map(|r| r.map(|o| o.map(v0_2::detection)).map_err(v0_2::reported)),
        })?
        .map_err(CallError::Reported)
    }

    /// Asks `plugin` for its plan of the tree at `root`.
    pub fn plan(
        &self,
        plugin: &LoadedPlugin,
        root: &Path,
        target: &Target,
    ) -> Result<PlanOutput, CallError> {
        self.call(plugin, Some(root), |instance, store| match instance {
            Instance::V0_1(d) => d
                .slipway_plugin_plugin()
                .call_plan(store, &v0_1::target(target))
                .map(|r| r.map(v0_1::plan).map_err(v0_1::reported)),
            Instance::V0_2(d) => d
                .slipway_plugin_plugin()
                .call_plan(store, &v0_2::target(target))
                .map(|r| r.map(v0_2::plan).map_err(v0_2::reported)),
        })?
        .map_err(CallError::Reported)
    }

    /// One call in a fresh store, with every limit armed.
    fn call<R: OutputSize>(
        &self,
        plugin: &LoadedPlugin,
        root: Option<&Path>,
        invoke: impl FnOnce(&Instance, &mut Store<Sandbox>) -> wasmtime::Result<R>,
    ) -> Result<R, CallError> {
        // Before the deadline is armed: preparing is the host's time, not the plugin's.
        let ready = self.ready(plugin)?;
        let limits = plugin.limits;
        let dir = match root {
            Some(path) => Some(
                Dir::open_ambient_dir(path, cap_std::ambient_authority()).map_err(|e| {
                    CallError::Root {
                        path: path.to_path_buf(),
                        reason: e.to_string(),
                    }
                })?,
            ),
            None => None,
        };
        let mut store = Store::new(&self.engine, Sandbox::new(&plugin.info.name, dir, limits));
        store.limiter(|sandbox| &mut sandbox.memory);
        // The deadline covers instantiation too (it runs the plugin's start code).
        store.set_epoch_deadline(engine::deadline_ticks(limits.deadline));
        store.epoch_deadline_trap();
        let outcome = match &ready.pre {
            Pre::V0_1(pre) => pre
                .instantiate(&mut store)
                .and_then(|d| invoke(&Instance::V0_1(d), &mut store)),
            Pre::V0_2(pre) => pre
                .instantiate(&mut store)
                .and_then(|d| invoke(&Instance::V0_2(d), &mut store)),
        };
        let answer = outcome.map_err(|e| classify(e, &store, &limits))?;
        let size = answer.output_size();
        if size > limits.max_output_bytes {
            return Err(CallError::OutputTooLarge {
                size,
                cap: limits.max_output_bytes,
            });
        }
        Ok(answer)
    }
}

enum Instance {
    V0_1(v0_1::Detector),
    V0_2(v0_2::Detector),
}

/// Names the limit a failed call hit, or the trap it took.
fn classify(error: wasmtime::Error, store: &Store<Sandbox>, limits: &Limits) -> CallError {
    if store.data().memory.hit {
        return CallError::MemoryLimit {
            limit: limits.memory_bytes,
        };
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => CallError::Timeout {
            deadline: limits.deadline,
        },
        Some(Trap::UnreachableCodeReached) => CallError::Trap {
            reason: match &store.data().last_error {
                Some(message) => format!(
                    "unreachable code reached (the plugin panicked or aborted); its last error log: {message}"
                ),
                None => "unreachable code reached (the plugin panicked or aborted)".into(),
            },
        },
        Some(trap) => CallError::Trap {
            reason: trap.to_string(),
        },
        None => CallError::Trap {
            reason: format!("{error:#}"),
        },
    }
}

impl fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("info", &self.info)
            .field("sha256", &self.sha256)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}
