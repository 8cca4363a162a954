//! The plugin policy: which plugins run, in what order, pinned to which
//! bytes, under which limits. A platform writes it (`--policy FILE` or
//! `SLIPWAY_POLICY`); projects cannot, since they are the untrusted side.
//!
//! ```toml
//! # Asked first, in this order; the others follow the default ranking.
//! order = ["deno"]
//!
//! [plugin.deno]               # a plugin is name@version
//! version = "0.3.1"           # optional: refuse any other version
//! sha256 = "6a01e3dc..."      # required for every plugin not built in
//! priority = 500              # optional: overrides the plugin's own
//! deadline-ms = 200           # optional per-plugin limits
//! memory-mib = 16
//! read-mib = 4
//!
//! [plugin.node]
//! enabled = false
//!
//! [plugin.ini]                # fetched once from a registry, by digest
//! source = "oci://127.0.0.1:5000/plugins/ini@sha256:4f2c..."
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::Limits;
use crate::registry::artifact::Reference;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("plugin policy {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("plugin policy {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Policy {
    /// Plugin names asked first, in this order.
    #[serde(default)]
    pub order: Vec<String>,
    /// Per-plugin settings, by plugin name.
    #[serde(default, rename = "plugin")]
    pub plugins: BTreeMap<String, PluginPolicy>,
    /// Where it was read from, for messages.
    #[serde(skip)]
    pub path: PathBuf,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PluginPolicy {
    pub enabled: Option<bool>,
    pub version: Option<String>,
    pub sha256: Option<String>,
    pub priority: Option<i32>,
    pub deadline_ms: Option<u64>,
    pub memory_mib: Option<usize>,
    pub read_mib: Option<u64>,
    /// `oci://HOST/REPO@sha256:...`: where the plugin's component is fetched
    /// from, pinned by its manifest digest (a tag alone is refused).
    pub source: Option<String>,
}

/// The registry reference of a `source`: `oci://` and a digest required.
fn source_reference(source: &str) -> Result<Reference, String> {
    let Some(rest) = source.strip_prefix("oci://") else {
        return Err(format!(
            "`{source}`: only oci://HOST/REPO@sha256:... sources are supported"
        ));
    };
    let reference = Reference::parse(rest).map_err(|e| e.to_string())?;
    if reference.digest.is_none() {
        return Err(format!(
            "`{source}` names a tag, which can move: pin the digest that `slipway plugin push` printed (oci://{}/{}@sha256:...)",
            reference.registry, reference.repository
        ));
    }
    Ok(reference)
}

impl Policy {
    /// The plugins fetched from registries: (policy name, reference), each
    /// pinned by digest (checked when the policy was loaded).
    pub fn sources(&self) -> Vec<(String, Reference)> {
        self.plugins
            .iter()
            .filter_map(|(name, rules)| {
                let source = rules.source.as_deref()?;
                source_reference(source).ok().map(|r| (name.clone(), r))
            })
            .collect()
    }

    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |reason: String| PolicyError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let mut policy: Policy = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        policy.path = path.to_path_buf();
        for (name, plugin) in &policy.plugins {
            if let Some(pin) = &plugin.sha256 {
                if pin.len() != 64 || !pin.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(invalid(format!(
                        "plugin.{name}.sha256: `{pin}` is not a sha256 (64 hex digits)"
                    )));
                }
            }
            if let Some(source) = &plugin.source {
                source_reference(source)
                    .map_err(|reason| invalid(format!("plugin.{name}.source: {reason}")))?;
            }
            for (field, zero) in [
                ("deadline-ms", plugin.deadline_ms == Some(0)),
                ("memory-mib", plugin.memory_mib == Some(0)),
                ("read-mib", plugin.read_mib == Some(0)),
            ] {
                if zero {
                    return Err(invalid(format!("plugin.{name}.{field} must be above 0")));
                }
            }
        }
        Ok(policy)
    }

    /// The largest memory limit any plugin may get: the engine's memory
    /// pool is sized to it.
    pub fn max_memory_bytes(&self, default: usize) -> usize {
        self.plugins
            .values()
            .filter_map(|p| p.memory_mib)
            .map(|mib| mib << 20)
            .fold(default, usize::max)
    }

    /// Where `name` stands in `order`, if listed.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.order.iter().position(|n| n == name)
    }
}

impl PluginPolicy {
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(true)
    }

    /// `base` with this plugin's overrides.
    pub fn limits(&self, base: Limits) -> Limits {
        Limits {
            deadline: self
                .deadline_ms
                .map(Duration::from_millis)
                .unwrap_or(base.deadline),
            memory_bytes: self
                .memory_mib
                .map(|m| m << 20)
                .unwrap_or(base.memory_bytes),
            read_budget_bytes: self
                .read_mib
                .map(|m| m << 20)
                .unwrap_or(base.read_budget_bytes),
            ..base
        }
    }
}
