//! Rust services from Cargo.toml: a multi-stage `cargo build --release`
//! into a slim Debian image. The binary is the only `[[bin]]`, the
//! package's `default-run`, or the package itself (src/main.rs).

use serde::Deserialize;
use slipway_plugin_sdk::text::read_toml;
use slipway_plugin_sdk::{
    choose_base_image, evidence, export_plugin, fs, invalid, no_base_image, BuildPlan, Detection,
    Dockerfile, DockerfileSource, Plugin, PluginError, PluginInfo, Scope, ServicePlan, Target,
    CONTRACT_VERSION, looks_for,
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

/// The binary to ship, and why it is that one.
fn binary(manifest: &Manifest) -> Result<(String, String), PluginError> {
    let Some(package) = &manifest.package else {
        let members = manifest
            .workspace
            .as_ref()
            .map(|w| w.members.join(", "))
            .unwrap_or_default();
        return Err(invalid(
            MANIFEST,
            format!(
                "a workspace without a package has no clear binary (members: {members}); \
                 build one member per service (compose `context:`) or add a Dockerfile"
            ),
        ));
    };
    if let Some(name) = &package.default_run {
        return Ok((name.clone(), "package.default-run".into()));
    }
    match manifest.bin.as_slice() {
        [one] => Ok((one.name.clone(), "the only [[bin]]".into())),
        [] if fs::is_file("src/main.rs") => Ok((package.name.clone(), "the package (src/main.rs)".into())),
        [] => Err(invalid(MANIFEST, format!("package `{}` has no binary: no [[bin]] and no src/main.rs", package.name))),
        many => Err(invalid(
            MANIFEST,
            format!(
                "several binaries ({}): set package.default-run to the one to ship",
                many.iter().map(|b| b.name.as_str()).collect::<Vec<_>>().join(", ")
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
        let manifest: Manifest = read_toml(MANIFEST)?.ok_or_else(|| invalid(MANIFEST, "vanished"))?;
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
            .copy_from("build", &format!("/src/target/release/{binary}"), "/usr/local/bin/")
            .cmd(&[&binary]);
        let mut notes = vec![
            format!("Rust {} ({}), runtime {}", builder.version, builder.image, runtime.image),
            format!("binary `{binary}`: {why}"),
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
