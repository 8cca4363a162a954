//! Typed helpers over the host's read-only source view.

use crate::bindings::slipway::plugin::source::{self, EntryKind, FsError};
use crate::{invalid, invalid_at, PluginError};

pub use source::{Entry, EntryKind as Kind};

/// Whether a file or directory exists at `path`.
pub fn exists(path: &str) -> bool {
    source::exists(path)
}

/// Whether `path` is a regular file (symlinks inside the tree are followed).
pub fn is_file(path: &str) -> bool {
    matches!(source::stat(path), Ok(Some(e)) if e.kind == EntryKind::File)
}

/// The entries of a directory, sorted by name.
pub fn list_dir(path: &str) -> Result<Vec<Entry>, PluginError> {
    source::list_dir(path).map_err(|e| fs_error(path, e))
}

/// The names of the files (not directories) directly in `path`.
pub fn file_names(path: &str) -> Result<Vec<String>, PluginError> {
    Ok(list_dir(path)?
        .into_iter()
        .filter(|e| matches!(e.kind, EntryKind::File | EntryKind::Symlink))
        .map(|e| e.name)
        .collect())
}

/// A file's bytes, or `None` when there is no such file.
pub fn read_bytes(path: &str) -> Result<Option<Vec<u8>>, PluginError> {
    match source::read_file(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(FsError::NotFound(_)) => Ok(None),
        Err(e) => Err(fs_error(path, e)),
    }
}

/// A file's text, or `None` when there is no such file. Invalid UTF-8 is an error naming the file.
pub fn read_text(path: &str) -> Result<Option<String>, PluginError> {
    match read_bytes(path)? {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|e| invalid(path, format!("not valid UTF-8: {e}"))),
    }
}

/// A JSON file parsed into `T`, or `None` when there is no such file.
/// Syntax errors carry the line and column.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &str) -> Result<Option<T>, PluginError> {
    let Some(text) = read_text(path)? else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| json_error(path, &e))
}

/// A JSON syntax error at its line and column, without serde's own
/// "at line L column C" suffix (the location is already in the diagnostic).
pub fn json_error(path: &str, error: &serde_json::Error) -> PluginError {
    let text = error.to_string();
    let message = text.split(" at line ").next().unwrap_or(&text);
    invalid_at(
        path,
        error.line() as u32,
        error.column() as u32,
        format!("invalid JSON: {message}"),
    )
}

/// Turns a host file-system error into a plugin error naming the path.
pub fn fs_error(path: &str, error: FsError) -> PluginError {
    let why = match error {
        FsError::NotFound(p) => format!("not found: {p}"),
        FsError::OutsideRoot(p) => format!("refused: {p} leads outside the project"),
        FsError::InvalidPath(p) => format!("invalid path: {p}"),
        FsError::NotADirectory(p) => format!("not a directory: {p}"),
        FsError::NotAFile(p) => format!("not a file: {p}"),
        FsError::TooLarge(size) => format!("file too large to read ({size} bytes)"),
        FsError::BudgetExhausted => "read budget exhausted".to_string(),
        FsError::Io(m) => format!("I/O error: {m}"),
    };
    invalid(path, why)
}
