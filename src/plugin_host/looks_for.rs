//! A plugin's `looks-for` names: entries at the root of a tree, where `*`
//! stands for any run of characters and `?` for one character (the
//! contract's only wildcards). Matched by hand rather than through a glob
//! library: compiling every plugin's patterns into automata took longer at
//! each CLI start than all the matching it then did.

use super::error::LoadError;

/// Characters a glob library would read as syntax; refused so that a plugin
/// written for one never silently matches nothing.
const NOT_WILDCARDS: [char; 5] = ['[', ']', '{', '}', '\\'];

/// Checks a plugin's patterns at load (an empty list: always asked).
pub fn check(origin: &str, patterns: &[String]) -> Result<(), LoadError> {
    for pattern in patterns {
        let invalid = |reason: String| LoadError::Invalid {
            origin: origin.to_string(),
            reason: format!("looks-for pattern `{pattern}`: {reason}"),
        };
        if pattern.is_empty() || pattern.contains('/') {
            return Err(invalid(
                "must be a non-empty name at the root, without `/`".into(),
            ));
        }
        if let Some(c) = pattern.chars().find(|c| NOT_WILDCARDS.contains(c)) {
            return Err(invalid(format!(
                "`{c}` is not allowed: the only wildcards are `*` and `?`"
            )));
        }
    }
    Ok(())
}

/// Whether any of `names` matches any of the (checked) `patterns`.
pub fn matches_any(patterns: &[String], names: &[String]) -> bool {
    names
        .iter()
        .any(|name| patterns.iter().any(|p| wildcard_match(p, name)))
}

/// `*` and `?` matching of a whole name, backtracking only to the last `*`
/// (linear in practice, never exponential).
fn wildcard_match(pattern: &str, name: &str) -> bool {
    let (mut pattern, mut name) = (pattern, name);
    // After the latest `*`: the rest of the pattern, and where in the name
    // its next attempt starts.
    let mut after_star: Option<(&str, &str)> = None;
    loop {
        let mut rest = pattern.chars();
        match (rest.next(), name.chars().next()) {
            (Some('*'), _) => {
                pattern = rest.as_str();
                after_star = Some((pattern, name));
            }
            (Some(p), Some(n)) if p == '?' || p == n => {
                pattern = rest.as_str();
                name = &name[n.len_utf8()..];
            }
            (None, None) => return true,
            _ => {
                // Let the latest `*` take one more character, and retry.
                let Some((star_rest, start)) = after_star else {
                    return false;
                };
                let Some(taken) = start.chars().next() else {
                    return false;
                };
                let start = &start[taken.len_utf8()..];
                after_star = Some((star_rest, start));
                pattern = star_rest;
                name = start;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn looks_for(patterns: &[&str]) -> Vec<String> {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        check("p", &patterns).unwrap();
        patterns
    }

    fn matches(pattern: &str, name: &str) -> bool {
        matches_any(&looks_for(&[pattern]), &[name.to_string()])
    }

    #[test]
    fn stars_and_question_marks_match_within_a_name() {
        assert!(matches("Dockerfile.*", "Dockerfile.aarch64"));
        assert!(matches("Dockerfile.*", "Dockerfile."));
        assert!(!matches("Dockerfile.*", "Dockerfile"));
        assert!(matches("go.mod", "go.mod"));
        assert!(!matches("go.mod", "go.mo"));
        assert!(!matches("go.mod", "go.mod2"));
        assert!(matches("*", ""));
        assert!(matches("*.py", "manage.py"));
        assert!(!matches("*.py", "manage.pyc"));
        assert!(matches("a*b*c", "a-b-b-c"));
        assert!(!matches("a*b*c", "a-c-b"));
        assert!(matches("docker-compose.y?ml", "docker-compose.yaml"));
        assert!(!matches("docker-compose.y?ml", "docker-compose.yml"));
        assert!(matches("?", "é"));
        assert!(matches("*é", "café"));
        assert!(!matches("procfile", "Procfile"));
    }

    #[test]
    fn many_stars_do_not_blow_up() {
        let name = "a".repeat(200);
        assert!(!matches("*a*a*a*a*a*a*a*a*b", &name));
    }

    #[test]
    fn any_of_several_names_and_patterns() {
        let set = looks_for(&["Dockerfile.*", "go.mod"]);
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(matches_any(&set, &names(&["README.md", "go.mod"])));
        assert!(matches_any(&set, &names(&["Dockerfile.amd64"])));
        assert!(!matches_any(&set, &names(&["Dockerfile", "main.go"])));
        assert!(!matches_any(&set, &[]));
        assert!(check("p", &[]).is_ok());
    }

    #[test]
    fn a_bad_pattern_is_refused_naming_it() {
        for (pattern, reason) in [
            ("src/main.rs", "without `/`"),
            ("", "non-empty"),
            ("[abc", "looks-for pattern `[abc`"),
            ("*.{yml,yaml}", "the only wildcards are `*` and `?`"),
        ] {
            let error = check("plugin.wasm", &[pattern.to_string()]).unwrap_err();
            let message = error.to_string();
            assert!(message.contains("plugin.wasm"), "{message}");
            assert!(message.contains(reason), "{message}");
        }
    }
}
