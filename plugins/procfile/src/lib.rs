//! A Heroku-style `Procfile` at the project root, read the way Heroku and
//! Scalingo read it: each process type (`web`, `worker`, ...) becomes a
//! service of the release. Every process is built from the root with the
//! same recipe (the host builds that image once per arch) and runs its own
//! command. `release:` and `postdeploy:` are not processes: they become the
//! release's hooks, run in the image of the `web` process (else the first).

use slipway_plugin_sdk::text::read_procfile;
use slipway_plugin_sdk::{
    evidence, export_plugin, invalid, invalid_at, looks_for, BuildPlan, BuildSpec, Command,
    Detection, Hook, HookPhase, Plugin, PluginError, PluginInfo, ProjectPlan, Scope,
    ServiceSource, ServiceSpec, Target, CONTRACT_VERSION,
};

const PROCFILE: &str = "Procfile";

struct ProcfilePlugin;

/// A Procfile, split into processes and hooks, each with its line.
struct Procfile {
    processes: Vec<(String, String, u32)>,
    hooks: Vec<(HookPhase, String, u32)>,
}

fn hook_phase(name: &str) -> Option<HookPhase> {
    match name {
        "release" => Some(HookPhase::Release),
        "postdeploy" => Some(HookPhase::Postdeploy),
        _ => None,
    }
}

fn read() -> Result<Option<Procfile>, PluginError> {
    let Some(entries) = read_procfile(PROCFILE)? else {
        return Ok(None);
    };
    let mut procfile = Procfile {
        processes: Vec::new(),
        hooks: Vec::new(),
    };
    let mut seen: Vec<(String, u32)> = Vec::new();
    for (name, command, line) in entries {
        if let Some((_, first)) = seen.iter().find(|(seen, _)| *seen == name) {
            return Err(invalid_at(
                PROCFILE,
                line,
                1,
                format!("`{name}` is defined twice (first at line {first})"),
            ));
        }
        seen.push((name.clone(), line));
        match hook_phase(&name) {
            Some(phase) => procfile.hooks.push((phase, command, line)),
            None => procfile.processes.push((name, command, line)),
        }
    }
    Ok(Some(procfile))
}

fn describe(procfile: &Procfile) -> String {
    let names: Vec<&str> = procfile.processes.iter().map(|(n, _, _)| n.as_str()).collect();
    let mut text = format!("process types: {}", names.join(", "));
    if !procfile.hooks.is_empty() {
        let hooks: Vec<&str> = procfile
            .hooks
            .iter()
            .map(|(phase, _, _)| match phase {
                HookPhase::Release => "release",
                HookPhase::Postdeploy => "postdeploy",
            })
            .collect();
        text.push_str(&format!("; hooks: {}", hooks.join(", ")));
    }
    text
}

impl Plugin for ProcfilePlugin {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "procfile".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: CONTRACT_VERSION.into(),
            // Below compose: a compose file says more about the services.
            priority: -10,
            scope: Scope::Project,
            looks_for: looks_for(&[PROCFILE]),
            description: "A Procfile: each process type a service, release/postdeploy hooks"
                .into(),
        }
    }

    fn detect(_target: Target) -> Result<Option<Detection>, PluginError> {
        Ok(read()?.map(|procfile| Detection {
            project_type: "procfile".into(),
            evidence: vec![evidence(PROCFILE, describe(&procfile))],
        }))
    }

    fn plan(_target: Target) -> Result<BuildPlan, PluginError> {
        let procfile =
            read()?.ok_or_else(|| PluginError::Failed("no Procfile in the project".into()))?;
        if procfile.processes.is_empty() {
            return Err(invalid(
                PROCFILE,
                "no process type to run (only hooks or nothing): add one, e.g. `web: <command>`",
            ));
        }
        let hook_service = procfile
            .processes
            .iter()
            .find(|(name, _, _)| name == "web")
            .unwrap_or(&procfile.processes[0])
            .0
            .clone();
        let services = procfile
            .processes
            .iter()
            .map(|(name, command, _)| ServiceSpec {
                name: name.clone(),
                source: ServiceSource::Build(BuildSpec {
                    context: ".".into(),
                    dockerfile: None,
                    args: Vec::new(),
                    target: None,
                }),
                command: Some(Command::Shell(command.clone())),
            })
            .collect();
        let hooks = procfile
            .hooks
            .into_iter()
            .map(|(phase, command, _)| Hook {
                phase,
                service: hook_service.clone(),
                command: Command::Shell(command),
            })
            .collect();
        Ok(BuildPlan::Project(ProjectPlan {
            services,
            hooks,
            warnings: Vec::new(),
        }))
    }
}

export_plugin!(ProcfilePlugin);
