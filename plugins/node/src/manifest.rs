//! Reading `package.json`: only the fields that shape the image.

use serde_json::{Map, Value};
use slipway_plugin_sdk::{fs, invalid, invalid_at, PluginError};

pub const MANIFEST: &str = "package.json";

pub struct Manifest {
    pub engines_node: Option<String>,
    pub start_script: Option<String>,
    pub build_script: Option<String>,
    pub main: Option<String>,
    pub package_manager: Option<String>,
    /// `workspaces` patterns (an array, or yarn's `{ "packages": [...] }`).
    pub workspaces: Vec<String>,
    /// Names of dependencies and dev dependencies.
    pub dependencies: Vec<String>,
    /// Directories of local dependencies (`file:tools/x`, `link:../y`), which
    /// the install needs before the sources are copied.
    pub local_dependencies: Vec<String>,
}

impl Manifest {
    pub fn load() -> Result<Manifest, PluginError> {
        let text = fs::read_text(MANIFEST)?
            .ok_or_else(|| invalid(MANIFEST, "package.json disappeared during detection"))?;
        let value: Value = serde_json::from_str(&text).map_err(|e| fs::json_error(MANIFEST, &e))?;
        let Value::Object(fields) = value else {
            let (line, column) = first_token_position(&text);
            return Err(invalid_at(
                MANIFEST,
                line,
                column,
                format!(
                    "package.json must be a JSON object, found {}",
                    kind_of(&value)
                ),
            ));
        };
        let scripts = fields.get("scripts").and_then(Value::as_object);
        let script = |name: &str| {
            scripts
                .and_then(|s| s.get(name))
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(str::to_string)
        };
        let workspaces = match fields.get("workspaces") {
            Some(Value::Array(items)) => strings(items),
            Some(Value::Object(yarn)) => yarn
                .get("packages")
                .and_then(Value::as_array)
                .map(|items| strings(items))
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        let mut dependencies = Vec::new();
        let mut local_dependencies = Vec::new();
        for section in ["dependencies", "devDependencies", "optionalDependencies"] {
            if let Some(Value::Object(deps)) = fields.get(section) {
                dependencies.extend(deps.keys().cloned());
                for spec in deps.values().filter_map(Value::as_str) {
                    let path = spec
                        .strip_prefix("file:")
                        .or_else(|| spec.strip_prefix("link:"))
                        .map(|p| p.trim_start_matches("./").trim_end_matches('/'));
                    // Only directories inside the context can be copied.
                    if let Some(path) = path.filter(|p| {
                        !p.is_empty() && !p.starts_with('/') && !p.split('/').any(|c| c == "..")
                    }) {
                        if !local_dependencies.iter().any(|d| d == path) {
                            local_dependencies.push(path.to_string());
                        }
                    }
                }
            }
        }
        Ok(Manifest {
            engines_node: engines_node(&fields)?,
            start_script: script("start"),
            build_script: script("build"),
            main: string_field(&fields, "main")?,
            package_manager: string_field(&fields, "packageManager")?,
            workspaces,
            dependencies,
            local_dependencies,
        })
    }

    pub fn depends_on(&self, name: &str) -> bool {
        self.dependencies.iter().any(|d| d == name)
    }
}

fn strings(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn engines_node(fields: &Map<String, Value>) -> Result<Option<String>, PluginError> {
    match fields.get("engines") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(engines)) => string_field(engines, "node")
            .map_err(|_| invalid(MANIFEST, "engines.node must be a string (a semver range)")),
        Some(other) => Err(invalid(
            MANIFEST,
            format!("engines must be an object, found {}", kind_of(other)),
        )),
    }
}

fn string_field(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, PluginError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(invalid(
            MANIFEST,
            format!("{name} must be a string, found {}", kind_of(other)),
        )),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// 1-based line and column of the first non-blank character.
fn first_token_position(text: &str) -> (u32, u32) {
    for (index, line) in text.lines().enumerate() {
        if let Some(col) = line.find(|c: char| !c.is_whitespace()) {
            return (index as u32 + 1, col as u32 + 1);
        }
    }
    (1, 1)
}
