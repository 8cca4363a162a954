//! Detecting and planning one service.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::balena_config::BuildVariables;
use super::template::{self, TemplateVars};
use super::{call_problem, invalid_project, DetectOptions, Problem, ProblemKind};
use crate::plan::{
    BuildRecipe, Candidate, Dockerfile, DockerfileOrigin, PluginRef, ServicePlan, ServiceSource,
    Target,
};
use crate::plugin_host::api::{
    BuildSpec, DockerfileSource, PlanOutput, ServicePlanOutput, ServiceSpec, ServiceSpecSource,
};
use crate::plugin_host::{CallError, LoadedPlugin, PluginHost, PluginSet};
use crate::source::{self, ProjectDir};

pub(super) struct ServiceContext<'a> {
    pub host: &'a PluginHost,
    pub plugins: &'a PluginSet,
    pub project: &'a ProjectDir,
    pub target: &'a Target,
    pub options: &'a DetectOptions,
    pub variables: &'a BuildVariables,
    /// The plugin that split the project into services, if one did.
    pub composer: Option<&'a PluginRef>,
    /// Plugin answers per context already asked: services that share a
    /// context (a Procfile's processes, compose services built from one
    /// directory) ask the plugins once. Only clean answers are kept.
    pub answers: RefCell<HashMap<PathBuf, Answer<'a>>>,
}

/// What the plugins said about one context: every candidate, and the
/// winner's plan.
#[derive(Clone)]
pub(super) struct Answer<'a> {
    candidates: Vec<Candidate>,
    winner: &'a LoadedPlugin,
    output: ServicePlanOutput,
}

impl<'a> ServiceContext<'a> {
    /// The service's plan, if one could be made. Problems met on the way go
    /// to `problems` even when a plan comes out (a failing plugin that did
    /// not win, for example).
    pub fn plan_service(
        &self,
        spec: ServiceSpec,
        problems: &mut Vec<Problem>,
    ) -> Option<ServicePlan> {
        let name = spec.name;
        let command = spec.command;
        let build = match spec.source {
            ServiceSpecSource::Image(image) => {
                return Some(ServicePlan {
                    name,
                    context: String::new(),
                    source: ServiceSource::Image { image },
                    command,
                    candidates: Vec::new(),
                })
            }
            ServiceSpecSource::Build(build) => build,
        };
        let context_dir = match self.project.context_path(&build.context) {
            Ok(dir) => dir,
            Err(e) => {
                let message = format!("service `{name}`: build context {e}");
                problems.push(invalid_project(Some(&name), message));
                return None;
            }
        };
        let (recipe, candidates) = match &build.dockerfile {
            Some(dockerfile) => self.named_dockerfile(&name, &build, dockerfile, problems)?,
            None => self.detected(&name, &build, &context_dir, problems)?,
        };
        Some(ServicePlan {
            name,
            context: build.context,
            source: ServiceSource::Build(Box::new(recipe)),
            command,
            candidates,
        })
    }

    /// The project names the Dockerfile (compose `build.dockerfile`): no plugin is asked.
    fn named_dockerfile(
        &self,
        name: &str,
        build: &BuildSpec,
        dockerfile: &str,
        problems: &mut Vec<Problem>,
    ) -> Option<(BuildRecipe, Vec<Candidate>)> {
        // Only a project plan names Dockerfiles, so the composing plugin is known.
        let composer = self.composer.cloned().unwrap_or(PluginRef {
            name: "compose".into(),
            version: String::new(),
        });
        let known: Vec<String> = crate::target::all()
            .iter()
            .flat_map(|d| [d.slug.clone(), d.arch.clone()])
            .collect();
        let resolved =
            match super::named_dockerfile::resolve(dockerfile, self.target, &known, |f| {
                self.project.is_file(&source::join(&build.context, f))
            }) {
                Ok(resolved) => resolved,
                Err(message) => {
                    problems.push(invalid_project(
                        Some(name),
                        format!("service `{name}`: {message}"),
                    ));
                    return None;
                }
            };
        let source = if resolved.template {
            DockerfileSource::Template(resolved.file.clone())
        } else {
            DockerfileSource::Path(resolved.file.clone())
        };
        let output = ServicePlanOutput {
            dockerfile: source,
            build_args: Vec::new(),
            labels: Vec::new(),
            notes: vec![resolved.note],
        };
        let candidate = Candidate {
            plugin: composer.name.clone(),
            version: composer.version.clone(),
            project_type: resolved.project_type.into(),
            evidence: vec![crate::plan::Evidence {
                file: source::join(&build.context, &resolved.file),
                reason: format!("named by the compose file for service {name}"),
            }],
            chosen: true,
            error: None,
        };
        let recipe = self.recipe(
            name,
            build,
            resolved.project_type,
            composer,
            output,
            problems,
        )?;
        Some((recipe, vec![candidate]))
    }

