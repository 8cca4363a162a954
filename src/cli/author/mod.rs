//! `slipway plugin new`, `build` and `test`: the plugin author's tools. They
//! work from an installed binary: the SDK and contract travel inside it
//! ([`sdk`]) and the toolchain is looked for on the machine ([`toolchain`]).

mod sdk;
pub(crate) mod test;
mod toolchain;

use std::path::{Path, PathBuf};

use super::{exit, PluginArgs};

const CARGO_TOML: &str = include_str!("scaffold/Cargo.toml.tmpl");
const CARGO_CONFIG: &str = include_str!("scaffold/config.toml.tmpl");
const LIB_RS: &str = include_str!("scaffold/lib.rs.tmpl");
const README: &str = include_str!("scaffold/README.md.tmpl");

fn valid_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
}

pub(crate) fn new(name: &str, dir: Option<&Path>, sdk: Option<&Path>) -> anyhow::Result<u8> {
    if !valid_name(name) {
        eprintln!(
            "error: plugin name `{name}`: use lowercase letters, digits and `-`, starting with a letter"
        );
        return Ok(exit::USAGE);
    }
    let parent = dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let root = parent.join(name);
    if root.exists() {
        eprintln!(
            "error: {} already exists; nothing was written",
            root.display()
        );
        return Ok(exit::USAGE);
    }
    // An SDK given on the command line is depended on where it is; else the
    // one embedded in this binary is written into the new crate.
    let sdk_dependency = match sdk {
        Some(sdk) => {
            if !sdk.join("Cargo.toml").is_file() {
                eprintln!(
                    "error: no Slipway plugin SDK at {}: --sdk names a plugins/sdk directory",
                    sdk.display()
                );
                return Ok(exit::USAGE);
            }
            sdk.canonicalize()?.display().to_string()
        }
        None => sdk::SDK_DIR.to_string(),
    };
    let marker = format!("{name}.toml");
    let wasm = format!(
        "target/wasm32-unknown-unknown/release/{}.wasm",
        name.replace('-', "_")
    );
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{marker}}", &marker)
            .replace("{{sdk}}", &sdk_dependency)
            .replace("{{wasm}}", &wasm)
    };
    let files = [
        ("Cargo.toml", fill(CARGO_TOML)),
        (".cargo/config.toml", CARGO_CONFIG.to_string()),
        ("src/lib.rs", fill(LIB_RS)),
        ("README.md", fill(README)),
        (".gitignore", "/target\n".to_string()),
        (
            &format!("tests/fixtures/sample/{marker}") as &str,
            format!("# a {name} project\n"),
        ),
        // What `slipway plugin test` expects of each fixture, beside it.
        ("tests/fixtures/sample.expected", format!("{name}\n")),
        (
            "tests/fixtures/not-mine/README.md",
            "A project without the marker file.\n".to_string(),
        ),
        ("tests/fixtures/not-mine.expected", "nothing\n".to_string()),
    ];
    for (path, content) in &files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("files are inside the plugin"))?;
        std::fs::write(&path, content)?;
    }
    if sdk.is_none() {
        sdk::write_sdk(&root.join(sdk::SDK_DIR))?;
        std::fs::write(root.join("Cargo.lock"), sdk::lockfile()?)?;
    }
    super::emit(&format!(
        "created plugin `{name}` in {}\n  next: slipway plugin build {0}, then slipway plugin test {0}\n",
        root.display()
    ));
    Ok(exit::OK)
}

pub(crate) fn build(dir: &Path, plugins: &PluginArgs) -> anyhow::Result<u8> {
    let wasm = match compile(dir)? {
        Ok(wasm) => wasm,
        Err(code) => return Ok(code),
    };
    let host = plugins.host()?;
    match host.load_file(&wasm) {
        Ok(plugin) => {
            super::emit(&format!(
                "built {}\n  {} (contract {}), sha256 {}\n",
                wasm.display(),
                plugin.reference(),
                plugin.info.contract_version,
                plugin.sha256
            ));
            Ok(exit::OK)
        }
        Err(e) => {
            eprintln!(
                "error: built {}, but it is not a usable plugin: {e}",
                wasm.display()
            );
            Ok(exit::INVALID)
        }
    }
}

/// Builds the plugin crate in `dir`: the component's path, or the exit code
/// of a failure already reported.
pub(super) fn compile(dir: &Path) -> anyhow::Result<Result<PathBuf, u8>> {
    let toolchain = match toolchain::find() {
        Ok(toolchain) => toolchain,
        Err(missing) => {
            eprintln!("error: {missing}");
            return Ok(Err(exit::FAILURE));
        }
    };
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e} (is {} a plugin crate?)",
            manifest.display(),
            dir.display()
        )
    })?;
    let parsed: toml::Value =
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", manifest.display()))?;
    let Some(crate_name) = parsed
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
    else {
        anyhow::bail!("{}: no [package] name", manifest.display());
    };
    tracing::info!("building {} with {}", dir.display(), toolchain.description);
    let status = toolchain
        .build_command(dir)
        .status()
        .map_err(|e| anyhow::anyhow!("{}: {e}", toolchain.cargo.display()))?;
    if !status.success() {
        eprintln!("error: cargo build failed in {}", dir.display());
        return Ok(Err(exit::FAILURE));
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("target"));
    let wasm = target_dir
        .join(toolchain::TARGET)
        .join("release")
        .join(format!("{}.wasm", crate_name.replace('-', "_")));
    Ok(Ok(wasm))
}

/// `slipway plugin push FILE REF`: checks the component, pushes it as a Wasm
/// OCI artifact and prints the reference by digest a policy pins.
pub(crate) fn push(file: &Path, reference: &str, plugins: &PluginArgs) -> anyhow::Result<u8> {
    use slipway::registry::artifact::{Client, Reference};
    let reference = match Reference::parse(reference) {
        Ok(reference) if reference.digest.is_none() => reference,
        Ok(_) => {
            eprintln!("error: `{reference}`: push to a tag (REGISTRY/REPO:TAG); the registry gives the digest");
            return Ok(exit::USAGE);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    let plugin = match plugins.host()?.load_file(file) {
        Ok(plugin) => plugin,
        Err(e) => {
            eprintln!(
                "error: {}: not a usable plugin, nothing pushed: {e}",
                file.display()
            );
            return Ok(exit::INVALID);
        }
    };
    let bytes = std::fs::read(file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let digest = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(Client::new().push_wasm(&reference, bytes))?;
    super::emit(&format!(
        "pushed {} ({}) to {reference}\n  digest {digest}\n  policy: source = \"oci://{}\"\n",
        plugin.reference(),
        file.display(),
        reference.with_digest(&digest)
    ));
    Ok(exit::OK)
}
