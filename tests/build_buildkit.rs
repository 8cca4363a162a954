//! BuildKit on the real engine: cache mounts and multi-stage builds for
//! amd64 and (emulated) arm64, skipped unused stages, build secrets, images
//! without a CMD on both builders, and the classic fallback.

mod common;

use common::{build, docker, docker_available, releases, slipway_in, TempProject};
use serde_json::Value;

fn data_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp data dir")
}

use common::image_tag as tag;

fn run_image(tag: &str, command: &[&str]) -> String {
    let mut args = vec!["run", "--rm", tag];
    args.extend_from_slice(command);
    docker(&args)
}

/// A cache mount survives between builds (the second build sees the first
/// build's run), the unused stage (which would fail) is skipped, and each
/// arch's image is for that arch.
#[test]
fn cache_mounts_and_stages_build_for_amd64_and_emulated_arm64() {
    if !docker_available("buildkit_cache_mount") {
        return;
    }
    let project = TempProject::new(
        "bk-stages",
        &[(
            "Dockerfile.template",
            "FROM busybox:slipway-%%BALENA_ARCH%% AS build\n\
             ARG RUN_ID\n\
             RUN --mount=type=cache,target=/cache,id=slipway-test-%%BALENA_ARCH%% \\\n\
                 echo \"run-$RUN_ID\" >> /cache/runs && cp /cache/runs /runs-seen && uname -m > /arch\n\
             FROM busybox:slipway-%%BALENA_ARCH%% AS unused\n\
             RUN echo this stage must not build && exit 1\n\
             FROM busybox:slipway-%%BALENA_ARCH%%\n\
             COPY --from=build /arch /runs-seen /\n\
             CMD [\"cat\", \"/arch\"]\n",
        )],
    );
    let data = data_dir();
    let run_id = format!("{}", std::process::id());
    let first = build(
        data.path(),
        project.path(),
        &["intel-nuc", "raspberrypi4-64"],
        &["--build-arg", &format!("RUN_ID={run_id}-a")],
    );
    assert_eq!(first.code, 0, "{}\n{:?}", first.stderr, first.events);
    let second = build(
        data.path(),
        project.path(),
        &["intel-nuc", "raspberrypi4-64"],
        &["--build-arg", &format!("RUN_ID={run_id}-b")],
    );
    assert_eq!(second.code, 0, "{}", second.stderr);
    for (arch, docker_arch, uname) in [
        ("amd64", "amd64", "x86_64"),
        ("aarch64", "arm64", "aarch64"),
    ] {
        let image = second.image("main", arch);
        assert_eq!(image["builder"], "buildkit");
        let tag = tag(&second, "main", arch);
        assert_eq!(
            docker(&["image", "inspect", "--format", "{{.Architecture}}", &tag]),
            docker_arch
        );
        assert_eq!(run_image(&tag, &[]), uname);
        let runs = run_image(&tag, &["cat", "/runs-seen"]);
        assert!(
            runs.contains(&format!("run-{run_id}-a")) && runs.contains(&format!("run-{run_id}-b")),
            "the cache mount kept the first build's run ({arch}): {runs}"
        );
    }
    let log = second
        .events
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!log.contains("this stage must not build"), "{log}");
}

/// A secret from `.balena/balena.yml` is readable in RUN and nowhere after:
/// not in the image, not in its history, not in the record.
#[test]
fn build_secrets_reach_run_steps_and_nothing_else() {
    if !docker_available("buildkit_secret") {
        return;
    }
    let secret = format!("s3cr3t-{}", std::process::id());
    let project = TempProject::new(
        "bk-secret",
        &[
            (
                ".balena/balena.yml",
                "build-secrets:\n  global:\n    - source: token.txt\n      dest: token\n",
            ),
            (".balena/secrets/token.txt", &secret),
            (
                "Dockerfile",
                "FROM busybox:slipway\n\
                 RUN --mount=type=secret,id=token sha256sum /run/secrets/token | cut -c1-64 > /proof\n\
                 CMD [\"cat\", \"/proof\"]\n",
            ),
        ],
    );
    let data = data_dir();
    // A secret's value is not part of BuildKit's cache key (by design): a
    // cached step from another run would show that run's secret.
    let run = build(data.path(), project.path(), &["intel-nuc"], &["--no-cache"]);
    assert_eq!(run.code, 0, "{}\n{:?}", run.stderr, run.events);
    let tag = tag(&run, "main", "amd64");
    // The step read the secret: its digest is what the image recorded.
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(secret.as_bytes()));
    assert_eq!(run_image(&tag, &[]), digest);
    let listing = run_image(
        &tag,
        &[
            "sh",
            "-c",
            "ls /run/secrets 2>&1; grep -rl s3cr3t /bin /proof /etc 2>/dev/null; true",
        ],
    );
    assert!(!listing.contains("token"), "{listing}");
    let history = docker(&["history", "--no-trunc", &tag]);
    assert!(!history.contains(&secret), "{history}");
    let saved = std::process::Command::new("docker")
        .args(["save", &tag])
        .output()
        .unwrap();
    assert!(
        !saved
            .stdout
            .windows(secret.len())
            .any(|w| w == secret.as_bytes()),
        "the secret is in a layer"
    );
    let id = releases(data.path())[0]["id"].to_string();
    let shown = slipway_in(data.path(), &["release", "show", &id, "--json"]);
    assert!(!String::from_utf8_lossy(&shown.stdout).contains(&secret));

    // The classic builder cannot serve secrets: refused before anything is recorded.
    let other = data_dir();
    let classic = build(
        other.path(),
        project.path(),
        &["intel-nuc"],
        &["--builder", "classic"],
    );
    assert_ne!(classic.code, 0);
    assert!(
        classic
            .stderr
            .contains("uses build secrets (token), which need BuildKit")
            && classic.stderr.contains("--builder classic"),
        "{}",
        classic.stderr
    );
    assert!(releases(other.path()).is_empty());
}

