//! A service whose context holds a plain `Dockerfile`, used as it is.

use slipway_plugin_sdk::{
    evidence, export_plugin, fs, BuildPlan, Detection, DockerfileSource, Plugin, PluginError,
    PluginInfo, Scope, ServicePlan, Target, CONTRACT_VERSION, looks_for,
};

const DOCKERFILE: &str = "Dockerfile";

struct DockerfilePlugin;

impl Plugin for DockerfilePlugin {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "dockerfile".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: CONTRACT_VERSION.into(),
            priority: 200,
            scope: Scope::Service,
            looks_for: looks_for(&["Dockerfile"]),
            description: "A Dockerfile at the root of the build context, used as is".into(),
        }
    }

    fn detect(_target: Target) -> Result<Option<Detection>, PluginError> {
        if !fs::is_file(DOCKERFILE) {
            return Ok(None);
        }
        Ok(Some(Detection {
            project_type: "dockerfile".into(),
            evidence: vec![evidence(DOCKERFILE, "a Dockerfile is present")],
        }))
    }

    fn plan(_target: Target) -> Result<BuildPlan, PluginError> {
        Ok(BuildPlan::Service(ServicePlan {
            dockerfile: DockerfileSource::Path(DOCKERFILE.into()),
            build_args: Vec::new(),
            labels: Vec::new(),
            notes: Vec::new(),
        }))
    }
}

export_plugin!(DockerfilePlugin);
