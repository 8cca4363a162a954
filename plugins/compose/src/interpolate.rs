//! Compose variable interpolation, as the compose spec defines it, applied
//! to every string value (never to keys):
//!
//! - `$VAR` and `${VAR}`: the variable's value, empty when unset (warned);
//! - `${VAR:-default}` (unset or empty) and `${VAR-default}` (unset);
//! - `${VAR:?message}` and `${VAR?message}`: an error when unset (or empty);
//! - `${VAR:+alt}` and `${VAR+alt}`: `alt` when set (and non-empty);
//! - `$$`: a literal `$`.
//!
//! Values come from the project's `.env` file. The builder's own environment
//! is not consulted: a build service must not leak its environment into
//! projects it builds for others.

use std::collections::BTreeMap;

use serde_yaml_ng::Value;

/// Variables from `.env`: `KEY=value` lines, `#` comments, optional
/// `export `, values optionally in single or double quotes.
pub fn parse_env(text: &str) -> BTreeMap<String, String> {
    let mut vars = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let unquoted = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        vars.insert(key.trim().to_string(), unquoted.to_string());
    }
    vars
}

/// Interpolates every string inside `value`. `at` names the place for
/// messages (`service web`).
pub fn value(
    value: &mut Value,
    vars: &BTreeMap<String, String>,
    at: &str,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    match value {
        Value::String(text) => *text = string(text, vars, at, warnings)?,
        Value::Sequence(items) => {
            for item in items {
                self::value(item, vars, at, warnings)?;
            }
        }
        Value::Mapping(map) => {
            for (_, item) in map.iter_mut() {
                self::value(item, vars, at, warnings)?;
            }
        }
        Value::Tagged(tagged) => self::value(&mut tagged.value, vars, at, warnings)?,
        _ => {}
    }
    Ok(())
}

/// Interpolates one string.
pub fn string(
    text: &str,
    vars: &BTreeMap<String, String>,
    at: &str,
    warnings: &mut Vec<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(braced) = after.strip_prefix('{') {
            let end = closing_brace(braced)
                .ok_or_else(|| format!("{at}: `${{` without a closing `}}` in `{text}`"))?;
            out.push_str(&expression(&braced[..end], vars, at, warnings)?);
            rest = &braced[end + 1..];
        } else {
            let length = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if length == 0 {
                // A lone `$` stays as it is, like compose.
                out.push('$');
                rest = after;
            } else {
                out.push_str(&lookup(&after[..length], vars, at, warnings));
                rest = &after[length..];
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Where the `}` closing an opened `${` is, counting nested `${...}`.
fn closing_brace(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'$' if bytes.get(index + 1) == Some(&b'{') => {
                depth += 1;
                index += 1;
            }
            b'}' if depth == 0 => return Some(index),
            b'}' => depth -= 1,
            _ => {}
        }
        index += 1;
    }
    None
}

fn expression(
    inside: &str,
    vars: &BTreeMap<String, String>,
    at: &str,
    warnings: &mut Vec<String>,
) -> Result<String, String> {
    let name_end = inside
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inside.len());
    let (name, operator) = inside.split_at(name_end);
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "{at}: `${{{inside}}}` is not a valid variable reference"
        ));
    }
    let value = vars.get(name);
    let set = value.is_some();
    let non_empty = value.is_some_and(|v| !v.is_empty());
    let nested = |text: &str, warnings: &mut Vec<String>| string(text, vars, at, warnings);
    match operator {
        "" => Ok(lookup(name, vars, at, warnings)),
        _ if operator.starts_with(":-") => match value.filter(|_| non_empty) {
            Some(value) => Ok(value.clone()),
            None => nested(&operator[2..], warnings),
        },
        _ if operator.starts_with('-') => match value {
            Some(value) => Ok(value.clone()),
            None => nested(&operator[1..], warnings),
        },
        _ if operator.starts_with(":?") || operator.starts_with('?') => {
            let (required_set, message) = match operator.strip_prefix(":?") {
                Some(message) => (non_empty, message),
                None => (set, &operator[1..]),
            };
            match value.filter(|_| required_set) {
                Some(value) => Ok(value.clone()),
                None => Err(format!(
                    "{at}: variable `{name}` is required{}",
                    if message.is_empty() {
                        String::new()
                    } else {
                        format!(": {message}")
                    }
                )),
            }
        }
        _ if operator.starts_with(":+") => {
            if non_empty {
                nested(&operator[2..], warnings)
            } else {
                Ok(String::new())
            }
        }
        _ if operator.starts_with('+') => {
            if set {
                nested(&operator[1..], warnings)
            } else {
                Ok(String::new())
            }
        }
        _ => Err(format!(
            "{at}: `${{{inside}}}` is not supported (Slipway supports ${{VAR}}, ${{VAR:-default}}, \
             ${{VAR-default}}, ${{VAR:?error}}, ${{VAR:+alt}} and $$)"
        )),
    }
}

fn lookup(
    name: &str,
    vars: &BTreeMap<String, String>,
    at: &str,
    warnings: &mut Vec<String>,
) -> String {
    match vars.get(name) {
        Some(value) => value.clone(),
        None => {
            let warning = format!("{at}: variable `{name}` is not set (in .env); using \"\"");
            if !warnings.contains(&warning) {
                warnings.push(warning);
            }
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        parse_env("# comment\nTAG=1.2\nexport EMPTY=\nQUOTED=\"a b\"\n")
    }

    fn run(text: &str) -> Result<String, String> {
        string(text, &vars(), "service web", &mut Vec::new())
    }

    #[test]
    fn the_compose_spec_forms() {
        assert_eq!(run("app:${TAG}").unwrap(), "app:1.2");
        assert_eq!(run("app:$TAG-x").unwrap(), "app:1.2-x");
        assert_eq!(run("${MISSING:-def}").unwrap(), "def");
        assert_eq!(run("${EMPTY:-def}").unwrap(), "def");
        assert_eq!(run("${EMPTY-def}").unwrap(), "");
        assert_eq!(run("${TAG:+on}").unwrap(), "on");
        assert_eq!(run("cost $$5").unwrap(), "cost $5");
        assert_eq!(run("${QUOTED}").unwrap(), "a b");
        assert_eq!(run("${MISSING:-${TAG}}").unwrap(), "1.2");
        assert!(run("${MISSING:?set it}")
            .unwrap_err()
            .contains("variable `MISSING` is required: set it"));
        assert!(run("${TAG/x/y}").unwrap_err().contains("is not supported"));
        let mut warnings = Vec::new();
        assert_eq!(string("$NOPE", &vars(), "s", &mut warnings).unwrap(), "");
        assert_eq!(warnings.len(), 1);
    }
}
