//! Projects that try to crash, hang or fool the build, on the real engine:
//! hostile `.dockerignore` files, special files, deep trees, names that are
//! not UTF-8; and records that stay honest (panics, unknown statuses, bad
//! input found before anything is recorded).

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{build, docker, docker_available, releases, slipway_in, BuildRun, TempProject};

fn data_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp data dir")
}

/// `slipway build` with a time limit: a hang fails the test instead of the run.
fn build_within(data: &Path, project: &Path, extra: &[&str], limit: Duration) -> BuildRun {
    let start = Instant::now();
    let run = build(data, project, &["intel-nuc"], extra);
    assert!(start.elapsed() < limit, "took {:?}", start.elapsed());
    run
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(status.success());
}

#[test]
fn a_dockerignore_leading_to_dev_zero_is_refused_not_read() {
    let project = TempProject::new("ignore-zero", &[("Dockerfile", "FROM busybox:slipway\n")]);
    std::os::unix::fs::symlink("/dev/zero", project.path().join(".dockerignore")).unwrap();
    let data = data_dir();
    let run = build_within(data.path(), project.path(), &[], Duration::from_secs(60));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("`.dockerignore` leads outside the project"),
        "{}",
        run.stderr
    );
    assert!(releases(data.path()).is_empty(), "nothing recorded");
}

#[test]
fn a_dockerignore_fifo_never_hangs_the_build() {
    let project = TempProject::new("ignore-fifo", &[("Dockerfile", "FROM busybox:slipway\n")]);
    mkfifo(&project.path().join(".dockerignore"));
    let data = data_dir();
    let run = build_within(data.path(), project.path(), &[], Duration::from_secs(60));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(".dockerignore: not a regular file"),
        "{}",
        run.stderr
    );
    assert!(releases(data.path()).is_empty());
}

#[test]
fn a_dockerignore_outside_the_project_is_never_echoed() {
    let outside = tempfile::tempdir().unwrap();
    let private = outside.path().join("private.txt");
    std::fs::write(&private, "[private-line-not-a-pattern\n").unwrap();
    let project = TempProject::new("ignore-out", &[("Dockerfile", "FROM busybox:slipway\n")]);
    std::os::unix::fs::symlink(&private, project.path().join(".dockerignore")).unwrap();
    let data = data_dir();
    let run = build_within(data.path(), project.path(), &[], Duration::from_secs(60));
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("leads outside the project"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("private-line"), "{}", run.stderr);
    assert!(releases(data.path()).is_empty());
}

#[test]
fn a_dockerignore_over_one_mib_is_refused() {
    let big = "*.log\n".repeat(200_000);
    let project = TempProject::new(
        "ignore-big",
        &[
            ("Dockerfile", "FROM busybox:slipway\n"),
            (".dockerignore", &big),
        ],
    );
    let data = data_dir();
    let run = build_within(data.path(), project.path(), &[], Duration::from_secs(60));
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains(".dockerignore is larger than 1048576 bytes"),
        "{}",
        run.stderr
    );
    assert!(releases(data.path()).is_empty());
}

#[test]
fn a_bad_dockerignore_pattern_is_found_before_anything_is_recorded() {
    let project = TempProject::new(
        "ignore-bad",
        &[
            ("Dockerfile", "FROM busybox:slipway\n"),
            (".dockerignore", "ok\n[unclosed\n"),
        ],
    );
    let data = data_dir();
    let run = build(data.path(), project.path(), &["intel-nuc"], &[]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains(".dockerignore:2: invalid pattern `[unclosed`"),
        "{}",
        run.stderr
    );
    assert!(releases(data.path()).is_empty());
}

#[test]
fn a_service_name_too_long_for_a_tag_is_refused_before_recording() {
    let long = "s".repeat(260);
    let compose = format!("services:\n  {long}:\n    build: .\n");
    let project = TempProject::new(
        "long-name",
        &[
            ("docker-compose.yml", &compose),
            ("Dockerfile", "FROM busybox:slipway\n"),
        ],
    );
    let data = data_dir();
    let run = build(data.path(), project.path(), &["intel-nuc"], &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("is too long for Docker"),
        "{}",
        run.stderr
    );
    assert!(releases(data.path()).is_empty());
}

/// FIFOs and device nodes in the context are left out; the build finishes.
#[test]
fn special_files_are_skipped() {
    if !docker_available("special_files") {
        return;
    }
    let project = TempProject::new(
        "specials",
        &[
            (
                "Dockerfile",
                "FROM busybox:slipway\nCOPY . /ctx\nRUN ls -a /ctx > /listing\nCMD [\"cat\", \"/listing\"]\n",
            ),
            ("kept.txt", "kept\n"),
        ],
    );
    mkfifo(&project.path().join("pipe"));
    let device = Command::new("mknod")
        .arg(project.path().join("zero-device"))
        .args(["c", "1", "5"])
        .status()
        .unwrap();
    assert!(device.success());
    let data = data_dir();
    let run = build_within(data.path(), project.path(), &[], Duration::from_secs(120));
    assert_eq!(run.code, 0, "{}", run.stderr);
    let tag = run.image("main", "amd64")["image"]
        .as_str()
        .unwrap()
        .to_string();
    let listing = docker(&["run", "--rm", &tag]);
    assert!(listing.contains("kept.txt"), "{listing}");
    assert!(!listing.contains("pipe"), "{listing}");
    assert!(!listing.contains("zero-device"), "{listing}");
}

