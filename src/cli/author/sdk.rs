//! The plugin SDK and WIT contract embedded in this binary, written next to
//! a new plugin so that it builds with no Slipway checkout around.

use std::path::Path;

include!(concat!(env!("OUT_DIR"), "/sdk_files.rs"));

/// Where the vendored SDK goes inside a new plugin crate.
pub(super) const SDK_DIR: &str = "sdk";

/// How the SDK names the contract in its repository, and in a vendored copy.
const WIT_IN_REPOSITORY: &str = "\"../../wit/plugin.wit\"";
const WIT_VENDORED: &str = "\"wit/plugin.wit\"";

fn file(path: &str) -> anyhow::Result<&'static str> {
    SDK_FILES
        .iter()
        .find(|(name, _)| *name == path)
        .map(|(_, text)| *text)
        .ok_or_else(|| anyhow::anyhow!("this build of slipway has no embedded {path}"))
}

/// Writes the SDK crate (standalone manifest, sources, contract) to `dir`.
pub(super) fn write_sdk(dir: &Path) -> anyhow::Result<()> {
    let manifest =
        standalone_manifest(file("plugins/sdk/Cargo.toml")?, file("plugins/Cargo.toml")?)?;
    write(&dir.join("Cargo.toml"), &manifest)?;
    write(&dir.join("wit/plugin.wit"), file("wit/plugin.wit")?)?;
    for (path, text) in SDK_FILES {
        let Some(name) = path.strip_prefix("plugins/sdk/src/") else {
            continue;
        };
        let text = if name == "lib.rs" {
            if !text.contains(WIT_IN_REPOSITORY) {
                anyhow::bail!("the embedded SDK's lib.rs no longer names {WIT_IN_REPOSITORY}");
            }
            text.replace(WIT_IN_REPOSITORY, WIT_VENDORED)
        } else {
            text.to_string()
        };
        write(&dir.join("src").join(name), &text)?;
    }
    Ok(())
}

/// The lockfile the built-in plugins are built with: a new plugin starts from
/// the same dependency versions (cargo drops the entries it does not use).
pub(super) fn lockfile() -> anyhow::Result<&'static str> {
    file("plugins/Cargo.lock")
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The SDK's manifest with every `x.workspace = true` replaced by the
/// workspace's value, so the crate stands alone.
fn standalone_manifest(sdk: &str, workspace: &str) -> anyhow::Result<String> {
    let mut sdk: toml::Table = toml::from_str(sdk)?;
    let workspace: toml::Table = toml::from_str(workspace)?;
    let shared = |section: &str| {
        workspace
            .get("workspace")
            .and_then(|w| w.get(section))
            .and_then(toml::Value::as_table)
            .cloned()
            .unwrap_or_default()
    };
    for (section, from) in [
        ("package", shared("package")),
        ("dependencies", shared("dependencies")),
    ] {
        let Some(table) = sdk.get_mut(section).and_then(toml::Value::as_table_mut) else {
            continue;
        };
        for (key, value) in table.iter_mut() {
            let inherited = value
                .get("workspace")
                .and_then(toml::Value::as_bool)
                .unwrap_or(false);
            if inherited {
                *value = from.get(key.as_str()).cloned().ok_or_else(|| {
                    anyhow::anyhow!(
                        "the embedded SDK inherits {section}.{key}, which its workspace lacks"
                    )
                })?;
            }
        }
    }
    Ok(toml::to_string(&sdk)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_manifest_stands_alone() {
        let text = standalone_manifest(
            file("plugins/sdk/Cargo.toml").unwrap(),
            file("plugins/Cargo.toml").unwrap(),
        )
        .unwrap();
        assert!(!text.contains("workspace"), "{text}");
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(
            parsed["package"]["name"].as_str(),
            Some("slipway-plugin-sdk")
        );
        assert!(parsed["dependencies"]["wit-bindgen"].is_str());
    }

    #[test]
    fn the_contract_and_every_source_are_embedded() {
        assert!(file("wit/plugin.wit")
            .unwrap()
            .contains("package slipway:plugin"));
        assert!(file("plugins/sdk/src/lib.rs")
            .unwrap()
            .contains(WIT_IN_REPOSITORY));
        assert!(SDK_FILES
            .iter()
            .any(|(p, _)| *p == "plugins/sdk/src/dockerfile.rs"));
    }
}
