//! Rust services from Cargo.toml: a multi-stage `cargo build --release`
//! into a slim Debian image. The binary is the only `[[bin]]`, the
//! package's `default-run`, or the package itself (src/main.rs); in a
//! workspace without a root package, the one member that is a binary.

use serde::Deserialize;
use slipway_plugin_sdk::text::read_toml;
use slipway_plugin_sdk::{
    choose_base_image, evidence, export_plugin, fs, invalid, looks_for, no_base_image, BuildPlan,
    Detection, Dockerfile, DockerfileSource, Plugin, PluginError, PluginInfo, Scope, ServicePlan,
    Target, CONTRACT_VERSION, RUNTIME_USER,
};

const MANIFEST: &str = "Cargo.toml";

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Manifest {
    package: Option<Package>,
    #[serde(default)]
    bin: Vec<Bin>,
    workspace: Option<Workspace>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Package {
    name: String,
    default_run: Option<String>,
    rust_version: Option<String>,
}

#[derive(Deserialize)]
struct Bin {
    name: String,
}

#[derive(Deserialize)]
struct Workspace {
    #[serde(default)]
    members: Vec<String>,
}

/// Member directories of a workspace, `crates/*` patterns expanded.
fn member_dirs(workspace: &Workspace) -> Result<Vec<String>, PluginError> {
    let mut dirs = Vec::new();
    for member in &workspace.members {
        match member.strip_suffix("/*") {
            Some(parent) if fs::exists(parent) => {
                for entry in fs::list_dir(parent)? {
                    if entry.kind == fs::Kind::Directory {
                        dirs.push(format!("{parent}/{}", entry.name));
                    }
                }
            }
            Some(_) => {}
            None => dirs.push(member.trim_end_matches('/').to_string()),
        }
    }
    Ok(dirs)
}

/// The binaries a member builds: its [[bin]]s, else its package (src/main.rs).
fn member_binaries(dir: &str) -> Result<Vec<String>, PluginError> {
    let path = format!("{dir}/{MANIFEST}");
    let Some(manifest) = read_toml::<Manifest>(&path)? else {
        return Ok(Vec::new());
    };
    let Some(package) = manifest.package else {
        return Ok(Vec::new());
    };
    if let Some(name) = package.default_run {
        return Ok(vec![name]);
    }
    if !manifest.bin.is_empty() {
        return Ok(manifest.bin.into_iter().map(|b| b.name).collect());
    }
    Ok(if fs::is_file(&format!("{dir}/src/main.rs")) {
        vec![package.name]
    } else {
        Vec::new()
    })
}

/// The binary of a workspace without a root package: its one binary member.
fn workspace_binary(manifest: &Manifest) -> Result<(String, String), PluginError> {
    let dirs = match &manifest.workspace {
        Some(workspace) => member_dirs(workspace)?,
        None => Vec::new(),
    };
    let mut binaries: Vec<(String, String)> = Vec::new();
    for dir in &dirs {
        for binary in member_binaries(dir)? {
            binaries.push((binary, dir.clone()));
        }
    }
    match binaries.as_slice() {
        [(binary, dir)] => Ok((
            binary.clone(),
            format!("the workspace's only binary (member {dir})"),
        )),
        [] => Err(invalid(
            MANIFEST,
            format!(
                "a workspace with no binary among its members ({}): nothing to run",
                dirs.join(", ")
            ),
        )),
        many => Err(invalid(
            MANIFEST,
            format!(
                "a workspace with several binaries ({}): build one per service (compose \
                 `context:` and a Dockerfile, or one member as --context) or add a Dockerfile",
                many.iter()
                    .map(|(b, d)| format!("{b} in {d}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// The binary to ship, and why it is that one.
fn binary(manifest: &Manifest) -> Result<(String, String), PluginError> {
    let Some(package) = &manifest.package else {
        return workspace_binary(manifest);
    };
    if let Some(name) = &package.default_run {
        return Ok((name.clone(), "package.default-run".into()));
    }
    match manifest.bin.as_slice() {
        [one] => Ok((one.name.clone(), "the only [[bin]]".into())),
        [] if fs::is_file("src/main.rs") => {
            Ok((package.name.clone(), "the package (src/main.rs)".into()))
        }
        [] => Err(invalid(
            MANIFEST,
            format!(
                "package `{}` has no binary: no [[bin]] and no src/main.rs",
                package.name
            ),
        )),
        many => Err(invalid(
            MANIFEST,
            format!(
                "several binaries ({}): set package.default-run to the one to ship",
                many.iter()
                    .map(|b| b.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

struct RustPlugin;

impl Plugin for RustPlugin {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "rust".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: CONTRACT_VERSION.into(),
            priority: 70,
            scope: Scope::Service,
            looks_for: looks_for(&["Cargo.toml"]),
            description: "Rust from Cargo.toml: cargo build --release, multi-stage".into(),
        }
    }

    fn detect(_target: Target) -> Result<Option<Detection>, PluginError> {
        Ok(fs::is_file(MANIFEST).then(|| Detection {
            project_type: "rust".into(),
            evidence: vec![evidence(MANIFEST, "a Cargo manifest")],
        }))
    }

    fn plan(target: Target) -> Result<BuildPlan, PluginError> {
        let manifest: Manifest =
            read_toml(MANIFEST)?.ok_or_else(|| invalid(MANIFEST, "vanished"))?;
        let (binary, why) = binary(&manifest)?;
        let wanted = manifest
            .package
            .as_ref()
            .and_then(|p| p.rust_version.as_deref());
        let builder = choose_base_image("rust", &target, wanted)
            .ok_or_else(|| no_base_image("rust", &target))?;
        let runtime = choose_base_image("debian", &target, None)
            .ok_or_else(|| no_base_image("debian", &target))?;
        let locked = fs::is_file("Cargo.lock");
        let build = if locked {
            format!("cargo build --release --locked --bin {binary}")
        } else {
            format!("cargo build --release --bin {binary}")
        };
        let dockerfile = Dockerfile::new()
            .stage(&builder.image, Some("build"))
            .workdir("/src")
            .copy(&["."], ".")
            .run(&build)
            .stage(&runtime.image, None)
            .copy_from(
                "build",
                &format!("/src/target/release/{binary}"),
                "/usr/local/bin/",
            )
            .user(RUNTIME_USER)
            .cmd(&[&binary]);
        let mut notes = vec![
            format!(
                "Rust {} ({}), runtime {}",
                builder.version, builder.image, runtime.image
            ),
            format!("binary `{binary}`: {why}"),
            format!("runs as uid {RUNTIME_USER}"),
        ];
        if !locked {
            notes.push("no Cargo.lock: dependencies resolve at build time (commit Cargo.lock for reproducible builds)".into());
        }
        Ok(BuildPlan::Service(ServicePlan {
            dockerfile: DockerfileSource::Generated(dockerfile.render()),
            build_args: Vec::new(),
            labels: vec![("io.slipway.rust.version".into(), builder.version)],
            notes,
        }))
    }
}

export_plugin!(RustPlugin);
