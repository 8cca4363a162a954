//! Plugins shipped through the OCI registry by digest: `slipway plugin push`
//! to the real registry, a policy pinning the digest, detection through
//! `slipway serve`, and refusal when the registry's bytes differ.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::server::{registry, tar_of, Server, ADMIN};

/// The legacy-ini fixture plugin made unique to this run (a custom section
/// with a nonce appended), so its digests are new on a registry that
/// outlives the run.
fn unique_plugin(dir: &Path) -> PathBuf {
    let mut bytes =
        std::fs::read(common::root().join("tests/fixtures/legacy-plugins/legacy-ini.wasm"))
            .unwrap();
    let nonce = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let name = b"slipway-test-nonce";
    let mut section = vec![name.len() as u8];
    section.extend_from_slice(name);
    section.extend_from_slice(nonce.as_bytes());
    bytes.push(0); // custom section
    bytes.push(section.len() as u8); // < 128: one LEB128 byte
    bytes.extend_from_slice(&section);
    let path = dir.join("legacy-ini.wasm");
    std::fs::write(&path, bytes).unwrap();
    path
}

fn push(file: &Path, reference: &str) -> String {
    let out = common::slipway(&["plugin", "push", file.to_str().unwrap(), reference]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let digest = stdout
        .split_whitespace()
        .skip_while(|w| *w != "digest")
        .nth(1)
        .unwrap_or_else(|| panic!("no digest in {stdout}"))
        .to_string();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    assert!(
        stdout.contains(&format!("@{digest}\"")),
        "prints the policy line: {stdout}"
    );
    digest
}

fn policy(dir: &Path, source: &str) -> PathBuf {
    let path = dir.join("policy.toml");
    std::fs::write(
        &path,
        format!("[plugin.legacy-ini]\nsource = \"{source}\"\n"),
    )
    .unwrap();
    path
}

#[test]
fn a_pushed_plugin_pinned_by_digest_detects_through_serve_and_tampering_is_refused() {
    if !common::docker_available("a_pushed_plugin_pinned_by_digest_detects_through_serve") {
        return;
    }
    let registry = registry();
    let work = tempfile::tempdir().unwrap();
    let wasm = unique_plugin(work.path());
    let digest = push(&wasm, &format!("{registry}/plugins/legacy-ini:1.0.0"));
    // Pushing the same bytes again gives the same digest (no time in the config).
    assert_eq!(
        push(&wasm, &format!("{registry}/plugins/legacy-ini:again")),
        digest
    );
    let source = format!("oci://{registry}/plugins/legacy-ini@{digest}");
    let policy_file = policy(work.path(), &source);

    // The service fetches it, lists it, and detects an ini project with it.
    let data = work.path().join("data");
    let server = Server::start_with(&data, None, &["--policy", policy_file.to_str().unwrap()]);
    let (status, listed) = server.get("/api/v1/plugins", ADMIN);
    assert_eq!(status, 200, "{listed}");
    let ini = listed["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "legacy-ini")
        .unwrap_or_else(|| panic!("legacy-ini not served: {listed}"));
    assert_eq!(ini["origin"], source);
    assert_eq!(ini["version"], "1.0.0");
    let wasm_sha = hex_sha256(&std::fs::read(&wasm).unwrap());
    assert_eq!(ini["sha256"], wasm_sha);
    let (status, _) = Server::client()
        .get(format!("{}/api/v1/plugins", server.url))
        .send()
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 401, "the plugin list needs a token");

    server.create_app("ini", &["intel-nuc"]);
    let tar = tar_of(&[("app.ini", b"[app]\nname = demo\n")]);
    let (status, lines) = server.upload("ini", ADMIN, "application/x-tar", tar);
    assert_eq!(status, 200, "{lines:?}");
    let summary = lines.last().unwrap();
    assert_eq!(summary["release"]["status"], "success", "{lines:?}");
    let id = summary["release"]["id"].as_i64().unwrap();
    let release = server.wait_closed(id, Duration::from_secs(120));
    let image = &release["images"][0];
    assert_eq!(image["project_type"], "legacy-ini", "{release}");
    assert!(
        image["plugin"]
            .as_str()
            .unwrap()
            .starts_with("legacy-ini@1.0.0"),
        "{release}"
    );
    drop(server);

    // The registry's bytes change under the pinned digest: a fresh cache
    // fetches them, and they are refused before anything compiles them.
    let layer = format!("sha256:{wasm_sha}");
    let blob = common::server::registry_storage()
        .join("docker/registry/v2/blobs/sha256")
        .join(&wasm_sha[..2])
        .join(&wasm_sha)
        .join("data");
    assert!(
        blob.is_file(),
        "registry storage layout: {}",
        blob.display()
    );
    // Another valid component: the same plugin with its nonce changed.
    let mut altered = std::fs::read(&wasm).unwrap();
    *altered.last_mut().unwrap() ^= 1;
    std::fs::write(&blob, &altered).unwrap();
    let project = common::TempProject::new("ini", &[("app.ini", "[app]\n")]);
    let fresh = work.path().join("fresh-cache");
    let out = common::slipway(&[
        "detect",
        project.path_str(),
        "--device-type",
        "intel-nuc",
        "--json",
        "--policy",
        policy_file.to_str().unwrap(),
        "--cache-dir",
        fresh.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("the registry's bytes differ"), "{stderr}");
    assert!(stderr.contains(&layer), "names the pinned digest: {stderr}");
    assert!(
        !fresh
            .join("oci")
            .join(format!("{}.wasm", &digest[7..]))
            .exists(),
        "nothing cached"
    );
    let components: Vec<_> = std::fs::read_dir(fresh.join("components"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        !components
            .iter()
            .any(|name| name.starts_with(&hex_sha256(&altered))),
        "the altered bytes were never compiled: {components:?}"
    );
}

#[test]
fn a_tag_without_a_digest_is_refused_under_a_policy() {
    let work = tempfile::tempdir().unwrap();
    let policy_file = policy(work.path(), "oci://127.0.0.1:5055/plugins/legacy-ini:1.0.0");
    let project = common::TempProject::new("ini", &[("app.ini", "[app]\n")]);
    let out = common::slipway(&[
        "detect",
        project.path_str(),
        "--device-type",
        "intel-nuc",
        "--policy",
        policy_file.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr.contains("plugin.legacy-ini.source"), "{stderr}");
    assert!(stderr.contains("names a tag, which can move"), "{stderr}");
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
