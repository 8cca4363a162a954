//! The plugins of one run, loaded and ranked.

use std::path::PathBuf;

use super::api::Scope;
use super::policy::Policy;
use super::remote::Fetched;
use super::{LoadError, LoadedPlugin, PluginHost, PluginOrigin};

/// Built-in plugins, then those from `--plugins` directories. A plugin that
/// fails to load is kept as an error; the others still run.
pub struct PluginSet {
    plugins: Vec<LoadedPlugin>,
    pub load_errors: Vec<LoadError>,
    /// `name@version` of plugins the policy switched off.
    pub disabled: Vec<String>,
}

impl PluginSet {
    pub fn load(host: &PluginHost, extra_dirs: &[PathBuf]) -> PluginSet {
        PluginSet::load_with_policy(host, extra_dirs, None, Vec::new())
    }

    /// Loads and ranks the plugins, then applies `policy` (when there is
    /// one): disabled plugins leave, pins are checked, priorities and
    /// limits are overridden, and `order` ranks its plugins first.
    pub fn load_with_policy(
        host: &PluginHost,
        extra_dirs: &[PathBuf],
        policy: Option<&Policy>,
        fetched: Vec<Result<Fetched, LoadError>>,
    ) -> PluginSet {
        let mut set = PluginSet {
            plugins: Vec::new(),
            load_errors: Vec::new(),
            disabled: Vec::new(),
        };
        for loaded in host.load_builtins() {
            set.add(loaded);
        }
        // Under a policy only pinned bytes are compiled and run: the digest
        // is checked before anything else happens to the file.
        let pins: Vec<String> = policy
            .map(|p| {
                p.plugins
                    .values()
                    .filter_map(|rules| rules.sha256.as_ref().map(|s| s.to_ascii_lowercase()))
                    .collect()
            })
            .unwrap_or_default();
        let admit = |path: &std::path::Path, sha256: &str| match policy {
            Some(policy) if !pins.iter().any(|pin| pin == sha256) => {
                Err(LoadError::NotPinnedFile {
                    path: path.to_path_buf(),
                    policy: policy.path.display().to_string(),
                    actual: sha256.to_string(),
                    pins: if pins.is_empty() {
                        "it pins none".into()
                    } else {
                        format!("it pins {}", pins.join(", "))
                    },
                })
            }
            _ => Ok(()),
        };
        for dir in extra_dirs {
            match host.load_dir_admitted(dir, &admit) {
                Ok(all) => all.into_iter().for_each(|loaded| set.add(loaded)),
                Err(e) => set.load_errors.push(e),
            }
        }
        for fetched in fetched {
            let loaded = fetched.and_then(|f| {
                let plugin = host.load_fetched(&f.bytes, &f.reference)?;
                if plugin.info.name != f.name {
                    return Err(LoadError::FetchedNameMismatch {
                        policy: policy
                            .map(|p| p.path.display().to_string())
                            .unwrap_or_default(),
                        name: f.name,
                        reference: f.reference,
                        actual: plugin.info.name,
                    });
                }
                Ok(plugin)
            });
            set.add(loaded);
        }
        if let Some(policy) = policy {
            set.apply(policy);
        }
        set.plugins
            .sort_by_key(|plugin| rank(plugin, policy.and_then(|p| p.position(&plugin.info.name))));
        set
    }

    fn apply(&mut self, policy: &Policy) {
        let policy_name = policy.path.display().to_string();
        let named: std::collections::BTreeSet<&String> =
            policy.plugins.keys().chain(&policy.order).collect();
        for name in named {
            if !self.plugins.iter().any(|p| &p.info.name == name) {
                self.load_errors.push(LoadError::UnknownInPolicy {
                    policy: policy_name.clone(),
                    name: name.clone(),
                });
            }
        }
        let mut kept = Vec::new();
        for mut plugin in std::mem::take(&mut self.plugins) {
            let rules = policy.plugins.get(&plugin.info.name);
            let reference = plugin.reference().to_string();
            let origin = plugin.origin.to_string();
            if rules.is_some_and(|r| !r.is_enabled()) {
                self.disabled.push(reference);
                continue;
            }
            match rules.and_then(|r| r.sha256.as_ref()) {
                Some(pin) if !pin.eq_ignore_ascii_case(&plugin.sha256) => {
                    self.load_errors.push(LoadError::PinMismatch {
                        plugin: reference,
                        origin,
                        policy: policy_name.clone(),
                        pinned: pin.to_ascii_lowercase(),
                        actual: plugin.sha256.clone(),
                    });
                    continue;
                }
                // A fetched plugin is pinned by its source's digest.
                None if matches!(plugin.origin, PluginOrigin::File(_)) => {
                    self.load_errors.push(LoadError::Unpinned {
                        plugin: reference,
                        origin,
                        policy: policy_name.clone(),
                        actual: plugin.sha256.clone(),
                    });
                    continue;
                }
                _ => {}
            }
            if let Some(rules) = rules {
                if let Some(version) = &rules.version {
                    if version != &plugin.info.version {
                        self.load_errors.push(LoadError::VersionMismatch {
                            plugin: reference,
                            origin,
                            policy: policy_name.clone(),
                            pinned: version.clone(),
                        });
                        continue;
                    }
                }
                if let Some(priority) = rules.priority {
                    plugin.info.priority = priority;
                }
                plugin.limits = rules.limits(plugin.limits);
            }
            kept.push(plugin);
        }
        self.plugins = kept;
    }

    fn add(&mut self, loaded: Result<LoadedPlugin, LoadError>) {
        match loaded {
            Ok(plugin) => {
                if let Some(other) = self
                    .plugins
                    .iter()
                    .find(|p| p.info.name == plugin.info.name)
                {
                    self.load_errors.push(LoadError::Duplicate {
                        origin: plugin.origin.to_string(),
                        name: plugin.info.name.clone(),
                        other: format!("{} ({})", other.reference(), other.origin),
                    });
                } else {
                    self.plugins.push(plugin);
                }
            }
            Err(e) => self.load_errors.push(e),
        }
    }

    /// Every loaded plugin, best ranked first.
    pub fn all(&self) -> &[LoadedPlugin] {
        &self.plugins
    }

    /// Plugins that split a project into services (compose), best first.
    pub fn project_plugins(&self) -> impl Iterator<Item = &LoadedPlugin> {
        self.plugins
            .iter()
            .filter(|p| p.info.scope == Scope::Project)
    }

    /// Plugins that plan one build context, best first.
    pub fn service_plugins(&self) -> impl Iterator<Item = &LoadedPlugin> {
        self.plugins
            .iter()
            .filter(|p| p.info.scope == Scope::Service)
    }
}

/// Plugins the policy orders come first, in its order. Then built-in plugins
/// outrank custom ones whatever their priority (balena's conventions come
/// first); within each group, higher priority first, then name.
fn rank(
    plugin: &LoadedPlugin,
    ordered: Option<usize>,
) -> (usize, bool, std::cmp::Reverse<i32>, String) {
    (
        ordered.unwrap_or(usize::MAX),
        !plugin.is_builtin(),
        std::cmp::Reverse(plugin.info.priority),
        plugin.info.name.clone(),
    )
}