/// A secret file that is missing, or a link leading out, is named before
/// anything is built.
#[test]
fn a_missing_secret_file_is_named() {
    let project = TempProject::new(
        "bk-secret-missing",
        &[
            (
                ".balena/balena.yml",
                "build-secrets:\n  services:\n    main:\n      - source: absent.txt\n        dest: npmrc\n",
            ),
            ("Dockerfile", "FROM busybox:slipway\n"),
        ],
    );
    let data = data_dir();
    let run = build(data.path(), project.path(), &["intel-nuc"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("service `main`: build secret `npmrc` from .balena/secrets/absent.txt"),
        "{}",
        run.stderr
    );
    assert!(releases(data.path()).is_empty());
}

/// Images whose Dockerfile sets no CMD or ENTRYPOINT get their labels (and a
/// Procfile command) without a container being created, on both builders.
#[test]
fn images_without_cmd_are_labelled_on_both_builders() {
    if !docker_available("no_cmd") {
        return;
    }
    let project = TempProject::new(
        "no-cmd",
        &[(
            "Dockerfile",
            "FROM scratch\nCOPY --from=busybox:slipway /bin/busybox /bin/busybox\n",
        )],
    );
    for builder in ["buildkit", "classic"] {
        let data = data_dir();
        let run = build(
            data.path(),
            project.path(),
            &["intel-nuc"],
            &["--builder", builder],
        );
        assert_eq!(run.code, 0, "{builder}: {}\n{:?}", run.stderr, run.events);
        assert_eq!(run.image("main", "amd64")["builder"], builder);
        let tag = tag(&run, "main", "amd64");
        let labels: Value = serde_json::from_str(&docker(&[
            "image",
            "inspect",
            "--format",
            "{{json .Config.Labels}}",
            &tag,
        ]))
        .unwrap();
        assert_eq!(labels["io.slipway.service"], "main", "{builder}");
        assert_eq!(labels["io.slipway.arch"], "amd64", "{builder}");
        assert_eq!(
            docker(&["image", "inspect", "--format", "{{json .Config.Cmd}}", &tag]),
            "null",
            "{builder}"
        );
    }
    // A Procfile over a base without CMD: each process gets its command.
    let procfile = TempProject::new(
        "no-cmd-procfile",
        &[
            (
                "Dockerfile",
                "FROM scratch\nCOPY --from=busybox:slipway /bin/busybox /bin/sh\n",
            ),
            ("Procfile", "web: echo web-ran\nworker: echo worker-ran\n"),
        ],
    );
    let data = data_dir();
    let run = build(data.path(), procfile.path(), &["intel-nuc"], &[]);
    assert_eq!(run.code, 0, "{}\n{:?}", run.stderr, run.events);
    assert_eq!(run_image(&tag(&run, "worker", "amd64"), &[]), "worker-ran");
    assert_eq!(run_image(&tag(&run, "web", "amd64"), &[]), "web-ran");
    // No temporary tag is left behind.
    let leftovers = docker(&["images", "--format", "{{.Tag}}", "no-cmd-procfile/web"]);
    assert!(!leftovers.contains("-layers"), "{leftovers}");
}

/// `# syntax=` and heredocs: the error says why the engine cannot do them.
#[test]
fn unsupported_frontend_features_are_explained() {
    if !docker_available("frontend_hints") {
        return;
    }
    let heredoc = TempProject::new(
        "heredoc",
        &[(
            "Dockerfile",
            "FROM busybox:slipway\nRUN <<EOF\necho hi > /x\nEOF\n",
        )],
    );
    let data = data_dir();
    let run = build(data.path(), heredoc.path(), &["intel-nuc"], &[]);
    assert_eq!(run.code, 30, "{}", run.stderr);
    let error = run.events_of("failed")[0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("heredocs (`RUN <<EOF`) need Dockerfile frontend 1.4"),
        "{error}"
    );

    let syntax = TempProject::new(
        "syntax-line",
        &[(
            "Dockerfile",
            "# syntax=docker/dockerfile:1.4\nFROM busybox:slipway\nRUN true\n",
        )],
    );
    let run = build(data.path(), syntax.path(), &["intel-nuc"], &[]);
    assert_eq!(run.code, 30, "{}", run.stderr);
    let error = run.events_of("failed")[0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("`# syntax=` line asks the engine to pull"),
        "{error}"
    );
}
