//! A Node.js service: `package.json` without a Dockerfile gets an implicit,
//! multi-stage one (install with the project's package manager, build,
//! prune, run as an unprivileged user; static builds served by httpd), on
//! the catalogue's Node base image for the target architecture.

mod dockerfile;
mod manifest;
mod package_manager;
mod root;
mod version;

use slipway_plugin_sdk::{
    evidence, export_plugin, fs, looks_for, BuildPlan, Detection, DockerfileSource, Plugin,
    PluginError, PluginInfo, Scope, ServicePlan, Target, CONTRACT_VERSION,
};

use manifest::{Manifest, MANIFEST};

struct NodePlugin;

impl Plugin for NodePlugin {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "node".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: CONTRACT_VERSION.into(),
            priority: 100,
            scope: Scope::Service,
            looks_for: looks_for(&["package.json"]),
            description: "Node.js from package.json (npm, yarn, pnpm), with an implicit Dockerfile"
                .into(),
        }
    }

    fn detect(_target: Target) -> Result<Option<Detection>, PluginError> {
        if !fs::is_file(MANIFEST) {
            return Ok(None);
        }
        Ok(Some(Detection {
            project_type: "node".into(),
            evidence: vec![evidence(MANIFEST, "a Node.js package manifest")],
        }))
    }

    fn plan(target: Target) -> Result<BuildPlan, PluginError> {
        let manifest = Manifest::load()?;
        let recipe = dockerfile::Recipe::for_manifest(&manifest, &target)?;
        Ok(BuildPlan::Service(ServicePlan {
            dockerfile: DockerfileSource::Generated(recipe.render(&target)),
            build_args: Vec::new(),
            labels: vec![(
                "io.slipway.node.version".into(),
                recipe.node_version.clone(),
            )],
            notes: recipe.notes,
        }))
    }
}

export_plugin!(NodePlugin);
