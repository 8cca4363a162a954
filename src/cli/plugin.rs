//! `slipway plugin list` and `slipway device-types`.

use clap::Subcommand;
use serde_json::json;

use super::{exit, table, PluginArgs};

#[derive(Subcommand)]
pub(crate) enum PluginCommand {
    /// List the loaded plugins: version, contract, priority, sha256.
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        plugins: PluginArgs,
    },
    /// Scaffold a plugin crate: toolchain config, detect/plan skeleton, a test fixture, a README.
    New {
        /// The plugin's name (lowercase letters, digits, `-`).
        name: String,
        /// Create it under DIR (default: the current directory).
        #[arg(long, value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
        /// The Slipway plugin SDK to depend on (default: this build's plugins/sdk).
        #[arg(long, value_name = "PATH")]
        sdk: Option<std::path::PathBuf>,
    },
    /// Build a plugin crate to a WebAssembly component, then check it.
    Build {
        /// The plugin crate (default: the current directory).
        #[arg(default_value = ".")]
        dir: std::path::PathBuf,
        #[command(flatten)]
        plugins: PluginArgs,
    },
    /// Run the plugin against each project under DIR/tests/fixtures, each
    /// with its expected answer in tests/fixtures/NAME.expected (a project
    /// type, `nothing`, or `error: TEXT`). Builds the crate first unless --wasm.
    Test {
        /// The plugin crate (default: the current directory).
        #[arg(default_value = ".")]
        dir: std::path::PathBuf,
        /// Test this component instead of building the crate.
        #[arg(long, value_name = "FILE")]
        wasm: Option<std::path::PathBuf>,
        /// The target the fixtures are detected for.
        #[arg(long, default_value = "raspberrypi4-64")]
        device_type: String,
        #[command(flatten)]
        plugins: PluginArgs,
    },
    /// Push a plugin component to an OCI registry (a Wasm artifact) and
    /// print the digest to pin in a policy's `source`.
    Push {
        /// The component to push (checked first).
        file: std::path::PathBuf,
        /// Where: REGISTRY/REPO:TAG, e.g. 127.0.0.1:5000/plugins/ini:0.1.0.
        reference: String,
        #[command(flatten)]
        plugins: PluginArgs,
    },
    /// Validate a plugin component (imports, exports, contract version) and print its info.
    Check {
        /// The component, e.g. target/wasm32-unknown-unknown/release/my_plugin.wasm.
        file: std::path::PathBuf,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        plugins: PluginArgs,
    },
}

pub(crate) fn run(command: PluginCommand) -> anyhow::Result<u8> {
    let (json, plugins) = match command {
        PluginCommand::List { json, plugins } => (json, plugins),
        PluginCommand::Check {
            file,
            json,
            plugins,
        } => return check(&file, json, &plugins),
        PluginCommand::New { name, dir, sdk } => {
            return super::author::new(&name, dir.as_deref(), sdk.as_deref())
        }
        PluginCommand::Build { dir, plugins } => return super::author::build(&dir, &plugins),
        PluginCommand::Test {
            dir,
            wasm,
            device_type,
            plugins,
        } => return super::author::test::run(&dir, wasm.as_deref(), &device_type, &plugins),
        PluginCommand::Push {
            file,
            reference,
            plugins,
        } => return super::author::push(&file, &reference, &plugins),
    };
    let (_host, set) = plugins.host_and_plugins(false)?;
    if json {
        let plugins: Vec<_> = set.all().iter().map(|p| p.describe()).collect();
        let errors: Vec<String> = set.load_errors.iter().map(|e| e.to_string()).collect();
        let document = json!({ "plugins": plugins, "disabled": set.disabled, "errors": errors });
        super::emit(&format!("{}\n", serde_json::to_string_pretty(&document)?));
    } else {
        let rows: Vec<Vec<String>> = set
            .all()
            .iter()
            .map(|p| {
                vec![
                    p.info.name.clone(),
                    p.info.version.clone(),
                    p.info.contract_version.clone(),
                    p.info.priority.to_string(),
                    format!("{:?}", p.info.scope).to_lowercase(),
                    p.origin.to_string(),
                    p.sha256.clone(),
                ]
            })
            .collect();
        super::emit(&table::render(
            &[
                "NAME", "VERSION", "CONTRACT", "PRIORITY", "SCOPE", "ORIGIN", "SHA256",
            ],
            &rows,
        ));
        if !set.disabled.is_empty() {
            super::emit(&format!(
                "disabled by policy: {}\n",
                set.disabled.join(", ")
            ));
        }
        for error in &set.load_errors {
            eprintln!("error: {error}");
        }
    }
    Ok(if set.load_errors.is_empty() {
        exit::OK
    } else {
        exit::INVALID
    })
}

fn check(file: &std::path::Path, json: bool, plugins: &PluginArgs) -> anyhow::Result<u8> {
    let host = plugins.host()?;
    let plugin = match host.load_file(file) {
        Ok(plugin) => plugin,
        Err(e) => {
            if json {
                super::emit(&format!(
                    "{}\n",
                    json!({ "file": file.display().to_string(), "valid": false, "error": e.to_string() })
                ));
            }
            eprintln!("error: {e}");
            return Ok(exit::INVALID);
        }
    };
    let info = &plugin.info;
    if json {
        super::emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({
                "file": file.display().to_string(),
                "valid": true,
                "name": info.name,
                "version": info.version,
                "contract_version": info.contract_version,
                "priority": info.priority,
                "scope": info.scope,
                "description": info.description,
                "looks_for": info.looks_for,
                "sha256": plugin.sha256,
                "imports": plugin.imports().unwrap_or_default(),
            }))?
        ));
    } else {
        let mut out = format!(
            "{}: valid plugin component\n  name         {}\n  version      {}\n  contract     slipway:plugin@{}\n  scope        {}\n  priority     {}\n  description  {}\n  looks for    {}\n  sha256       {}\n  imports\n",
            file.display(),
            info.name,
            info.version,
            info.contract_version,
            format!("{:?}", info.scope).to_lowercase(),
            info.priority,
            info.description,
            if info.looks_for.is_empty() {
                "(anything: detect is always called)".to_string()
            } else {
                info.looks_for.join(", ")
            },
            plugin.sha256
        );
        for import in plugin.imports().unwrap_or_default() {
            out.push_str(&format!("    {import}\n"));
        }
        super::emit(&out);
    }
    Ok(exit::OK)
}

pub(crate) fn device_types(json: bool) -> anyhow::Result<u8> {
    let all = slipway::target::all();
    if json {
        let list: Vec<_> = all
            .iter()
            .map(
                |d| json!({"slug": d.slug, "name": d.name, "arch": d.arch, "platform": d.platform}),
            )
            .collect();
        super::emit(&format!("{}\n", serde_json::to_string_pretty(&list)?));
    } else {
        let rows: Vec<Vec<String>> = all
            .iter()
            .map(|d| {
                vec![
                    d.slug.clone(),
                    d.arch.clone(),
                    d.platform.clone(),
                    d.name.clone(),
                ]
            })
            .collect();
        super::emit(&table::render(&["SLUG", "ARCH", "PLATFORM", "NAME"], &rows));
    }
    Ok(exit::OK)
}
