//! Contract `slipway:plugin@0.1.x` (frozen in `wit/previous/`): bindings,
//! the host side of its imports, and conversions of its exports into the
//! version-neutral types of `plugin_host::api`. Plugins built for 0.1 keep
//! loading: they get no `looks-for` (always asked), no commands, no hooks.

use crate::plugin_host::api;
use crate::plugin_host::sandbox::Sandbox;

wasmtime::component::bindgen!({
    world: "detector",
    path: "wit/previous/plugin-0.1.0.wit",
});

use self::exports::slipway::plugin::plugin as guest;
use self::slipway::plugin::{catalogue, log, source, types};

super::unchanged::unchanged_since_0_1!();

pub(crate) fn info(i: guest::PluginInfo) -> api::PluginInfo {
    api::PluginInfo {
        name: i.name,
        version: i.version,
        contract_version: i.contract_version,
        priority: i.priority,
        scope: scope(i.scope),
        description: i.description,
        looks_for: Vec::new(),
    }
}

pub(crate) fn plan(p: guest::BuildPlan) -> api::PlanOutput {
    match p {
        guest::BuildPlan::Service(s) => api::PlanOutput::Service(service_plan(s)),
        guest::BuildPlan::Project(p) => api::PlanOutput::Project(api::ProjectPlanOutput {
            services: p
                .services
                .into_iter()
                .map(|s| api::ServiceSpec {
                    name: s.name,
                    source: service_source(s.source),
                    command: None,
                })
                .collect(),
            hooks: Vec::new(),
            warnings: p.warnings,
        }),
    }
}
