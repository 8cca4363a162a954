//! Contract `slipway:plugin@0.2.x` (`wit/plugin.wit`, the current one):
//! bindings, the host side of its imports, and conversions of its exports
//! into the version-neutral types of `plugin_host::api`.
//!
//! Each contract line the host serves has a module like this one, so a new
//! line is added beside the others without touching plugins built for them.

use crate::plan::{Command, Hook, HookPhase};
use crate::plugin_host::api;
use crate::plugin_host::sandbox::Sandbox;

wasmtime::component::bindgen!({
    world: "detector",
    path: "wit/plugin.wit",
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
        looks_for: i.looks_for,
    }
}

fn command(c: guest::Command) -> Command {
    match c {
        guest::Command::Shell(line) => Command::Shell(line),
        guest::Command::Exec(argv) => Command::Exec(argv),
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
                    command: s.command.map(command),
                })
                .collect(),
            hooks: p
                .hooks
                .into_iter()
                .map(|h| Hook {
                    phase: match h.phase {
                        guest::HookPhase::Release => HookPhase::Release,
                        guest::HookPhase::Postdeploy => HookPhase::Postdeploy,
                    },
                    service: h.service,
                    command: command(h.command),
                })
                .collect(),
            warnings: p.warnings,
        }),
    }
}
