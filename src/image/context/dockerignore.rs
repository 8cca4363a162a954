//! `.dockerignore`, with Docker's semantics:
//! - one pattern per line; blank lines and `#` comments are skipped;
//! - `*` and `?` stay within one path component, `**` spans any number;
//! - a leading `/` changes nothing (paths are relative to the context);
//! - `!pattern` re-includes what an earlier pattern excluded;
//! - the last pattern that matches a path decides;
//! - a pattern that matches a directory matches everything under it.

use std::path::Path;

use globset::{Glob, GlobBuilder, GlobMatcher};

#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: invalid pattern `{pattern}`: {reason}")]
pub struct PatternError {
    pub file: String,
    pub line: usize,
    pub pattern: String,
    pub reason: String,
}

struct Rule {
    matcher: GlobMatcher,
    exclude: bool,
}

/// The compiled rules of one `.dockerignore`.
#[derive(Default)]
pub struct Dockerignore {
    rules: Vec<Rule>,
    has_exceptions: bool,
}

impl Dockerignore {
    /// Compiles `text`; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Dockerignore, PatternError> {
        let mut ignore = Dockerignore::default();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclude, pattern) = match line.strip_prefix('!') {
                Some(rest) => (false, rest.trim()),
                None => (true, line),
            };
            let pattern = clean(pattern);
            if pattern.is_empty() {
                continue;
            }
            let glob: Glob = GlobBuilder::new(&pattern)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| PatternError {
                    file: file.to_string(),
                    line: index + 1,
                    pattern: pattern.clone(),
                    reason: e.kind().to_string(),
                })?;
            ignore.has_exceptions |= !exclude;
            ignore.rules.push(Rule {
                matcher: glob.compile_matcher(),
                exclude,
            });
        }
        Ok(ignore)
    }

    /// Whether `path` (relative to the context) is left out of it. Names
    /// are matched as bytes: they need not be UTF-8.
    pub fn excludes(&self, path: impl AsRef<Path>) -> bool {
        let path = path.as_ref();
        let mut excluded = false;
        for rule in &self.rules {
            if rule.exclude == excluded {
                continue; // cannot change the verdict
            }
            if matches_self_or_parent(&rule.matcher, path) {
                excluded = rule.exclude;
            }
        }
        excluded
    }

    /// Whether an excluded directory must still be walked, because an
    /// exception might re-include something inside it.
    pub fn may_reinclude_inside(&self) -> bool {
        self.has_exceptions
    }
}

fn matches_self_or_parent(matcher: &GlobMatcher, path: &Path) -> bool {
    let mut candidate = path;
    loop {
        if matcher.is_match(candidate) {
            return true;
        }
        match candidate.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => candidate = parent,
            _ => return false,
        }
    }
}

/// Docker cleans each pattern like a path: no leading `/` or `./`, no
/// trailing `/`, no empty or `.` components.
fn clean(pattern: &str) -> String {
    let parts: Vec<&str> = pattern
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Dockerignore {
        Dockerignore::parse(".dockerignore", text).unwrap()
    }

    #[test]
    fn docker_semantics() {
        let ignore = rules("# comment\n\n*.log\n/secrets\nbuild/**/*.o\n!keep.log\ndocs/*/draft\n");
        assert!(ignore.excludes("app.log"));
        assert!(!ignore.excludes("logs/app.log"), "* does not cross /");
        assert!(!ignore.excludes("keep.log"), "! re-includes");
        assert!(ignore.excludes("secrets"));
        assert!(
            ignore.excludes("secrets/key.pem"),
            "a matched dir covers its files"
        );
        assert!(ignore.excludes("build/a/b/c.o"));
        assert!(ignore.excludes("build/c.o"), "** matches zero dirs");
        assert!(!ignore.excludes("build/c.c"));
        assert!(ignore.excludes("docs/v1/draft"));
        assert!(!ignore.excludes("docs/draft"));
        assert!(!ignore.excludes("src/main.rs"));
    }

    #[test]
    fn last_match_wins() {
        let ignore = rules("data\n!data/keep\ndata/keep/tmp\n");
        assert!(ignore.excludes("data/x"));
        assert!(!ignore.excludes("data/keep/y"));
        assert!(ignore.excludes("data/keep/tmp/z"));
        assert!(ignore.may_reinclude_inside());
    }

    #[test]
    fn bad_pattern_names_file_and_line() {
        let error = Dockerignore::parse(".dockerignore", "ok\n[unclosed\n")
            .err()
            .unwrap();
        assert_eq!(error.line, 2);
        assert!(error
            .to_string()
            .starts_with(".dockerignore:2: invalid pattern `[unclosed`"));
    }
}
