//! `slipway plugin new` and `slipway plugin build`: the plugin author's tools.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{exit, PluginArgs};

const CARGO_TOML: &str = include_str!("scaffold/Cargo.toml.tmpl");
const CARGO_CONFIG: &str = include_str!("scaffold/config.toml.tmpl");
const LIB_RS: &str = include_str!("scaffold/lib.rs.tmpl");
const README: &str = include_str!("scaffold/README.md.tmpl");

/// Where the SDK of this build of slipway lives (its repository's plugins/sdk).
fn default_sdk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/sdk")
}

/// What the toolchain recipe needs, and the Debian package that provides it.
const TOOLCHAIN: [(&str, &str); 5] = [
    ("/usr/bin/rustc", "rustc-web"),
    ("/usr/bin/cargo", "cargo-web"),
    ("/usr/lib/rustlib/src/rust/library", "rust-web-src"),
    (
        "/usr/lib/rustlib/x86_64-unknown-linux-gnu/bin/wasm-component-ld",
        "rust-web-llvm",
    ),
    ("/usr/bin/ld.lld-22", "lld-22"),
];

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
    let sdk = sdk.map(Path::to_path_buf).unwrap_or_else(default_sdk);
    if !sdk.join("Cargo.toml").is_file() {
        eprintln!(
            "error: no Slipway plugin SDK at {}: pass --sdk PATH (the plugins/sdk directory of a Slipway checkout)",
            sdk.display()
        );
        return Ok(exit::USAGE);
    }
    let sdk = sdk.canonicalize()?;
    let marker = format!("{name}.toml");
    let wasm = format!(
        "target/wasm32-unknown-unknown/release/{}.wasm",
        name.replace('-', "_")
    );
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{marker}}", &marker)
            .replace("{{sdk}}", &sdk.display().to_string())
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
    ];
    for (path, content) in &files {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("files are inside the plugin"))?;
        std::fs::write(&path, content)?;
    }
    super::emit(&format!(
        "created plugin `{name}` in {}\n  next: slipway plugin build {}\n",
        root.display(),
        root.display()
    ));
    Ok(exit::OK)
}

pub(crate) fn build(dir: &Path, plugins: &PluginArgs) -> anyhow::Result<u8> {
    let missing: Vec<(&str, &str)> = TOOLCHAIN
        .iter()
        .filter(|(path, _)| !Path::new(path).exists())
        .copied()
        .collect();
    if !missing.is_empty() {
        let packages: Vec<&str> = missing.iter().map(|(_, package)| *package).collect();
        eprintln!(
            "error: the plugin toolchain is incomplete: missing {}\n  install Debian's packages: apt-get install {}\n  (or, in a Slipway checkout: bash scripts/install-wasm-toolchain.sh)",
            missing.iter().map(|(path, _)| *path).collect::<Vec<_>>().join(", "),
            packages.join(" ")
        );
        return Ok(exit::FAILURE);
    }
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
    let status = Command::new("/usr/bin/cargo")
        .args(["build", "--release"])
        .current_dir(dir)
        .env("RUSTC_BOOTSTRAP", "1")
        .env_remove("CARGO_BUILD_TARGET")
        .status()?;
    if !status.success() {
        eprintln!("error: cargo build failed in {}", dir.display());
        return Ok(exit::FAILURE);
    }
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("target"));
    let wasm = target_dir
        .join("wasm32-unknown-unknown/release")
        .join(format!("{}.wasm", crate_name.replace('-', "_")));
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
