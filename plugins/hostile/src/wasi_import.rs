//! A plugin that also imports a WASI interface. It never gets to run: the
//! host refuses any import outside the contract when it loads the component.

wit_bindgen::generate!({
    world: "wasi-importer",
    path: "wit",
    generate_all,
});

use exports::slipway::plugin::plugin::{BuildPlan, Detection, Guest, PluginInfo, Scope};
use slipway::plugin::types::{PluginError, Target};

struct WasiImporter;

impl Guest for WasiImporter {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "hostile-wasi-import".into(),
            version: "0.1.0".into(),
            contract_version: "0.2.0".into(),
            priority: 50,
            scope: Scope::Service,
            description: "imports WASI, which the sandbox does not offer".into(),
            looks_for: Vec::new(),
        }
    }

    fn detect(_target: Target) -> Result<Option<Detection>, PluginError> {
        let environment = wasi::cli::environment::get_environment();
        Ok(Some(Detection {
            project_type: format!("{environment:?}"),
            evidence: Vec::new(),
        }))
    }

    fn plan(_target: Target) -> Result<BuildPlan, PluginError> {
        Err(PluginError::Failed("plans nothing".into()))
    }
}

export!(WasiImporter);
