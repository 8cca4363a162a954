//! The names at the project root, listed once: every "is there a lockfile /
//! a pin file / a config file" question is then answered without another
//! call into the host (each call crosses the sandbox boundary).

use std::collections::BTreeSet;

use slipway_plugin_sdk::{fs, PluginError};

pub struct Root {
    files: BTreeSet<String>,
}

impl Root {
    pub fn list() -> Result<Root, PluginError> {
        let files = fs::list_dir(".")?
            .into_iter()
            .filter(|e| matches!(e.kind, fs::Kind::File | fs::Kind::Symlink))
            .map(|e| e.name)
            .collect();
        Ok(Root { files })
    }

    /// Whether a file (or a link, resolved by a later read) of that name is at the root.
    pub fn has(&self, name: &str) -> bool {
        self.files.contains(name)
    }
}
