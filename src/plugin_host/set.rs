//! The plugins of one run, loaded and ranked.

use std::path::PathBuf;

use super::api::Scope;
use super::{LoadError, LoadedPlugin, PluginHost};

/// Built-in plugins, then those from `--plugins` directories. A plugin that
/// fails to load is kept as an error; the others still run.
pub struct PluginSet {
    plugins: Vec<LoadedPlugin>,
    pub load_errors: Vec<LoadError>,
}

impl PluginSet {
    pub fn load(host: &PluginHost, extra_dirs: &[PathBuf]) -> PluginSet {
        let mut set = PluginSet {
            plugins: Vec::new(),
            load_errors: Vec::new(),
        };
        for loaded in host.load_builtins() {
            set.add(loaded);
        }
        for dir in extra_dirs {
            match host.load_dir(dir) {
                Ok(all) => all.into_iter().for_each(|loaded| set.add(loaded)),
                Err(e) => set.load_errors.push(e),
            }
        }
        set.plugins.sort_by_key(rank);
        set
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

/// Built-in plugins outrank custom ones whatever their priority (balena's
/// conventions come first); within each group, higher priority first, then name.
fn rank(plugin: &LoadedPlugin) -> (bool, std::cmp::Reverse<i32>, String) {
    (
        !plugin.is_builtin(),
        std::cmp::Reverse(plugin.info.priority),
        plugin.info.name.clone(),
    )
}
