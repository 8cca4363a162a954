//! Tar uploads to `slipway serve` and `slipway push`: real server, engine
//! and registry; hostile archives refused before anything is written.

mod common;

use common::server::{tar_of, Server, Text, ADMIN};
use common::TempProject;
use serde_json::Value;

/// A tar with one entry whose header says what the tar crate's safe setters refuse.
fn raw_tar(name: &str, kind: tar::EntryType, link: Option<&str>, data: &[u8]) -> Vec<u8> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    let bytes = &mut header.as_old_mut().name;
    bytes.fill(0);
    bytes[..name.len()].copy_from_slice(name.as_bytes());
    if let Some(link) = link {
        let target = &mut header.as_old_mut().linkname;
        target.fill(0);
        target[..link.len()].copy_from_slice(link.as_bytes());
    }
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder.append(&header, data).unwrap();
    builder.into_inner().unwrap()
}

#[test]
fn an_upload_streams_its_build_as_ndjson() {
    if !common::docker_available("an_upload_streams_its_build_as_ndjson") {
        return;
    }
    let server = Server::start();
    server.create_app("web", &["intel-nuc"]);
    let tar = tar_of(&[(
        "Dockerfile",
        b"FROM busybox:slipway-amd64\nRUN echo hello-from-upload\n",
    )]);
    let (status, lines) = server.upload("web", ADMIN, "application/x-tar", tar);
    assert_eq!(status, 200, "{lines:?}");
    let kinds: Vec<&str> = lines.iter().filter_map(|l| l["kind"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"release"), "{kinds:?}");
    assert!(kinds.contains(&"pushed"), "{kinds:?}");
    assert!(lines.iter().any(|l| l["message"]
        .as_str()
        .is_some_and(|m| m.contains("hello-from-upload"))));
    let summary = lines.last().unwrap();
    assert_eq!(summary["kind"], "summary");
    assert_eq!(summary["release"]["status"], "success");
    assert_eq!(summary["release"]["source"], "tar");
    let image = &summary["images"][0];
    assert!(image["registry_reference"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:5055/web/main@sha256:"));

    // The same project gzipped.
    let tar = tar_of(&[("Dockerfile", b"FROM busybox:slipway-amd64\n")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &tar).unwrap();
    let (status, lines) = server.upload("web", ADMIN, "application/gzip", gz.finish().unwrap());
    assert_eq!(status, 200);
    assert_eq!(lines.last().unwrap()["release"]["status"], "success");
}

#[test]
fn slipway_push_uploads_a_directory_without_its_ignored_files() {
    if !common::docker_available("slipway_push_uploads_a_directory_without_its_ignored_files") {
        return;
    }
    let server = Server::start();
    server.create_app("site", &["intel-nuc"]);
    let project = TempProject::new("site", &[
        ("Dockerfile", "FROM busybox:slipway-amd64\nCOPY . /app\nRUN test ! -e /app/secret.env && test -e /app/index.html\n"),
        (".dockerignore", "secret.env\n"),
        ("secret.env", "PASSWORD=x\n"),
        ("index.html", "<h1>hi</h1>\n"),
    ]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args(["push", "site", project.path_str(), "--server", &server.url])
        .env("SLIPWAY_TOKEN", ADMIN)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        out.stdout_text(),
        out.stderr_text()
    );
    assert!(
        out.stdout_text().contains("release 1 of site: success"),
        "{}",
        out.stdout_text()
    );
    assert!(out
        .stdout_text()
        .contains("127.0.0.1:5055/site/main@sha256:"));

    // A failing build exits like `slipway build`.
    std::fs::write(
        project.path().join("Dockerfile"),
        "FROM busybox:slipway-amd64\nRUN exit 7\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_slipway"))
        .args([
            "push",
            "site",
            project.path_str(),
            "--server",
            &server.url,
            "--token",
            ADMIN,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(30), "{}", out.stderr_text());
    assert!(
        out.stderr_text().contains("exit code: 7"),
        "{}",
        out.stderr_text()
    );
}

#[test]
fn hostile_archives_are_refused_whole_with_nothing_written() {
    let server = Server::start();
    server.create_app("victim", &["intel-nuc"]);
    let escape = format!("slipway-escaped-{}", std::process::id());
    let traversal = format!("../../../../../../../tmp/{escape}");
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    {
        let mut builder = tar::Builder::new(&mut bomb);
        let size: u64 = 300 << 20;
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o644);
        builder
            .append_data(
                &mut header,
                "zeros.bin",
                std::io::Read::take(std::io::repeat(0), size),
            )
            .unwrap();
        builder.finish().unwrap();
    }
    let bomb = bomb.finish().unwrap();
    let cases: Vec<(&str, Vec<u8>, &str, String)> = vec![
        (
            "traversal",
            raw_tar(&traversal, tar::EntryType::Regular, None, b"x"),
            "application/x-tar",
            format!("entry `{traversal}`: `..` leads outside the project"),
        ),
        (
            "absolute",
            raw_tar("/etc/slipway-evil", tar::EntryType::Regular, None, b"x"),
            "application/x-tar",
            "entry `/etc/slipway-evil`: an absolute path".into(),
        ),
        (
            "symlink out",
            raw_tar("data", tar::EntryType::Symlink, Some("/etc"), b""),
            "application/x-tar",
            "entry `data`: a link to `/etc`, outside the project".into(),
        ),
        (
            "relative link out",
            raw_tar("a/b", tar::EntryType::Symlink, Some("../../x"), b""),
            "application/x-tar",
            "entry `a/b`: a link to `../../x`, outside the project".into(),
        ),
        (
            "device",
            raw_tar("dev/sda", tar::EntryType::Block, None, b""),
            "application/x-tar",
            "entry `dev/sda`: block device entries are not allowed".into(),
        ),
        (
            "bomb",
            bomb,
            "application/gzip",
            "entry `zeros.bin`: the archive unpacks to over 200 times its size".into(),
        ),
    ];
    for (what, body, content_type, want) in cases {
        let (status, answer) = server.upload("victim", ADMIN, content_type, body);
        assert_eq!(status, 400, "{what}: {answer:?}");
        assert_eq!(answer[0]["code"], "unsafe_archive", "{what}: {answer:?}");
        let detail = answer[0]["detail"].as_str().unwrap();
        assert!(detail.contains(&want), "{what}: {detail}");
    }
    assert!(!std::path::Path::new("/tmp").join(&escape).exists());
    // Nothing recorded, nothing left on disk.
    let (_, list) = server.get("/api/v1/releases", ADMIN);
    assert_eq!(list["releases"].as_array().unwrap().len(), 0, "{list}");
    for dir in ["sources", "uploads"] {
        let left: Vec<_> = std::fs::read_dir(server.data.join(dir)).unwrap().collect();
        assert!(left.is_empty(), "{dir} has {left:?}");
    }
    let metrics = Server::client()
        .get(format!("{}/metrics", server.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("slipway_uploads_refused_total 6"),
        "{metrics}"
    );
    // Not a tar at all.
    let (status, answer) = server.upload("victim", ADMIN, "text/plain", b"hi".to_vec());
    assert_eq!(status, 415, "{answer:?}");
}

#[test]
fn a_pushed_commit_rebuilds_by_id() {
    if !common::docker_available("a_pushed_commit_rebuilds_by_id") {
        return;
    }
    let server = Server::start();
    server.create_app("again", &["intel-nuc"]);
    let project = common::server::git_project(&[("Dockerfile", "FROM busybox:slipway-amd64\n")]);
    let url = server.git_url("again", ADMIN);
    assert!(common::server::push(project.path(), &url, "HEAD:master")
        .status
        .success());
    let head = common::server::git(project.path(), &["rev-parse", "HEAD"]).stdout_text();
    let response = Server::client()
        .post(format!("{}/api/v1/apps/again/releases", server.url))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"commit": &head[..10]}))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().unwrap();
    let summary: Value =
        serde_json::from_str(text.lines().rfind(|l| !l.trim().is_empty()).unwrap()).unwrap();
    assert_eq!(summary["release"]["status"], "success", "{text}");
    assert_eq!(summary["release"]["id"], 2);
    assert_eq!(summary["release"]["commit"], head.as_str());
    let (status, body) = server.post(
        "/api/v1/apps/again/releases",
        ADMIN,
        &serde_json::json!({"commit": "deadbeef"}),
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "unknown_commit");
}
