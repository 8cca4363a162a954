//! A plugin built against the frozen contract 0.1.0 (`wit/previous/`), as
//! plugins written before 0.2 were: the host must keep loading and running
//! it. It recognises an `app.ini` and runs busybox with it.

wit_bindgen::generate!({
    world: "detector",
    path: "../../wit/previous/plugin-0.1.0.wit",
});

use exports::slipway::plugin::plugin::{
    BuildPlan, Detection, DockerfileSource, Guest, PluginInfo, Scope, ServicePlan,
};
use slipway::plugin::source;
use slipway::plugin::types::{Evidence, PluginError, Target};

struct LegacyIni;

impl Guest for LegacyIni {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "legacy-ini".into(),
            version: "1.0.0".into(),
            contract_version: "0.1.0".into(),
            priority: 5,
            scope: Scope::Service,
            description: "an app.ini service, from a plugin built for contract 0.1".into(),
        }
    }

    fn detect(_target: Target) -> Result<Option<Detection>, PluginError> {
        Ok(source::exists("app.ini").then(|| Detection {
            project_type: "ini".into(),
            evidence: vec![Evidence {
                file: "app.ini".into(),
                reason: "an ini-configured app".into(),
            }],
        }))
    }

    fn plan(target: Target) -> Result<BuildPlan, PluginError> {
        Ok(BuildPlan::Service(ServicePlan {
            dockerfile: DockerfileSource::Generated(
                "FROM busybox:slipway\nCOPY app.ini /etc/app.ini\nCMD [\"cat\", \"/etc/app.ini\"]\n"
                    .into(),
            ),
            build_args: Vec::new(),
            labels: Vec::new(),
            notes: vec![format!("planned by a 0.1 plugin for {}", target.arch)],
        }))
    }
}

export!(LegacyIni);
