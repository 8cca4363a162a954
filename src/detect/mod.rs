//! Detection: runs the plugins over a project and produces its build plan.
//!
//! At the project root a project-scope plugin (compose, Procfile) may split
//! the project into services, with commands and release hooks; without one, the project is one service, `main`, built from
//! the root. In each service context every service-scope plugin is asked, and
//! the best-ranked match plans the service (see `PluginSet` for the ranking):
//! `Dockerfile.<device-type>` > `Dockerfile.<arch>` > `Dockerfile.template` >
//! `Dockerfile` > `package.json` > custom plugins by priority.

pub mod balena_config;
mod named_dockerfile;
pub mod report;
mod service;
pub mod template;
mod unclaimed;

use crate::plan::{BuildPlan, Command, Composition, Hook, Target, DEFAULT_SERVICE};
use crate::plugin_host::api::{
    BuildSpec, PlanOutput, ProjectPlanOutput, ServiceSpec, ServiceSpecSource,
};
use crate::plugin_host::{CallError, LoadedPlugin, PluginHost, PluginSet};
use crate::source::ProjectDir;
pub use report::{DetectReport, Problem, ProblemKind};

/// Names that shape the plan but are not in the project.
#[derive(Debug, Clone)]
pub struct DetectOptions {
    /// The app name (`%%BALENA_APP_NAME%%`).
    pub app: String,
    /// The release hash (`%%BALENA_RELEASE_HASH%%`); a placeholder in dry runs.
    pub release_hash: String,
    /// The build context of the single service of a project without a
    /// compose file (a monorepo's app directory); the root when `None`.
    pub context: Option<String>,
}

/// Detects and plans every service of `project` for `target`.
pub fn detect(
    host: &PluginHost,
    plugins: &PluginSet,
    project: &ProjectDir,
    target: &Target,
    options: &DetectOptions,
) -> DetectReport {
    let mut report = DetectReport {
        plan: BuildPlan {
            app: options.app.clone(),
            target: target.clone(),
            composition: Composition::SingleService,
            services: Vec::new(),
            hooks: Vec::new(),
            warnings: Vec::new(),
        },
        problems: Vec::new(),
    };
    for error in &plugins.load_errors {
        report.problems.push(Problem {
            kind: ProblemKind::PluginFailed,
            service: None,
            plugin: None,
            message: error.to_string(),
        });
    }
    let variables = match balena_config::load(project) {
        Ok(variables) => variables,
        Err(e) => {
            report.problems.push(invalid_project(None, e.to_string()));
            return report;
        }
    };
    let Some(Composed {
        composition,
        services: mut specs,
        hooks,
        warnings,
    }) = compose(host, plugins, project, target, &mut report)
    else {
        return report;
    };
    if let Some(context) = &options.context {
        match &composition {
            Composition::Plugin { file, .. } => {
                report.problems.push(invalid_project(
                    None,
                    format!("--context {context}: {file} splits the project into services with their own contexts; --context is for a project of one service"),
                ));
                return report;
            }
            Composition::SingleService => {
                for spec in &mut specs {
                    if let ServiceSpecSource::Build(build) = &mut spec.source {
                        build.context = context.trim_end_matches('/').to_string();
                    }
                }
            }
        }
    }
    report.plan.composition = composition;
    report.plan.hooks = hooks;
    report.plan.warnings.extend(warnings);
    for service in variables.services.keys() {
        if !specs.iter().any(|s| &s.name == service) {
            report.plan.warnings.push(format!(
                "{}: build-variables for service `{service}`, which the project does not have",
                variables.file.as_deref().unwrap_or("balena.yml")
            ));
        }
    }
    let context = service::ServiceContext {
        host,
        plugins,
        project,
        target,
        options,
        variables: &variables,
        composer: match &report.plan.composition {
            Composition::Plugin { plugin, .. } => Some(plugin),
            Composition::SingleService => None,
        },
        answers: Default::default(),
    };
    for spec in specs {
        if let Some(planned) = context.plan_service(spec, &mut report.problems) {
            report.plan.services.push(planned);
        }
    }
    report
}

/// How a project splits into services, before each service is planned.
struct Composed {
    composition: Composition,
    services: Vec<ServiceSpec>,
    hooks: Vec<Hook>,
    warnings: Vec<String>,
}

