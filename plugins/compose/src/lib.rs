//! A project with a `docker-compose.yml`: several services, each either
//! built from its own context or run from a prebuilt image.

mod duplicates;
mod interpolate;
mod model;
mod services;

use slipway_plugin_sdk::{
    evidence, export_plugin, fs, invalid, looks_for, BuildPlan, Detection, Plugin, PluginError,
    PluginInfo, ProjectPlan, Scope, Target, CONTRACT_VERSION,
};

const COMPOSE_FILES: [&str; 2] = ["docker-compose.yml", "docker-compose.yaml"];

struct ComposePlugin;

/// The compose file of the project, if any. Both names at once is ambiguous.
fn compose_file() -> Result<Option<&'static str>, PluginError> {
    let present: Vec<&str> = COMPOSE_FILES
        .into_iter()
        .filter(|f| fs::is_file(f))
        .collect();
    match present.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(invalid(
            COMPOSE_FILES[0],
            "both docker-compose.yml and docker-compose.yaml exist: keep one",
        )),
    }
}

impl Plugin for ComposePlugin {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "compose".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: CONTRACT_VERSION.into(),
            priority: 0,
            scope: Scope::Project,
            looks_for: looks_for(&["docker-compose.yml", "docker-compose.yaml"]),
            description: "A docker-compose.yml with one or more services".into(),
        }
    }

    fn detect(_target: Target) -> Result<Option<Detection>, PluginError> {
        Ok(compose_file()?.map(|file| Detection {
            project_type: "compose".into(),
            evidence: vec![evidence(file, "a compose file: one build per service")],
        }))
    }

    fn plan(_target: Target) -> Result<BuildPlan, PluginError> {
        let file = compose_file()?
            .ok_or_else(|| PluginError::Failed("no docker-compose.yml in the project".into()))?;
        let text = fs::read_text(file)?
            .ok_or_else(|| invalid(file, "the compose file disappeared during detection"))?;
        duplicates::check(file, &text)?;
        let mut compose = model::parse(file, &text)?;
        let mut warnings = Vec::new();
        let vars = match fs::read_text(".env")? {
            Some(env) => interpolate::parse_env(&env),
            None => Default::default(),
        };
        if let Some(services) = compose.services.as_mut() {
            for (name, body) in services.iter_mut() {
                interpolate::value(body, &vars, &format!("service `{name}`"), &mut warnings)
                    .map_err(|message| invalid(file, message))?;
            }
        }
        let services = services::plan(file, compose, &mut warnings)?;
        Ok(BuildPlan::Project(ProjectPlan {
            services,
            hooks: Vec::new(),
            warnings,
        }))
    }
}

export_plugin!(ComposePlugin);
