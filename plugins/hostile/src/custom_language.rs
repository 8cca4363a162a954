//! A well-behaved custom-language plugin (Deno) with a priority higher than
//! any built-in's: the tests use it to show that custom plugins are loaded
//! with `--plugins`, plan when they are the only match, and still rank below
//! balena's conventions whatever priority they claim.

use slipway_plugin_sdk::{
    evidence, export_plugin, fs, BuildPlan, Detection, DockerfileSource, Plugin, PluginError,
    PluginInfo, Scope, ServicePlan, Target, CONTRACT_VERSION, looks_for,
};

struct Deno;

impl Plugin for Deno {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "deno".into(),
            version: "0.3.1".into(),
            contract_version: CONTRACT_VERSION.into(),
            priority: 1000,
            scope: Scope::Service,
            description: "Deno from deno.json".into(),
            looks_for: looks_for(&["deno.json"]),
        }
    }

    fn detect(_target: Target) -> Result<Option<Detection>, PluginError> {
        Ok(fs::is_file("deno.json").then(|| Detection {
            project_type: "deno".into(),
            evidence: vec![evidence("deno.json", "a Deno configuration")],
        }))
    }

    fn plan(target: Target) -> Result<BuildPlan, PluginError> {
        Ok(BuildPlan::Service(ServicePlan {
            dockerfile: DockerfileSource::Generated(format!(
                "FROM denoland/deno:{}\nWORKDIR /app\nCOPY . .\nCMD [\"deno\", \"run\", \"main.ts\"]\n",
                target.arch
            )),
            build_args: Vec::new(),
            labels: Vec::new(),
            notes: vec!["planned by a custom plugin".into()],
        }))
    }
}

export_plugin!(Deno);
