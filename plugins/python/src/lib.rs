//! Python services: requirements.txt, pyproject.toml or Pipfile. The start
//! command comes from a Procfile `web` entry, `main.py`/`app.py`, or the
//! first `[project.scripts]` entry; without one the plan fails clearly.

use std::collections::BTreeMap;

use serde::Deserialize;
use slipway_plugin_sdk::text::{read_lines, read_procfile, read_toml};
use slipway_plugin_sdk::{
    choose_base_image, evidence, export_plugin, fs, invalid, no_base_image, BuildPlan, Detection,
    Dockerfile, DockerfileSource, Evidence, Plugin, PluginError, PluginInfo, Scope, ServicePlan,
    Target, CONTRACT_VERSION, looks_for,
};

const MANIFESTS: [(&str, &str); 3] = [
    ("requirements.txt", "Python requirements"),
    ("pyproject.toml", "a Python project (PEP 621)"),
    ("Pipfile", "a Pipenv project"),
];

#[derive(Deserialize, Default)]
struct PyProject {
    #[serde(default)]
    project: Option<Project>,
}

#[derive(Deserialize, Default)]
struct Project {
    #[serde(default)]
    scripts: BTreeMap<String, String>,
    #[serde(default, rename = "requires-python")]
    requires_python: Option<String>,
}

struct PythonPlugin;

fn found() -> Vec<Evidence> {
    MANIFESTS
        .iter()
        .filter(|(file, _)| fs::is_file(file))
        .map(|(file, why)| evidence(file, *why))
        .collect()
}

/// `3.12` from `.python-version`, or from `>=3.12` in `requires-python`.
fn wanted_version(project: Option<&Project>) -> Result<Option<String>, PluginError> {
    if let Some(lines) = read_lines(".python-version")? {
        if let Some(first) = lines.first() {
            return Ok(Some(first.text.clone()));
        }
    }
    let requires = project.and_then(|p| p.requires_python.as_deref());
    Ok(requires.map(|r| {
        r.trim_start_matches(|c: char| !c.is_ascii_digit())
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()
            .unwrap_or_default()
            .to_string()
    }))
}

/// The start command, and where it came from.
fn start_command(project: Option<&Project>) -> Result<(Vec<String>, String), PluginError> {
    if let Some(processes) = read_procfile("Procfile")? {
        if let Some((_, command, line)) = processes.iter().find(|(name, _, _)| name == "web") {
            return Ok((
                vec!["sh".into(), "-c".into(), command.clone()],
                format!("start command from Procfile line {line} (web)"),
            ));
        }
    }
    for file in ["main.py", "app.py"] {
        if fs::is_file(file) {
            return Ok((
                vec!["python".into(), file.into()],
                format!("start command: python {file}"),
            ));
        }
    }
    if let Some((name, target)) = project.and_then(|p| p.scripts.iter().next()) {
        return Ok((
            vec![name.clone()],
            format!("start command: the `{name}` script ({target}) from pyproject.toml"),
        ));
    }
    let manifest = found().first().map(|e| e.file.clone()).unwrap_or_default();
    Err(invalid(
        &manifest,
        "no start command: add a Procfile with a `web:` entry, a main.py or app.py, \
         or a [project.scripts] entry in pyproject.toml",
    ))
}

impl Plugin for PythonPlugin {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "python".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: CONTRACT_VERSION.into(),
            priority: 90,
            scope: Scope::Service,
            looks_for: looks_for(&["requirements.txt", "pyproject.toml", "Pipfile"]),
            description: "Python from requirements.txt, pyproject.toml or Pipfile".into(),
        }
    }

    fn detect(_target: Target) -> Result<Option<Detection>, PluginError> {
        let evidence = found();
        Ok((!evidence.is_empty()).then(|| Detection {
            project_type: "python".into(),
            evidence,
        }))
    }

    fn plan(target: Target) -> Result<BuildPlan, PluginError> {
        let pyproject: Option<PyProject> = read_toml("pyproject.toml")?;
        let project = pyproject.as_ref().and_then(|p| p.project.as_ref());
        let wanted = wanted_version(project)?;
        let base = choose_base_image("python", &target, wanted.as_deref())
            .ok_or_else(|| no_base_image("python", &target))?;
        let (command, start_note) = start_command(project)?;
        let mut notes = vec![format!("Python {} ({})", base.version, base.image), start_note];
        let mut dockerfile = Dockerfile::from(&base.image)
            .env("PYTHONUNBUFFERED", "1")
            .workdir("/app");
        dockerfile = if fs::is_file("requirements.txt") {
            notes.push("dependencies: pip install -r requirements.txt".into());
            dockerfile
                .copy(&["requirements.txt"], "./")
                .run("pip install --no-cache-dir -r requirements.txt")
                .copy(&["."], ".")
        } else if fs::is_file("Pipfile") {
            notes.push("dependencies: pipenv install --system --deploy".into());
            dockerfile
                .copy(&["Pipfile*"], "./")
                .run("pip install --no-cache-dir pipenv && pipenv install --system --deploy")
                .copy(&["."], ".")
        } else {
            notes.push("dependencies: pip install . (pyproject.toml)".into());
            dockerfile
                .copy(&["."], ".")
                .run("pip install --no-cache-dir .")
        };
        let words: Vec<&str> = command.iter().map(String::as_str).collect();
        Ok(BuildPlan::Service(ServicePlan {
            dockerfile: DockerfileSource::Generated(dockerfile.cmd(&words).render()),
            build_args: Vec::new(),
            labels: vec![("io.slipway.python.version".into(), base.version)],
            notes,
        }))
    }
}

export_plugin!(PythonPlugin);