    /// The best-ranked plugin's plan for the service, its context asked once.
    fn detected(
        &self,
        name: &str,
        build: &BuildSpec,
        context_dir: &Path,
        problems: &mut Vec<Problem>,
    ) -> Option<(BuildRecipe, Vec<Candidate>)> {
        let known = self.answers.borrow().get(context_dir).cloned();
        let answer = match known {
            Some(answer) => answer,
            None => {
                let before = problems.len();
                let answer = self.ask(name, build, context_dir, problems)?;
                if problems.len() == before {
                    self.answers
                        .borrow_mut()
                        .insert(context_dir.to_path_buf(), answer.clone());
                }
                answer
            }
        };
        let recipe = self.recipe(
            name,
            build,
            &answer.winner.info.name,
            answer.winner.reference(),
            answer.output,
            problems,
        )?;
        Some((recipe, answer.candidates))
    }

    /// Asks every service plugin; the best-ranked match plans the service.
    fn ask(
        &self,
        name: &str,
        build: &BuildSpec,
        context_dir: &Path,
        problems: &mut Vec<Problem>,
    ) -> Option<Answer<'a>> {
        let mut candidates = Vec::new();
        let mut winner: Option<&'a LoadedPlugin> = None;
        let names = super::root_names(context_dir);
        for plugin in self.plugins.service_plugins() {
            if !plugin.worth_asking(names.as_deref()) {
                continue;
            }
            match self.host.detect(plugin, context_dir, self.target) {
                Ok(Some(detection)) => {
                    let chosen = winner.is_none();
                    if chosen {
                        winner = Some(plugin);
                    }
                    candidates.push(Candidate {
                        plugin: plugin.info.name.clone(),
                        version: plugin.info.version.clone(),
                        project_type: detection.project_type,
                        evidence: detection.evidence,
                        chosen,
                        error: None,
                    });
                }
                Ok(None) => {}
                Err(error) => {
                    candidates.push(Candidate {
                        plugin: plugin.info.name.clone(),
                        version: plugin.info.version.clone(),
                        project_type: String::new(),
                        evidence: Vec::new(),
                        chosen: false,
                        error: Some(error.to_string()),
                    });
                    problems.push(call_problem(Some(name), plugin, "detect", error));
                }
            }
        }
        let Some(plugin) = winner else {
            problems.push(Problem {
                kind: ProblemKind::NothingDetected,
                service: Some(name.to_string()),
                plugin: None,
                message: self.nothing_detected(name, &build.context, names.as_deref()),
            });
            return None;
        };
        let output = match self.host.plan(plugin, context_dir, self.target) {
            Ok(PlanOutput::Service(output)) => output,
            Ok(PlanOutput::Project(_)) => {
                problems.push(call_problem(
                    Some(name),
                    plugin,
                    "plan",
                    CallError::Malformed("a service-scope plugin returned a project plan".into()),
                ));
                return None;
            }
            Err(error) => {
                problems.push(call_problem(Some(name), plugin, "plan", error));
                return None;
            }
        };
        Some(Answer {
            candidates,
            winner: plugin,
            output,
        })
    }

    /// What was looked for, one plugin a line, and what the context seems
    /// to be when no plugin claims it.
    /// `names` is the context's listing, made once for `looks-for`.
    fn nothing_detected(&self, name: &str, context: &str, names: Option<&[String]>) -> String {
        let mut message = format!(
            "service `{name}`: nothing detected in `{context}` for {}. Looked for:",
            self.target.device_type
        );
        for plugin in self.plugins.service_plugins() {
            let what = if plugin.info.looks_for.is_empty() {
                plugin.info.description.clone()
            } else {
                format!(
                    "{} ({})",
                    plugin.info.looks_for.join(", "),
                    plugin.info.description
                )
            };
            message.push_str(&format!("\n  {}: {what}", plugin.info.name));
        }
        let entries = names.unwrap_or_default();
        match super::unclaimed::recognise(entries) {
            Some(guess) => message.push_str(&format!("\n{guess}")),
            None if names.is_some_and(|n| n.is_empty()) => {
                message.push_str(&format!("\n`{context}` is empty"));
            }
            None => {}
        }
        message
    }

    /// Resolves the plugin's answer into a recipe: reads and substitutes the
    /// Dockerfile and merges build args from balena.yml and compose.
    fn recipe(
        &self,
        name: &str,
        build: &BuildSpec,
        project_type: &str,
        plugin: PluginRef,
        output: ServicePlanOutput,
        problems: &mut Vec<Problem>,
    ) -> Option<BuildRecipe> {
        let mut notes = output.notes;
        let dockerfile = match self.dockerfile(name, &build.context, output.dockerfile) {
            Ok(dockerfile) => dockerfile,
            Err(problem) => {
                problems.push(problem);
                return None;
            }
        };
        let build_args = self.build_args(name, output.build_args, &build.args, &mut notes);
        Some(BuildRecipe {
            project_type: project_type.to_string(),
            plugin,
            dockerfile,
            build_args,
            labels: output.labels.into_iter().collect(),
            target_stage: build.target.clone(),
            notes,
            secrets: self.variables.secrets.for_service(name),
        })
    }

    fn dockerfile(
        &self,
        service: &str,
        context: &str,
        source: DockerfileSource,
    ) -> Result<Dockerfile, Problem> {
        let read = |path: &str| {
            self.project
                .read_text(&source::join(context, path))
                .map_err(|e| invalid_project(Some(service), format!("service `{service}`: {e}")))
        };
        match source {
            DockerfileSource::Generated(content) => Ok(Dockerfile {
                origin: DockerfileOrigin::Generated,
                source_path: None,
                content,
            }),
            DockerfileSource::Path(path) => Ok(Dockerfile {
                origin: DockerfileOrigin::File,
                content: read(&path)?,
                source_path: Some(path),
            }),
            DockerfileSource::Template(path) => {
                let text = read(&path)?;
                let vars = TemplateVars::new(
                    self.target,
                    service,
                    &self.options.app,
                    &self.options.release_hash,
                );
                let content = template::substitute(&source::join(context, &path), &text, &vars)
                    .map_err(|e| invalid_project(Some(service), e.to_string()))?;
                Ok(Dockerfile {
                    origin: DockerfileOrigin::Template,
                    source_path: Some(path),
                    content,
                })
            }
        }
    }

    /// Plugin args, then balena.yml global and per-service variables, then
    /// compose args: later sources win, and an override is noted.
    fn build_args(
        &self,
        service: &str,
        from_plugin: Vec<(String, String)>,
        from_compose: &[(String, String)],
        notes: &mut Vec<String>,
    ) -> BTreeMap<String, String> {
        let mut args: BTreeMap<String, String> = from_plugin.into_iter().collect();
        let balena_file = self.variables.file.as_deref().unwrap_or("balena.yml");
        let balena = self
            .variables
            .global
            .iter()
            .chain(self.variables.services.get(service).into_iter().flatten());
        for (key, value) in balena {
            args.insert(key.clone(), value.clone());
        }
        for (key, value) in from_compose {
            if let Some(previous) = args.insert(key.clone(), value.clone()) {
                if &previous != value {
                    notes.push(format!(
                        "build arg {key}: the compose file's value overrides {balena_file}'s build-variables"
                    ));
                }
            }
        }
        args
    }
}
