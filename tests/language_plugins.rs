//! The built-in language plugins (python, go, rust, static) against the
//! example projects and their failure cases, through `slipway detect`.

mod common;

use common::{detect, root, TempProject};

fn example(name: &str) -> std::path::PathBuf {
    root().join("examples").join(name)
}

fn dockerfile(out: &common::Detected) -> String {
    out.service("main")["dockerfile"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn python_example_gets_a_pip_dockerfile_per_arch() {
    let out = detect(&example("python-app"), "raspberrypi4-64", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.service("main")["project_type"], "python");
    let text = dockerfile(&out);
    assert!(
        text.starts_with("FROM arm64v8/python:3.12-slim-bookworm AS build\n"),
        "{text}"
    );
    assert!(
        text.contains("RUN pip install --no-cache-dir -r requirements.txt"),
        "{text}"
    );
    // A runtime stage with only the virtualenv and the sources, not root.
    assert!(
        text.contains("\nFROM arm64v8/python:3.12-slim-bookworm\n"),
        "{text}"
    );
    assert!(text.contains("COPY --from=build /venv /venv\n"), "{text}");
    assert!(
        text.ends_with("USER 1000:1000\nCMD [\"python\",\"app.py\"]\n"),
        "{text}"
    );
    let x86 = detect(&example("python-app"), "intel-nuc", &[]);
    assert!(dockerfile(&x86).starts_with("FROM amd64/python:3.12-slim-bookworm AS build\n"));
}

#[test]
fn python_with_a_procfile_runs_its_web_process() {
    let project = TempProject::new(
        "py",
        &[
            ("pyproject.toml", "[project]\nname = \"svc\"\nrequires-python = \">=3.11\"\n[project.scripts]\nsvc = \"svc:main\"\n"),
            ("Procfile", "# processes\nweb: gunicorn svc:app --bind 0.0.0.0:$PORT\n"),
            ("main.py", "print('x')\n"),
        ],
    );
    let out = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    // The Procfile makes the process type the service (procfile plugin)...
    let web = out.service("web");
    assert_eq!(web["project_type"], "python");
    assert_eq!(
        web["command"]["command"],
        "gunicorn svc:app --bind 0.0.0.0:$PORT"
    );
    // ...and the python plugin's image starts that process by itself too.
    let text = web["dockerfile"].as_str().unwrap();
    assert!(
        text.starts_with("FROM amd64/python:3.11-slim-bookworm AS build\n"),
        "{text}"
    );
    assert!(text.contains("RUN pip install --no-cache-dir ."), "{text}");
    assert!(
        text.contains("CMD [\"sh\",\"-c\",\"gunicorn svc:app --bind 0.0.0.0:$PORT\"]"),
        "{text}"
    );
}

#[test]
fn python_without_a_start_command_is_a_clear_error() {
    let project = TempProject::new(
        "py",
        &[("requirements.txt", "flask==3.0\n"), ("lib.py", "")],
    );
    let out = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 21, "{}", out.stderr);
    let errors = out.errors().join("\n");
    assert!(errors.contains("requirements.txt"), "{errors}");
    assert!(errors.contains("no start command"), "{errors}");
    assert!(errors.contains("Procfile"), "{errors}");
}

#[test]
fn go_example_builds_a_static_binary_in_two_stages() {
    let out = detect(&example("go-hello"), "raspberrypi3", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.service("main")["project_type"], "go");
    let text = dockerfile(&out);
    assert!(
        text.starts_with("FROM arm32v7/golang:1.22-bookworm AS build\n"),
        "{text}"
    );
    assert!(text.contains("CGO_ENABLED=0 go build"), "{text}");
    assert!(text.contains("-o /out/go-hello ."), "{text}");
    assert!(text.contains("\nFROM scratch\n"), "{text}");
    assert!(
        text.ends_with("USER 1000:1000\nCMD [\"/go-hello\"]\n"),
        "{text}"
    );
}

#[test]
fn go_mod_without_a_module_line_is_an_error_naming_the_file() {
    let project = TempProject::new(
        "go",
        &[("go.mod", "go 1.22\n"), ("main.go", "package main\n")],
    );
    let out = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 21, "{}", out.stderr);
    let errors = out.errors().join("\n");
    assert!(
        errors.contains("go.mod") && errors.contains("no `module` line"),
        "{errors}"
    );
}