/// 10,000 directories deep: a clear error, never a crash.
#[test]
fn a_very_deep_tree_fails_clearly() {
    if !docker_available("deep_tree") {
        return;
    }
    let project = TempProject::new("deep", &[("Dockerfile", "FROM busybox:slipway\n")]);
    // Made with directory handles: the whole path is far past PATH_MAX.
    let mut dir =
        cap_std::fs::Dir::open_ambient_dir(project.path(), cap_std::ambient_authority()).unwrap();
    for _ in 0..10_000 {
        dir.create_dir("d").unwrap();
        dir = dir.open_dir("d").unwrap();
    }
    let data = data_dir();
    let run = build_within(data.path(), project.path(), &[], Duration::from_secs(120));
    assert_eq!(run.code, 30, "{}", run.stderr);
    let error = run.events_of("failed")[0]["error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        error.contains("is more than 1024 directories deep"),
        "{error}"
    );
    assert_eq!(releases(data.path())[0]["status"], "failed");
}

/// Two names that are not UTF-8 (and would be equal after a lossy
/// conversion) both reach the image, byte for byte.
#[test]
fn names_that_are_not_utf8_are_kept_exactly() {
    if !docker_available("non_utf8") {
        return;
    }
    let project = TempProject::new(
        "bytes",
        &[(
            "Dockerfile",
            "FROM busybox:slipway\nCOPY files /files\nCMD [\"sh\", \"-c\", \"find /files -type f | sort | od -An -tx1 | tr -d ' \\\\n'\"]\n",
        )],
    );
    let files = project.path().join("files");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(files.join(OsStr::from_bytes(b"caf\xe9")), "latin-1").unwrap();
    std::fs::write(files.join(OsStr::from_bytes(b"caf\xe8")), "other").unwrap();
    let data = data_dir();
    let run = build(data.path(), project.path(), &["intel-nuc"], &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let tag = run.image("main", "amd64")["image"]
        .as_str()
        .unwrap()
        .to_string();
    // `find` prints both names raw: /files/caf\xe8 and /files/caf\xe9.
    assert_eq!(
        docker(&["run", "--rm", &tag]),
        "2f66696c65732f636166e80a2f66696c65732f636166e90a"
    );
    let contents = docker(&["run", "--rm", &tag, "sh", "-c", "cat /files/*"]);
    assert_eq!(contents, "otherlatin-1");
}

/// A build task that panics fails its image and the release; it is never
/// recorded as a success.
#[test]
fn a_panicking_build_task_is_a_failure() {
    if !docker_available("panic") {
        return;
    }
    let project = TempProject::new("panics", &[("Dockerfile", "FROM busybox:slipway\n")]);
    let data = data_dir();
    let out = Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args([
            "build",
            project.path().to_str().unwrap(),
            "--device-type",
            "intel-nuc",
            "--json",
        ])
        .env("SLIPWAY_CACHE_DIR", common::cache_dir())
        .env("SLIPWAY_DATA_DIR", data.path())
        .env("SLIPWAY_FAILPOINT", "build-task-panic")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(30));
    let listed = releases(data.path());
    assert_eq!(listed[0]["status"], "failed");
    let id = listed[0]["id"].to_string();
    let shown = slipway_in(data.path(), &["release", "show", &id, "--json"]);
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["images"][0]["status"], "failed");
    assert!(shown["images"][0]["error"]
        .as_str()
        .unwrap()
        .contains("stopped unexpectedly: the task panicked"));
}

/// One row with a status this version does not know is listed as
/// `unknown` with its id; every other release still lists.
#[test]
fn an_unknown_status_does_not_break_the_listing() {
    let data = data_dir();
    {
        let mut store = slipway::release::SqliteStore::open(data.path()).unwrap();
        use slipway::store::ReleaseStore;
        for app in ["good", "odd"] {
            let release = store
                .create_release(&slipway::release::NewRelease {
                    hash: slipway::release::new_release_hash(app),
                    app: app.into(),
                    commit: None,
                    source: slipway::release::SourceKind::Local,
                    source_url: None,
                    device_types: vec!["intel-nuc".into()],
                    composition: String::new(),
                    hooks: Vec::new(),
                })
                .unwrap();
            store
                .finish_release(release.id, slipway::release::Status::Success, None, 1)
                .unwrap();
        }
    }
    let db = rusqlite::Connection::open(data.path().join("releases.sqlite")).unwrap();
    db.execute(
        "UPDATE releases SET status = 'paused-by-a-newer-slipway' WHERE app = 'odd'",
        [],
    )
    .unwrap();
    let listed = releases(data.path());
    assert_eq!(listed.len(), 2);
    let odd = listed.iter().find(|r| r["app"] == "odd").unwrap();
    assert_eq!(odd["status"], "unknown");
    assert!(odd["id"].is_number());
    let human = slipway_in(data.path(), &["releases"]);
    assert!(human.status.success());
    assert!(String::from_utf8_lossy(&human.stdout).contains("unknown"));
}
