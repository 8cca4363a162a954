//! Duplicate service names. A YAML mapping with a key given twice keeps one
//! of them silently in many parsers; compose refuses it, and so does this
//! plugin, naming both lines. The scan reads the block-style `services:`
//! section line by line (the form compose files use); the parser handles
//! the rest.

use slipway_plugin_sdk::{invalid_at, PluginError};

pub fn check(file: &str, text: &str) -> Result<(), PluginError> {
    let mut in_services = false;
    let mut child_indent: Option<usize> = None;
    let mut seen: Vec<(String, usize)> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line_number = index + 1;
        let content = raw.trim_end();
        let trimmed = content.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = content.len() - trimmed.len();
        if indent == 0 {
            in_services = trimmed.starts_with("services:");
            child_indent = None;
            continue;
        }
        if !in_services {
            continue;
        }
        let child = *child_indent.get_or_insert(indent);
        if indent != child {
            continue;
        }
        let Some((key, _)) = trimmed.split_once(':') else {
            continue;
        };
        let key = key
            .trim()
            .trim_matches(|c| c == '"' || c == '\'')
            .to_string();
        if let Some((_, first)) = seen.iter().find(|(name, _)| *name == key) {
            return Err(invalid_at(
                file,
                line_number as u32,
                (indent + 1) as u32,
                format!(
                    "service `{key}` is defined twice (lines {first} and {line_number}): \
                     service names must be unique"
                ),
            ));
        }
        seen.push((key, line_number));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn names_both_lines() {
        let text = "version: '2'\nservices:\n  web:\n    build: .\n  # c\n  db:\n    image: x\n  web:\n    image: y\nvolumes:\n  web: {}\n";
        let error = format!("{:?}", check("docker-compose.yml", text).unwrap_err());
        assert!(error.contains("lines 3 and 8"), "{error}");
        assert!(check("f", "services:\n  a:\n    build: .\n  b:\n    build: .\n").is_ok());
    }
}
