//! Python and static-site layouts real projects use: Django, a lone
//! main.py, poetry and uv lockfiles, runtime.txt, a Staticfile, public/.

mod common;

use common::{detect, root, TempProject};

use common::{main_dockerfile as dockerfile, main_notes as notes};

#[test]
fn django_runs_under_gunicorn_on_the_pinned_python() {
    let out = detect(&root().join("examples/django-app"), "intel-nuc", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = dockerfile(&out);
    assert!(
        text.starts_with("FROM amd64/python:3.12-slim-bookworm AS build\n"),
        "{text}"
    );
    assert!(
        text.ends_with("CMD [\"gunicorn\",\"mysite.wsgi\",\"--bind\",\"0.0.0.0:8000\"]\n"),
        "{text}"
    );
    assert!(
        notes(&out).contains("Django (mysite/wsgi.py)"),
        "{}",
        notes(&out)
    );
}

#[test]
fn django_without_gunicorn_uses_runserver_and_says_so() {
    let project = TempProject::new(
        "dj",
        &[
            ("requirements.txt", "Django\n"),
            ("manage.py", ""),
            ("site1/wsgi.py", ""),
        ],
    );
    let out = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(dockerfile(&out).contains("\"manage.py\",\"runserver\",\"0.0.0.0:8000\""));
    assert!(notes(&out).contains("add gunicorn"));
}

#[test]
fn a_lone_main_py_is_a_python_project() {
    let project = TempProject::new("script", &[("main.py", "print('hi')\n")]);
    let out = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.service("main")["project_type"], "python");
    assert!(dockerfile(&out).ends_with("CMD [\"python\",\"main.py\"]\n"));
    assert!(notes(&out).contains("no dependencies declared"));
}

#[test]
fn lockfiles_pick_their_installer() {
    for (lock, expected) in [
        ("poetry.lock", "poetry install --only main"),
        ("uv.lock", "uv sync --frozen --no-dev"),
    ] {
        let project = TempProject::new(
            "locked",
            &[
                (
                    "pyproject.toml",
                    "[project]\nname = \"svc\"\n[project.scripts]\nsvc = \"svc:main\"\n",
                ),
                (lock, ""),
            ],
        );
        let out = detect(project.path(), "intel-nuc", &[]);
        assert_eq!(out.code, 0, "{lock}: {}", out.stderr);
        assert!(
            dockerfile(&out).contains(expected),
            "{lock}: {}",
            dockerfile(&out)
        );
    }
    let pipenv = TempProject::new(
        "pipenv",
        &[
            ("Pipfile", "[packages]\n"),
            ("Pipfile.lock", "{}"),
            ("app.py", ""),
        ],
    );
    let out = detect(pipenv.path(), "intel-nuc", &[]);
    assert!(dockerfile(&out).contains("pipenv install --system --deploy"));
}

#[test]
fn a_package_with_main_module_runs_with_dash_m() {
    let project = TempProject::new(
        "pkg",
        &[
            ("pyproject.toml", "[project]\nname = \"my-tool\"\n"),
            ("my_tool/__main__.py", "print('x')\n"),
        ],
    );
    let out = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(dockerfile(&out).ends_with("CMD [\"python\",\"-m\",\"my_tool\"]\n"));
}

#[test]
fn python_version_files_are_honoured_or_named() {
    let project = TempProject::new(
        "pinned",
        &[
            (".python-version", "3.11.4\n"),
            ("requirements.txt", ""),
            ("app.py", ""),
        ],
    );
    let out = detect(project.path(), "intel-nuc", &[]);
    assert!(dockerfile(&out).starts_with("FROM amd64/python:3.11-slim-bookworm AS build\n"));
    let old = TempProject::new(
        "old",
        &[
            ("runtime.txt", "python-3.8.10\n"),
            ("requirements.txt", ""),
            ("app.py", ""),
        ],
    );
    let out = detect(old.path(), "intel-nuc", &[]);
    assert!(
        notes(&out).contains("Python 3.8.10 was asked for but is not offered"),
        "{}",
        notes(&out)
    );
}

#[test]
fn staticfile_root_and_public_index_are_sites() {
    let staticfile = TempProject::new(
        "sf",
        &[
            ("Staticfile", "root: site\n"),
            ("site/index.html", "<p>hi</p>"),
        ],
    );
    let out = detect(staticfile.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.service("main")["project_type"], "static");
    assert!(
        dockerfile(&out).contains("COPY site /www\n"),
        "{}",
        dockerfile(&out)
    );

    let public = TempProject::new("pub", &[("public/index.html", "<p>hi</p>")]);
    let out = detect(public.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        dockerfile(&out).contains("COPY public /www\n"),
        "{}",
        dockerfile(&out)
    );

    let escaping = TempProject::new("esc", &[("Staticfile", "root: ../etc\n")]);
    let out = detect(escaping.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 21);
    assert!(out
        .errors()
        .join("\n")
        .contains("Staticfile:1:1: root `../etc` must be a directory inside the project"));
}

#[test]
fn a_rust_workspace_with_one_binary_member_builds_it() {
    let project = TempProject::new(
        "ws",
        &[
            ("Cargo.toml", "[workspace]\nmembers = [\"crates/*\"]\n"),
            ("crates/core/Cargo.toml", "[package]\nname = \"core\"\n"),
            ("crates/core/src/lib.rs", ""),
            ("crates/server/Cargo.toml", "[package]\nname = \"server\"\n"),
            ("crates/server/src/main.rs", "fn main() {}\n"),
        ],
    );
    let out = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        dockerfile(&out).contains("cargo build --release --bin server"),
        "{}",
        dockerfile(&out)
    );
    assert!(notes(&out).contains("the workspace's only binary (member crates/server)"));
    std::fs::create_dir_all(project.path().join("crates/cli/src")).unwrap();
    std::fs::write(
        project.path().join("crates/cli/Cargo.toml"),
        "[package]\nname = \"cli\"\n",
    )
    .unwrap();
    std::fs::write(project.path().join("crates/cli/src/main.rs"), "").unwrap();
    let out = detect(project.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 21);
    assert!(
        out.errors()
            .join("\n")
            .contains("several binaries (cli in crates/cli, server in crates/server)"),
        "{:?}",
        out.errors()
    );
}

#[test]
fn go_without_go_mod_and_go_with_cgo() {
    let lone = TempProject::new("gomain", &[("main.go", "package main\nfunc main() {}\n")]);
    let out = detect(lone.path(), "intel-nuc", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.service("main")["project_type"], "go");
    assert!(
        dockerfile(&out).contains("RUN go mod init app && go mod tidy\n"),
        "{}",
        dockerfile(&out)
    );
    assert!(dockerfile(&out).contains("FROM scratch\n"));

    let cgo = TempProject::new(
        "gocgo",
        &[
            ("go.mod", "module example.com/sqlite-app\n\ngo 1.23\n"),
            (
                "main.go",
                "package main\n\n// #include <stdio.h>\nimport \"C\"\n\nfunc main() {}\n",
            ),
        ],
    );
    let out = detect(cgo.path(), "raspberrypi4-64", &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let text = dockerfile(&out);
    assert!(text.contains("CGO_ENABLED=1 go build"), "{text}");
    assert!(
        text.contains("FROM arm64v8/debian:bookworm-slim\n"),
        "{text}"
    );
    assert!(!text.contains("FROM scratch"), "{text}");
}