#[test]
fn rust_example_ships_the_package_binary() {
    let out = detect(&example("rust-hello"), "intel-nuc", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = dockerfile(&out);
    assert!(
        text.starts_with("FROM amd64/rust:1.83-slim-bookworm AS build\n"),
        "{text}"
    );
    assert!(
        text.contains("RUN cargo build --release --bin rust-hello"),
        "{text}"
    );
    assert!(text.contains("FROM amd64/debian:bookworm-slim\n"), "{text}");
    assert!(
        text.ends_with("USER 1000:1000\nCMD [\"rust-hello\"]\n"),
        "{text}"
    );
}

#[test]
fn rust_binary_comes_from_bin_sections_and_a_bare_workspace_is_an_error() {
    let bins = TempProject::new(
        "rs",
        &[("Cargo.toml", "[package]\nname = \"tools\"\nversion = \"0.1.0\"\n[[bin]]\nname = \"agent\"\npath = \"src/agent.rs\"\n")],
    );
    let out = detect(bins.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(dockerfile(&out).contains("--bin agent"));

    let several = TempProject::new(
        "rs",
        &[("Cargo.toml", "[package]\nname = \"tools\"\nversion = \"0.1.0\"\n[[bin]]\nname = \"a\"\n[[bin]]\nname = \"b\"\n")],
    );
    let out = detect(several.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 21);
    assert!(
        out.errors().join("\n").contains("several binaries (a, b)"),
        "{:?}",
        out.errors()
    );

    let workspace = TempProject::new(
        "rs",
        &[(
            "Cargo.toml",
            "[workspace]\nmembers = [\"api\", \"agent\"]\n",
        )],
    );
    let out = detect(workspace.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 21);
    let errors = out.errors().join("\n");
    assert!(errors.contains("Cargo.toml"), "{errors}");
    assert!(
        errors.contains("a workspace with no binary among its members (api, agent)"),
        "{errors}"
    );

    let broken = TempProject::new("rs", &[("Cargo.toml", "[package]\nname = \n")]);
    let out = detect(broken.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 21);
    assert!(
        out.errors().join("\n").contains("invalid TOML"),
        "{:?}",
        out.errors()
    );
}

#[test]
fn static_site_is_served_by_busybox_httpd() {
    let site = TempProject::new(
        "site",
        &[
            ("index.html", "<h1>hi</h1>"),
            ("docs/a.html", ""),
            ("docs/deep/b.html", ""),
            ("node_modules/x/c.html", ""),
            ("style.css", ""),
        ],
    );
    let out = detect(site.path(), "intel-nuc", &[]);
    let notes = out.service("main")["notes"].to_string();
    assert!(
        notes.contains("3 HTML page(s): docs/a.html, docs/deep/b.html, index.html"),
        "the SDK's glob finds the pages, skipping node_modules: {notes}"
    );
    let out = detect(&example("static-site"), "raspberry-pi", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = dockerfile(&out);
    assert!(text.starts_with("FROM arm32v6/busybox:1.36\n"), "{text}");
    assert!(text.contains("httpd"), "{text}");
}

#[test]
fn several_languages_in_one_context_choose_deterministically_and_explain() {
    let project = TempProject::new(
        "mixed",
        &[
            ("package.json", r#"{"name": "mixed", "main": "index.js"}"#),
            ("index.js", ""),
            ("requirements.txt", "flask\n"),
            ("app.py", ""),
            ("index.html", "<h1>hi</h1>"),
        ],
    );
    let out = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        common::chosen_plugins(out.service("main")),
        vec![
            ("node".to_string(), true),
            ("python".to_string(), false),
            ("static".to_string(), false)
        ]
    );
}

#[test]
fn a_monorepo_app_is_chosen_with_context() {
    let project = TempProject::new(
        "mono",
        &[
            ("apps/api/requirements.txt", "flask\n"),
            ("apps/api/app.py", ""),
            ("apps/site/index.html", "<h1>hi</h1>"),
        ],
    );
    let root_only = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(
        root_only.code, 20,
        "nothing at the root: {}",
        root_only.stderr
    );

    let api = detect(project.path(), "intel-nuc", &["--context", "apps/api"]);
    assert_eq!(api.code, 0, "{}", api.stderr);
    assert_eq!(api.service("main")["project_type"], "python");
    assert_eq!(api.service("main")["context"], "apps/api");

    let site = detect(project.path(), "intel-nuc", &["--context", "apps/site/"]);
    assert_eq!(site.service("main")["project_type"], "static");

    let missing = detect(project.path(), "intel-nuc", &["--context", "apps/nope"]);
    assert_eq!(missing.code, 21);
    assert!(
        missing.errors().join("\n").contains("apps/nope"),
        "{:?}",
        missing.errors()
    );
}
