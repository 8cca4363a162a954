//! `slipway build` from a tar archive and from a git commit (git2, no checkout).

mod common;

use common::server::{git, git_project, Text};

#[test]
fn a_tar_archive_and_a_git_commit_build_like_a_directory() {
    if !common::docker_available("a_tar_archive_and_a_git_commit_build_like_a_directory") {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let project = git_project(&[
        (
            "Dockerfile",
            "FROM busybox:slipway-amd64\nCOPY marker /marker\n",
        ),
        ("marker", "first\n"),
    ]);
    let first = git(project.path(), &["rev-parse", "HEAD"]).stdout_text();
    git(project.path(), &["checkout", "-q", "-b", "next"]);
    std::fs::write(project.path().join("marker"), "second\n").unwrap();
    common::server::commit_all(project.path(), "second");

    // A branch of a local repository, by path.
    let spec = format!("{}#master", project.path().display());
    let run = common::build(
        data.path(),
        std::path::Path::new(""),
        &["intel-nuc"],
        &["--git", &spec, "--app", "from-git"],
    );
    assert_eq!(run.code, 0, "{:?}", run.events);
    let release = &run.summary["release"];
    assert_eq!(release["source"], "git");
    assert_eq!(release["commit"], first.as_str());
    let tag = common::image_tag(&run, "main", "amd64");
    let marker = common::docker(&["run", "--rm", &tag, "cat", "/marker"]);
    assert_eq!(marker, "first", "the commit's tree, not the work tree");

    // A tar.gz of the project.
    let archive = data.path().join("site.tar.gz");
    let out = std::process::Command::new("tar")
        .args(["-czf"])
        .arg(&archive)
        .args(["-C"])
        .arg(project.path())
        .args(["Dockerfile", "marker"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let run = common::build(data.path(), &archive, &["intel-nuc"], &[]);
    assert_eq!(run.code, 0, "{:?}", run.events);
    assert_eq!(run.summary["release"]["source"], "tar");
    assert_eq!(run.summary["release"]["app"], "site");
    let tag = common::image_tag(&run, "main", "amd64");
    assert_eq!(
        common::docker(&["run", "--rm", &tag, "cat", "/marker"]),
        "second"
    );
}

#[test]
fn an_unsafe_archive_is_refused_naming_its_entry() {
    let data = tempfile::tempdir().unwrap();
    let archive = data.path().join("evil.tar");
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    let target = &mut header.as_old_mut().linkname;
    target[..4].copy_from_slice(b"/etc");
    let name = &mut header.as_old_mut().name;
    name[..4].copy_from_slice(b"conf");
    header.set_cksum();
    let mut builder = tar::Builder::new(Vec::new());
    builder.append(&header, &b""[..]).unwrap();
    std::fs::write(&archive, builder.into_inner().unwrap()).unwrap();
    let out = common::slipway_in(
        data.path(),
        &[
            "build",
            archive.to_str().unwrap(),
            "--device-type",
            "intel-nuc",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stderr_text()
            .contains("entry `conf`: a link to `/etc`, outside the project"),
        "{}",
        out.stderr_text()
    );
}
