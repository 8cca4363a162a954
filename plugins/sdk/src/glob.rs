//! Glob matching over the project's paths.
//!
//! Patterns are `/`-separated: `*` and `?` stay within one path component,
//! `**` spans any number of components, `[abc]` and `{a,b}` work as in
//! shells. Matching is done by the `glob-match` crate; [`find`] walks the
//! host's read-only view.

use crate::fs::{list_dir, Kind};
use crate::PluginError;

/// Whether `path` (relative, `/`-separated) matches `pattern`.
pub fn matches(pattern: &str, path: &str) -> bool {
    glob_match::glob_match(pattern, path)
}

/// The files under the tree's root matching `pattern`, sorted, looking at
/// most `max_depth` directories deep (the root is depth 0). Directories named
/// in `skip` (e.g. `node_modules`, `.git`) are not entered.
pub fn find(pattern: &str, max_depth: usize, skip: &[&str]) -> Result<Vec<String>, PluginError> {
    let mut found = Vec::new();
    let mut pending = vec![(String::new(), 0usize)];
    while let Some((dir, depth)) = pending.pop() {
        let listing = list_dir(if dir.is_empty() { "." } else { &dir })?;
        for entry in listing {
            let path = if dir.is_empty() {
                entry.name.clone()
            } else {
                format!("{dir}/{}", entry.name)
            };
            match entry.kind {
                Kind::Directory => {
                    if depth < max_depth && !skip.contains(&entry.name.as_str()) {
                        pending.push((path, depth + 1));
                    }
                }
                _ => {
                    if matches(pattern, &path) {
                        found.push(path);
                    }
                }
            }
        }
    }
    found.sort();
    Ok(found)
}
