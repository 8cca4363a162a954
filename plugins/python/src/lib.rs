//! Python services: requirements.txt, pyproject.toml, Pipfile, or a lone
//! `main.py`/`app.py`. The installer follows the lockfile (poetry.lock,
//! uv.lock, Pipfile.lock). The start command comes from a Procfile `web`
//! entry, Django's `manage.py` (gunicorn when it is a dependency), `main.py`
//! or `app.py`, the first `[project.scripts]` entry, or `python -m <package>`;
//! without one the plan fails clearly. The version from `.python-version`,
//! `runtime.txt` (`python-3.12.1`) or `requires-python`.

use std::collections::BTreeMap;

use serde::Deserialize;
use slipway_plugin_sdk::text::{read_lines, read_procfile, read_toml};
use slipway_plugin_sdk::{
    choose_base_image, evidence, export_plugin, fs, invalid, looks_for, no_base_image, BuildPlan,
    Detection, Dockerfile, DockerfileSource, Evidence, Plugin, PluginError, PluginInfo, Scope,
    ServicePlan, Target, CONTRACT_VERSION, RUNTIME_USER,
};

const MANIFESTS: [(&str, &str); 3] = [
    ("requirements.txt", "Python requirements"),
    ("pyproject.toml", "a Python project (PEP 621)"),
    ("Pipfile", "a Pipenv project"),
];

/// Scripts that make a project Python on their own, with no manifest.
const SCRIPTS: [&str; 3] = ["main.py", "app.py", "manage.py"];

#[derive(Deserialize, Default)]
struct PyProject {
    #[serde(default)]
    project: Option<Project>,
}

#[derive(Deserialize, Default)]
struct Project {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    scripts: BTreeMap<String, String>,
    #[serde(default, rename = "requires-python")]
    requires_python: Option<String>,
}

struct PythonPlugin;

fn found() -> Vec<Evidence> {
    let manifests: Vec<Evidence> = MANIFESTS
        .iter()
        .filter(|(file, _)| fs::is_file(file))
        .map(|(file, why)| evidence(file, *why))
        .collect();
    if !manifests.is_empty() {
        return manifests;
    }
    SCRIPTS
        .iter()
        .find(|file| fs::is_file(file))
        .map(|file| vec![evidence(file, "a Python script, no dependencies declared")])
        .unwrap_or_default()
}

/// Django's project package: the directory holding `wsgi.py` next to `manage.py`.
fn django_project() -> Result<Option<String>, PluginError> {
    if !fs::is_file("manage.py") {
        return Ok(None);
    }
    for entry in fs::list_dir(".")? {
        if entry.kind == fs::Kind::Directory && fs::is_file(&format!("{}/wsgi.py", entry.name)) {
            return Ok(Some(entry.name));
        }
    }
    Ok(None)
}

