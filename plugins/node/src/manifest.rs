//! Reading `package.json`: only the fields that shape the image.

use serde_json::{Map, Value};
use slipway_plugin_sdk::{fs, invalid, invalid_at, PluginError};

pub const MANIFEST: &str = "package.json";

/// The lockfiles `npm ci` accepts, in npm's order of preference.
const LOCKFILES: [&str; 2] = ["npm-shrinkwrap.json", "package-lock.json"];

pub struct Manifest {
    pub engines_node: Option<String>,
    pub has_start_script: bool,
    pub main: Option<String>,
    pub lockfile: Option<&'static str>,
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
        Ok(Manifest {
            engines_node: engines_node(&fields)?,
            has_start_script: fields
                .get("scripts")
                .and_then(Value::as_object)
                .is_some_and(|s| s.contains_key("start")),
            main: string_field(&fields, "main")?,
            lockfile: LOCKFILES.into_iter().find(|f| fs::is_file(f)),
        })
    }
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