/// The services of the project: from the best project-scope plugin that
/// recognises the root, else the single default service.
fn compose(
    host: &PluginHost,
    plugins: &PluginSet,
    project: &ProjectDir,
    target: &Target,
    report: &mut DetectReport,
) -> Option<Composed> {
    let names = root_names(project.root());
    for plugin in plugins.project_plugins() {
        if !plugin.worth_asking(names.as_deref()) {
            continue;
        }
        let detection = match host.detect(plugin, project.root(), target) {
            Ok(found) => found,
            Err(error) => {
                report
                    .problems
                    .push(call_problem(None, plugin, "detect", error));
                continue;
            }
        };
        let Some(detection) = detection else { continue };
        let file = detection
            .evidence
            .first()
            .map(|e| e.file.clone())
            .unwrap_or_default();
        return match host.plan(plugin, project.root(), target) {
            Ok(PlanOutput::Project(plan)) => match check_project_plan(&plan) {
                Ok(()) => Some(Composed {
                    composition: Composition::Plugin {
                        kind: detection.project_type,
                        file,
                        plugin: plugin.reference(),
                    },
                    services: plan.services,
                    hooks: plan.hooks,
                    warnings: plan.warnings,
                }),
                Err(reason) => {
                    report.problems.push(call_problem(
                        None,
                        plugin,
                        "plan",
                        CallError::Malformed(reason),
                    ));
                    None
                }
            },
            Ok(PlanOutput::Service(_)) => {
                report.problems.push(call_problem(
                    None,
                    plugin,
                    "plan",
                    CallError::Malformed("a project-scope plugin returned a service plan".into()),
                ));
                None
            }
            Err(error) => {
                report
                    .problems
                    .push(call_problem(None, plugin, "plan", error));
                None
            }
        };
    }
    let main = ServiceSpec {
        name: DEFAULT_SERVICE.to_string(),
        source: ServiceSpecSource::Build(BuildSpec {
            context: ".".into(),
            dockerfile: None,
            args: Vec::new(),
            target: None,
        }),
        command: None,
    };
    Some(Composed {
        composition: Composition::SingleService,
        services: vec![main],
        hooks: Vec::new(),
        warnings: Vec::new(),
    })
}

/// What the host relies on in a project plan, whoever wrote it: unique
/// service names, commands that run something, hooks naming a service.
fn check_project_plan(plan: &ProjectPlanOutput) -> Result<(), String> {
    let mut names = std::collections::BTreeSet::new();
    for service in &plan.services {
        if !names.insert(service.name.as_str()) {
            return Err(format!("service `{}` is planned twice", service.name));
        }
        if service.command.as_ref().is_some_and(is_empty_command) {
            return Err(format!("service `{}` has an empty command", service.name));
        }
    }
    for hook in &plan.hooks {
        let phase = hook.phase.as_str();
        if !names.contains(hook.service.as_str()) {
            return Err(format!(
                "the {phase} hook runs in service `{}`, which the plan does not have",
                hook.service
            ));
        }
        if is_empty_command(&hook.command) {
            return Err(format!("the {phase} hook has an empty command"));
        }
    }
    Ok(())
}

fn is_empty_command(command: &Command) -> bool {
    match command {
        Command::Shell(line) => line.trim().is_empty(),
        Command::Exec(argv) => argv.first().is_none_or(|program| program.is_empty()),
    }
}

/// The entry names at the root of a tree, to skip plugins whose files are
/// absent. None when the directory cannot be listed: then every plugin is
/// asked, and meets the problem through its own view.
fn root_names(dir: &std::path::Path) -> Option<Vec<String>> {
    let entries = std::fs::read_dir(dir).ok()?;
    Some(
        entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
    )
}

fn invalid_project(service: Option<&str>, message: String) -> Problem {
    Problem {
        kind: ProblemKind::InvalidProject,
        service: service.map(str::to_string),
        plugin: None,
        message,
    }
}

/// A failed call as a problem: an invalid project when the plugin said so,
/// a plugin failure otherwise.
fn call_problem(
    service: Option<&str>,
    plugin: &LoadedPlugin,
    call: &str,
    error: CallError,
) -> Problem {
    let kind = if error.is_invalid_project() {
        ProblemKind::InvalidProject
    } else {
        ProblemKind::PluginFailed
    };
    let message = if error.is_invalid_project() {
        format!("{error} (reported by plugin {})", plugin.reference())
    } else {
        format!("plugin {} failed in {call}: {error}", plugin.reference())
    };
    Problem {
        kind,
        service: service.map(str::to_string),
        plugin: Some(plugin.reference().to_string()),
        message,
    }
}
