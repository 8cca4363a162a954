//! `.balena/balena.yml` (or `.yaml`, `.json`, or the `.resin/` equivalents):
//! the build variables it defines, globally and per service.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::source::ProjectDir;

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
}

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(rename = "build-variables", default)]
    build_variables: Option<RawVariables>,
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
        }
    } else if file.ends_with(".json") {
        serde_json::from_str(&text).map_err(|e| invalid(format!("invalid JSON: {e}")))?
    } else {
        serde_yaml_ng::from_str(&text).map_err(|e| invalid(format!("invalid YAML: {e}")))?
    };
    let Some(raw) = parsed.build_variables else {
        return Ok(BuildVariables {
            file: Some(file.to_string()),
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
