//! `.balena/balena.yml` (or `.yaml`, `.json`, or the `.resin/` equivalents):
//! the build variables and build secrets it defines, globally and per service.
//!
//! Build secrets follow balena's format: each names a `source` file under
//! `.balena/secrets/` and the `dest` it is mounted as during the build
//! (`RUN --mount=type=secret,id=DEST` reads `/run/secrets/DEST`).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::plan::BuildSecret;
use crate::source::ProjectDir;

/// Where balena keeps build secret files.
pub const SECRETS_DIR: &str = ".balena/secrets";

const CANDIDATES: [&str; 6] = [
    ".balena/balena.yml",
    ".balena/balena.yaml",
    ".balena/balena.json",
    ".resin/resin.yml",
    ".resin/resin.yaml",
    ".resin/resin.json",
];

#[derive(Debug, thiserror::Error)]
pub enum BalenaConfigError {
    #[error("more than one balena config file: {}; keep one", .0.join(", "))]
    Several(Vec<String>),
    #[error("{0}")]
    Read(#[from] crate::source::SourceError),
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

/// Build variables as `KEY=value` pairs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BuildVariables {
    /// The file they came from, when there is one.
    pub file: Option<String>,
    pub global: BTreeMap<String, String>,
    pub services: BTreeMap<String, BTreeMap<String, String>>,
    /// `build-secrets`: mounted during the build, never in an image.
    pub secrets: SecretMounts,
}

/// The `build-secrets` of the config file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SecretMounts {
    pub global: Vec<BuildSecret>,
    pub services: BTreeMap<String, Vec<BuildSecret>>,
}

impl SecretMounts {
    /// The secrets one service sees: global ones, then its own (same `dest` wins).
    pub fn for_service(&self, service: &str) -> Vec<BuildSecret> {
        let mut out: Vec<BuildSecret> = Vec::new();
        for secret in self
            .global
            .iter()
            .chain(self.services.get(service).into_iter().flatten())
        {
            out.retain(|s| s.id != secret.id);
            out.push(secret.clone());
        }
        out
    }
}

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(rename = "build-variables", default)]
    build_variables: Option<RawVariables>,
    #[serde(rename = "build-secrets", default)]
    build_secrets: Option<RawSecrets>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecrets {
    #[serde(default)]
    global: Vec<RawSecret>,
    #[serde(default)]
    services: BTreeMap<String, Vec<RawSecret>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecret {
    source: String,
    dest: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVariables {
    #[serde(default)]
    global: Vec<String>,
    #[serde(default)]
    services: BTreeMap<String, Vec<String>>,
}

pub fn load(project: &ProjectDir) -> Result<BuildVariables, BalenaConfigError> {
    let present: Vec<&str> = CANDIDATES
        .into_iter()
        .filter(|f| project.is_file(f))
        .collect();
    let file = match present.as_slice() {
        [] => return Ok(BuildVariables::default()),
        [one] => *one,
        several => {
            return Err(BalenaConfigError::Several(
                several.iter().map(|s| s.to_string()).collect(),
            ))
        }
    };
    let text = project.read_text(file)?;
    let invalid = |message: String| BalenaConfigError::Invalid {
        file: file.to_string(),
        message,
    };
    let parsed: ConfigFile = if text.trim().is_empty() {
        ConfigFile {
            build_variables: None,
            build_secrets: None,
        }
    } else if file.ends_with(".json") {
        serde_json::from_str(&text).map_err(|e| invalid(format!("invalid JSON: {e}")))?
    } else {
        serde_yaml_ng::from_str(&text).map_err(|e| invalid(format!("invalid YAML: {e}")))?
    };
    let secrets = match &parsed.build_secrets {
        Some(raw) => secret_mounts(raw).map_err(invalid)?,
        None => SecretMounts::default(),
    };
    let Some(raw) = parsed.build_variables else {
        return Ok(BuildVariables {
            file: Some(file.to_string()),
            secrets,
            ..Default::default()
        });
    };
    let global = pairs(&raw.global).map_err(|e| invalid(format!("build-variables.global: {e}")))?;
    let mut services = BTreeMap::new();
    for (service, entries) in &raw.services {
        let vars = pairs(entries)
            .map_err(|e| invalid(format!("build-variables.services.{service}: {e}")))?;
        services.insert(service.clone(), vars);
    }
    Ok(BuildVariables {
        file: Some(file.to_string()),
        global,
        services,
        secrets,
    })
}

fn secret_mounts(raw: &RawSecrets) -> Result<SecretMounts, String> {
    let list = |entries: &[RawSecret], at: &str| -> Result<Vec<BuildSecret>, String> {
        let mut out: Vec<BuildSecret> = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let at = format!("build-secrets.{at}[{index}]");
            let plain = |value: &str| {
                !value.is_empty()
                    && value != "."
                    && value != ".."
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            };
            if !plain(&entry.source) {
                return Err(format!(
                    "{at}.source `{}`: name a file in {SECRETS_DIR}/ (letters, digits, `.`, `_`, `-`)",
                    entry.source
                ));
            }
            if !plain(&entry.dest) {
                return Err(format!(
                    "{at}.dest `{}`: a secret id (letters, digits, `.`, `_`, `-`)",
                    entry.dest
                ));
            }
            if out.iter().any(|s| s.id == entry.dest) {
                return Err(format!("{at}.dest `{}` is given twice", entry.dest));
            }
            out.push(BuildSecret {
                id: entry.dest.clone(),
                source: format!("{SECRETS_DIR}/{}", entry.source),
            });
        }
        Ok(out)
    };
    let mut services = BTreeMap::new();
    for (service, entries) in &raw.services {
        services.insert(
            service.clone(),
            list(entries, &format!("services.{service}"))?,
        );
    }
    Ok(SecretMounts {
        global: list(&raw.global, "global")?,
        services,
    })
}

fn pairs(entries: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for entry in entries {
        let (key, value) = entry
            .split_once('=')
            .ok_or_else(|| format!("`{entry}` is not KEY=value"))?;
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`{key}` is not a valid variable name"));
        }
        out.insert(key.to_string(), value.to_string());
    }
    Ok(out)
}
