//! A service with a `Dockerfile.template`: the host substitutes its
//! `%%BALENA_ARCH%%`-style variables for the target device.

use slipway_plugin_sdk::{
    evidence, export_plugin, fs, BuildPlan, Detection, DockerfileSource, Plugin, PluginError,
    PluginInfo, Scope, ServicePlan, Target, CONTRACT_VERSION, looks_for,
};

const TEMPLATE: &str = "Dockerfile.template";

struct TemplatePlugin;

impl Plugin for TemplatePlugin {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "dockerfile-template".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: CONTRACT_VERSION.into(),
            priority: 300,
            scope: Scope::Service,
            looks_for: looks_for(&["Dockerfile.template"]),
            description:
                "A Dockerfile.template with %%BALENA_*%% variables, resolved per device type".into(),
        }
    }

    fn detect(target: Target) -> Result<Option<Detection>, PluginError> {
        if !fs::is_file(TEMPLATE) {
            return Ok(None);
        }
        Ok(Some(Detection {
            project_type: "dockerfile-template".into(),
            evidence: vec![evidence(
                TEMPLATE,
                format!(
                    "a Dockerfile template, resolved for {} ({})",
                    target.device_type, target.arch
                ),
            )],
        }))
    }

    fn plan(_target: Target) -> Result<BuildPlan, PluginError> {
        Ok(BuildPlan::Service(ServicePlan {
            dockerfile: DockerfileSource::Template(TEMPLATE.into()),
            build_args: Vec::new(),
            labels: Vec::new(),
            notes: Vec::new(),
        }))
    }
}

export_plugin!(TemplatePlugin);
