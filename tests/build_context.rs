//! The build context stream, read back as the engine would read it.

use std::collections::BTreeMap;
use std::io::Read;

use slipway::image::context::{BuildContext, DOCKERFILE_NAME};

fn write(root: &std::path::Path, path: &str, content: &str) {
    let path = root.join(path);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// Streams `root` and returns entry path -> (kind, content or link target).
fn stream(root: &std::path::Path) -> (BTreeMap<String, (char, String)>, u64, usize) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let context =
            BuildContext::prepare(root, ".", "FROM busybox:slipway\n".to_string()).unwrap();
        let (mut chunks, writer) = context.stream();
        let mut bytes = Vec::new();
        let mut largest = 0;
        while let Some(chunk) = chunks.recv().await {
            let chunk = chunk.unwrap();
            largest = largest.max(chunk.len());
            bytes.extend_from_slice(&chunk);
        }
        let stats = writer.await.unwrap().unwrap();
        assert_eq!(stats.bytes, bytes.len() as u64);
        let mut entries = BTreeMap::new();
        let mut archive = tar::Archive::new(bytes.as_slice());
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().into_owned();
            let header = entry.header().clone();
            assert_eq!(header.uid().unwrap(), 0);
            let (kind, body) = if header.entry_type().is_symlink() {
                let target = entry.link_name().unwrap().unwrap();
                ('l', target.to_string_lossy().into_owned())
            } else if header.entry_type().is_dir() {
                ('d', String::new())
            } else {
                let mut body = String::new();
                entry.read_to_string(&mut body).unwrap();
                ('f', body)
            };
            entries.insert(path.trim_end_matches('/').to_string(), (kind, body));
        }
        (entries, stats.files, largest)
    })
}

#[test]
fn the_context_holds_what_docker_would_send_and_the_resolved_dockerfile() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "Dockerfile.template",
        "FROM busybox:slipway-%%BALENA_ARCH%%\n",
    );
    write(root, "Dockerfile.aarch64", "FROM x\n");
    write(
        root,
        ".dockerignore",
        "Dockerfile*\n**/*.tmp\nvendor\n!vendor/keep\n",
    );
    write(root, "app/main.py", "print('hi')\n");
    write(root, "app/cache/x.tmp", "tmp\n");
    write(root, "vendor/drop/a", "a\n");
    write(root, "vendor/keep/b", "b\n");
    write(root, ".git/config", "[core]\n");
    write(root, ".balena/balena.yml", "build-variables: {}\n");
    write(root, ".resin/resin.yml", "x: 1\n");
    std::os::unix::fs::symlink("/etc/shadow", root.join("escape")).unwrap();
    std::os::unix::fs::symlink("app/main.py", root.join("inside")).unwrap();

    let (entries, files, largest) = stream(root);
    let has = |path: &str| entries.contains_key(path);
    assert_eq!(entries[DOCKERFILE_NAME].1, "FROM busybox:slipway\n");
    assert!(
        has("Dockerfile.template") && has("Dockerfile.aarch64"),
        "Dockerfile.* always go"
    );
    assert!(has(".dockerignore"));
    assert!(has("app/main.py"));
    assert!(!has("app/cache/x.tmp"), "**/*.tmp");
    assert!(!has("vendor/drop/a"));
    assert!(has("vendor/keep/b"), "! exception inside an excluded dir");
    for never in [
        ".git",
        ".git/config",
        ".balena",
        ".balena/balena.yml",
        ".resin",
    ] {
        assert!(!has(never), "{never} was sent");
    }
    assert_eq!(
        entries["escape"],
        ('l', "/etc/shadow".to_string()),
        "links stay links"
    );
    assert_eq!(entries["inside"], ('l', "app/main.py".to_string()));
    assert!(files >= 7, "{files} files");
    assert!(largest <= 64 * 1024, "chunks are bounded: {largest}");
}

#[test]
fn a_bad_dockerignore_pattern_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".dockerignore", "# fine\nok\n[oops\n");
    let error = BuildContext::prepare(dir.path(), "api", String::new())
        .err()
        .expect("refused");
    assert!(
        error
            .to_string()
            .starts_with("api/.dockerignore:3: invalid pattern `[oops`"),
        "{error}"
    );
}
