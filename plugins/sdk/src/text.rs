//! Reading the project's configuration formats: TOML, and line-based files
//! (requirements.txt, Procfile, go.mod).

use crate::fs::read_text;
use crate::{invalid, invalid_at, PluginError};

/// A TOML file parsed into `T`, or `None` when there is no such file. Syntax
/// and type errors carry the line and column.
pub fn read_toml<T: serde::de::DeserializeOwned>(path: &str) -> Result<Option<T>, PluginError> {
    let Some(text) = read_text(path)? else {
        return Ok(None);
    };
    toml::from_str(&text).map(Some).map_err(|e| {
        let message = e.message().to_string();
        match e.span() {
            Some(span) => {
                let (line, column) = line_column(&text, span.start);
                invalid_at(path, line, column, format!("invalid TOML: {message}"))
            }
            None => invalid(path, format!("invalid TOML: {message}")),
        }
    })
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (u32, u32) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line as u32, column as u32)
}

/// One meaningful line of a line-based file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based.
    pub number: u32,
    /// Trimmed, with any `#` comment removed.
    pub text: String,
}

/// The non-blank lines of a file, `#` comments removed, or `None` when
/// there is no such file.
pub fn read_lines(path: &str) -> Result<Option<Vec<Line>>, PluginError> {
    let Some(text) = read_text(path)? else {
        return Ok(None);
    };
    Ok(Some(
        text.lines()
            .enumerate()
            .filter_map(|(index, raw)| {
                let text = raw.split_once('#').map_or(raw, |(before, _)| before).trim();
                (!text.is_empty()).then(|| Line {
                    number: index as u32 + 1,
                    text: text.to_string(),
                })
            })
            .collect(),
    ))
}

/// A Procfile's process types in file order: `(name, command, line)`.
/// A line that is not `name: command` is an error at that line.
pub fn read_procfile(path: &str) -> Result<Option<Vec<(String, String, u32)>>, PluginError> {
    let Some(text) = read_text(path)? else {
        return Ok(None);
    };
    let mut processes = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let number = index as u32 + 1;
        let Some((name, command)) = line.split_once(':') else {
            return Err(invalid_at(path, number, 1, "expected `name: command`"));
        };
        let name = name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(invalid_at(
                path,
                number,
                1,
                format!("`{name}` is not a process type name"),
            ));
        }
        if command.trim().is_empty() {
            return Err(invalid_at(
                path,
                number,
                name.len() as u32 + 2,
                format!("process type `{name}` has no command"),
            ));
        }
        processes.push((name.to_string(), command.trim().to_string(), number));
    }
    Ok(Some(processes))
}
