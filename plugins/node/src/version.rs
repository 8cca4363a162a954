//! Which Node.js version to build on: `.nvmrc` or `.node-version` (nvm's
//! and nodenv's pins, `lts/*` and `lts/<codename>` included), else
//! `engines.node`, else the catalogue's default LTS.

use nodejs_semver::{Range, Version};
use slipway_plugin_sdk::{fs, invalid, BaseImage, PluginError};

use crate::manifest::MANIFEST;
use crate::root::Root;

const PIN_FILES: [&str; 2] = [".nvmrc", ".node-version"];

/// Release lines by their LTS codenames (nvm's `lts/<name>`).
const LTS_CODENAMES: [(&str, u64); 11] = [
    ("argon", 4),
    ("boron", 6),
    ("carbon", 8),
    ("dubnium", 10),
    ("erbium", 12),
    ("fermium", 14),
    ("gallium", 16),
    ("hydrogen", 18),
    ("iron", 20),
    ("jod", 22),
    ("krypton", 24),
];

/// The chosen image and why.
pub struct Choice {
    pub image: BaseImage,
    pub note: String,
}

pub fn choose(
    root: &Root,
    engines_node: Option<&str>,
    offered: &[BaseImage],
) -> Result<Choice, PluginError> {
    for file in PIN_FILES.into_iter().filter(|f| root.has(f)) {
        let Some(text) = fs::read_text(file)? else {
            continue;
        };
        let pin = text.lines().next().unwrap_or_default().trim();
        if pin.is_empty() {
            continue;
        }
        let image = from_pin(file, pin, offered)?;
        let mut note = format!("{file} \"{pin}\" selects Node.js {}", image.version);
        if let Some(range) = engines_node {
            let satisfied = Range::parse(range)
                .ok()
                .zip(Version::parse(&image.version).ok());
            if satisfied.is_some_and(|(range, version)| !range.satisfies(&version)) {
                note.push_str(&format!(
                    " (engines.node \"{range}\" disagrees; {file} wins, as with nvm)"
                ));
            }
        }
        return Ok(Choice { image, note });
    }
    if let Some(range) = engines_node {
        let image = for_range(MANIFEST, "engines.node", range, offered)?;
        let note = format!("engines.node \"{range}\" selects Node.js {}", image.version);
        return Ok(Choice { image, note });
    }
    let image = default(offered);
    let note = format!(
        "no .nvmrc, .node-version or engines.node: using the default LTS, Node.js {}",
        image.version
    );
    Ok(Choice { image, note })
}

fn default(offered: &[BaseImage]) -> BaseImage {
    offered
        .iter()
        .find(|i| i.is_default)
        .unwrap_or(&offered[0])
        .clone()
}

/// `20`, `v20.11.1`, `20.11`, `lts/*`, `lts/iron`, `node`, `stable`.
fn from_pin(file: &str, pin: &str, offered: &[BaseImage]) -> Result<BaseImage, PluginError> {
    let lower = pin.to_ascii_lowercase();
    if lower == "lts/*" || lower == "lts" {
        return Ok(default(offered));
    }
    if lower == "node" || lower == "stable" || lower == "latest" || lower == "current" {
        return Ok(offered[0].clone());
    }
    if let Some(codename) = lower.strip_prefix("lts/") {
        let Some((_, major)) = LTS_CODENAMES.iter().find(|(name, _)| *name == codename) else {
            return Err(invalid(
                file,
                format!("`{pin}`: unknown LTS codename (known: {})", codenames()),
            ));
        };
        return for_range(file, file, &format!("{major}.x"), offered);
    }
    let version = lower.trim_start_matches('v');
    let parts = version.split('.').count();
    let range = match parts {
        1 => format!("{version}.x"),
        2 => format!("{version}.x"),
        _ => version.to_string(),
    };
    match for_range(file, file, &range, offered) {
        Ok(image) => Ok(image),
        // An exact patch we do not offer: the newest of its minor, then major, is
        // what an image tag like `20-bookworm-slim` gives anyway.
        Err(_) if parts == 3 => {
            let major = version.split('.').next().unwrap_or_default();
            for_range(file, file, &format!("{major}.x"), offered)
        }
        Err(e) => Err(e),
    }
}

fn codenames() -> String {
    LTS_CODENAMES
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The newest offered image whose version satisfies `range`.
fn for_range(
    file: &str,
    what: &str,
    range: &str,
    offered: &[BaseImage],
) -> Result<BaseImage, PluginError> {
    let parsed = Range::parse(range).map_err(|e| {
        invalid(
            file,
            format!("{what} \"{range}\" is not a valid version range: {e}"),
        )
    })?;
    offered
        .iter()
        .filter(|image| {
            Version::parse(&image.version).is_ok_and(|version| parsed.satisfies(&version))
        })
        .max_by(|a, b| {
            let a = Version::parse(&a.version).ok();
            let b = Version::parse(&b.version).ok();
            a.cmp(&b)
        })
        .cloned()
        .ok_or_else(|| {
            let versions: Vec<&str> = offered.iter().map(|i| i.version.as_str()).collect();
            invalid(
                file,
                format!(
                    "no Node.js version on offer satisfies {what} \"{range}\"; on offer: {}",
                    versions.join(", ")
                ),
            )
        })
}