/// Whether a dependency is declared in requirements.txt, pyproject.toml or Pipfile.
fn declares(package: &str) -> Result<bool, PluginError> {
    let lower = package.to_ascii_lowercase();
    let names = |text: &str| {
        text.to_ascii_lowercase().lines().any(|line| {
            line.trim_start()
                .trim_start_matches('"')
                .starts_with(&lower)
        })
    };
    for file in ["requirements.txt", "pyproject.toml", "Pipfile"] {
        if let Some(text) = fs::read_text(file)? {
            if names(&text) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// `3.12` from `.python-version`, `runtime.txt` (`python-3.12.1`), or
/// `>=3.12` in `requires-python`, in that order.
fn wanted_version(project: Option<&Project>) -> Result<Option<String>, PluginError> {
    if let Some(lines) = read_lines(".python-version")? {
        if let Some(first) = lines.first() {
            return Ok(Some(
                first.text.trim().trim_start_matches("python-").to_string(),
            ));
        }
    }
    if let Some(lines) = read_lines("runtime.txt")? {
        if let Some(first) = lines.first() {
            let version = first.text.trim().trim_start_matches("python-");
            return Ok(Some(version.to_string()));
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
    if let Some(project) = django_project()? {
        return Ok(if declares("gunicorn")? {
            (
                vec![
                    "gunicorn".into(),
                    format!("{project}.wsgi"),
                    "--bind".into(),
                    "0.0.0.0:8000".into(),
                ],
                format!("Django ({project}/wsgi.py): gunicorn {project}.wsgi on port 8000"),
            )
        } else {
            (
                vec![
                    "python".into(),
                    "manage.py".into(),
                    "runserver".into(),
                    "0.0.0.0:8000".into(),
                ],
                format!(
                    "Django ({project}/wsgi.py): manage.py runserver on port 8000; add gunicorn \
                     to the requirements for a production server"
                ),
            )
        });
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
    if let Some(name) = project.and_then(|p| p.name.as_deref()) {
        let module = name.replace('-', "_");
        for path in [
            format!("{module}/__main__.py"),
            format!("src/{module}/__main__.py"),
        ] {
            if fs::is_file(&path) {
                return Ok((
                    vec!["python".into(), "-m".into(), module.clone()],
                    format!("start command: python -m {module} ({path})"),
                ));
            }
        }
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
            looks_for: looks_for(&[
                "requirements.txt",
                "pyproject.toml",
                "Pipfile",
                "main.py",
                "app.py",
                "manage.py",
            ]),
            description:
                "Python from requirements.txt, pyproject.toml, Pipfile, or main.py/app.py/manage.py"
                    .into(),
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
        let mut notes = vec![
            format!("Python {} ({})", base.version, base.image),
            start_note,
        ];
        if let Some(wanted) = &wanted {
            let line: Vec<&str> = wanted.split('.').take(2).collect();
            if !base.version.starts_with(&format!("{}.", line.join("."))) {
                notes.push(format!(
                    "Python {wanted} was asked for but is not offered; using {}",
                    base.version
                ));
            }
        }
        // Build stage: dependencies into a virtualenv (installers stay outside it),
        // lockfile first so a source change reuses the dependency layer.
        let mut dockerfile = Dockerfile::new()
            .stage(&base.image, Some("build"))
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .workdir("/app");
        // The installer itself goes to the system Python, outside /venv.
        let installer = if fs::is_file("poetry.lock") {
            Some("poetry")
        } else if fs::is_file("uv.lock") {
            Some("uv")
        } else if !fs::is_file("requirements.txt") && fs::is_file("Pipfile") {
            Some("pipenv")
        } else {
            None
        };
        if let Some(tool) = installer {
            dockerfile = dockerfile.run(&format!("pip install --no-cache-dir {tool}"));
        }
        dockerfile = dockerfile
            .run("python -m venv /venv")
            .env("VIRTUAL_ENV", "/venv")
            .env("PATH", "/venv/bin:$PATH");
        dockerfile = if fs::is_file("poetry.lock") {
            notes.push("poetry.lock: poetry install --only main".into());
            dockerfile
                .copy(&["pyproject.toml", "poetry.lock"], "./")
                .run(
                    "poetry config virtualenvs.create false \
                     && poetry install --only main --no-root --no-interaction",
                )
        } else if fs::is_file("uv.lock") {
            notes.push("uv.lock: uv sync --frozen --no-dev".into());
            dockerfile
                .env("UV_PROJECT_ENVIRONMENT", "/venv")
                .copy(&["pyproject.toml", "uv.lock"], "./")
                .run("uv sync --frozen --no-dev --no-install-project")
        } else if fs::is_file("requirements.txt") {
            notes.push("dependencies: pip install -r requirements.txt".into());
            dockerfile
                .copy(&["requirements.txt"], "./")
                .run("pip install --no-cache-dir -r requirements.txt")
        } else if fs::is_file("Pipfile") {
            let lock = fs::is_file("Pipfile.lock");
            notes.push(if lock {
                "Pipfile.lock: pipenv install --system --deploy".into()
            } else {
                "Pipfile without a lock: pipenv install --system (commit Pipfile.lock)".into()
            });
            dockerfile.copy(&["Pipfile*"], "./").run(if lock {
                "pipenv install --system --deploy"
            } else {
                "pipenv install --system --skip-lock"
            })
        } else if fs::is_file("pyproject.toml") {
            notes.push("dependencies: pip install . (pyproject.toml)".into());
            dockerfile
                .copy(&["."], ".")
                .run("pip install --no-cache-dir .")
        } else {
            notes.push("no dependencies declared (no requirements.txt or pyproject.toml)".into());
            dockerfile
        };
        // Runtime stage: a fresh base with only the virtualenv and the sources,
        // not root.
        notes.push(format!("runs as uid {RUNTIME_USER}, dependencies in /venv"));
        let dockerfile = dockerfile
            .stage(&base.image, None)
            .env("PYTHONUNBUFFERED", "1")
            .env("VIRTUAL_ENV", "/venv")
            .env("PATH", "/venv/bin:$PATH")
            .workdir("/app")
            .copy_from("build", "/venv", "/venv")
            .copy(&["."], ".")
            .user(RUNTIME_USER);
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
