//! `%%NAME%%` substitution in `Dockerfile.template` and per-device Dockerfiles.
//!
//! Strictly textual: a variable is `%%` + `[A-Z][A-Z0-9_]*` + `%%`, nothing
//! is ever evaluated, and comment lines (`#` first) are left alone so that
//! documentation inside a template cannot break a build.

use std::collections::BTreeMap;

use crate::plan::Target;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: unknown template variable %%{name}%% (known: {known})")]
pub struct UnknownVariable {
    pub file: String,
    pub line: usize,
    pub name: String,
    pub known: String,
}

/// The variables balena's builder defines.
pub struct TemplateVars(BTreeMap<&'static str, String>);

impl TemplateVars {
    pub fn new(target: &Target, service: &str, app: &str, release_hash: &str) -> Self {
        let mut vars = BTreeMap::new();
        vars.insert("BALENA_ARCH", target.arch.clone());
        vars.insert("RESIN_ARCH", target.arch.clone());
        vars.insert("BALENA_MACHINE_NAME", target.device_type.clone());
        vars.insert("RESIN_MACHINE_NAME", target.device_type.clone());
        vars.insert("BALENA_SERVICE_NAME", service.to_string());
        vars.insert("BALENA_APP_NAME", app.to_string());
        vars.insert("BALENA_RELEASE_HASH", release_hash.to_string());
        TemplateVars(vars)
    }

    fn known(&self) -> String {
        self.0.keys().copied().collect::<Vec<_>>().join(", ")
    }
}

/// Substitutes every variable of `text`; the first unknown one is an error
/// naming the file, the line and the variable.
pub fn substitute(file: &str, text: &str, vars: &TemplateVars) -> Result<String, UnknownVariable> {
    let mut out = String::with_capacity(text.len());
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        substitute_line(line, vars, &mut out).map_err(|name| UnknownVariable {
            file: file.to_string(),
            line: index + 1,
            name,
            known: vars.known(),
        })?;
    }
    Ok(out)
}

fn substitute_line(line: &str, vars: &TemplateVars, out: &mut String) -> Result<(), String> {
    let mut rest = line;
    while let Some(start) = rest.find("%%") {
        let after = &rest[start + 2..];
        let name_len = variable_name_len(after);
        if name_len > 0 && after[name_len..].starts_with("%%") {
            let name = &after[..name_len];
            let value = vars.0.get(name).ok_or_else(|| name.to_string())?;
            out.push_str(&rest[..start]);
            out.push_str(value);
            rest = &after[name_len + 2..];
        } else {
            // Not a variable: keep one `%` and look again from the next one.
            out.push_str(&rest[..start + 1]);
            rest = &rest[start + 1..];
        }
    }
    out.push_str(rest);
    Ok(())
}

/// Length of a `[A-Z][A-Z0-9_]*` prefix of `s`.
fn variable_name_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    if !bytes.first().is_some_and(u8::is_ascii_uppercase) {
        return 0;
    }
    bytes
        .iter()
        .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || **b == b'_')
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> TemplateVars {
        let target = Target {
            device_type: "raspberrypi4-64".into(),
            arch: "aarch64".into(),
            platform: "linux/arm64".into(),
        };
        TemplateVars::new(&target, "main", "demo", "abc123")
    }

    #[test]
    fn substitutes_known_variables() {
        let text = "FROM balenalib/%%BALENA_MACHINE_NAME%%-debian\nRUN echo %%RESIN_ARCH%% %%BALENA_SERVICE_NAME%%/%%BALENA_APP_NAME%%@%%BALENA_RELEASE_HASH%%\n";
        assert_eq!(
            substitute("Dockerfile.template", text, &vars()).unwrap(),
            "FROM balenalib/raspberrypi4-64-debian\nRUN echo aarch64 main/demo@abc123\n"
        );
    }

    #[test]
    fn unknown_variable_names_file_line_and_variable() {
        let err = substitute(
            "Dockerfile.template",
            "FROM a\n\nRUN %%BALENA_NOPE%%\n",
            &vars(),
        )
        .unwrap_err();
        assert_eq!((err.line, err.name.as_str()), (3, "BALENA_NOPE"));
        assert!(err
            .to_string()
            .starts_with("Dockerfile.template:3: unknown template variable %%BALENA_NOPE%%"));
    }

    #[test]
    fn comments_and_non_variables_are_left_alone() {
        let text =
            "# uses %%UNKNOWN%% in a comment\nRUN echo 100%% %%lower%% %%%%BALENA_ARCH%% %%1X%%\n";
        assert_eq!(
            substitute("f", text, &vars()).unwrap(),
            "# uses %%UNKNOWN%% in a comment\nRUN echo 100%% %%lower%% %%aarch64 %%1X%%\n"
        );
    }

    #[test]
    fn nothing_is_evaluated() {
        let text = "RUN echo %%$(id)%% ${BALENA_ARCH} `%%BALENA_ARCH%%`\n";
        assert_eq!(
            substitute("f", text, &vars()).unwrap(),
            "RUN echo %%$(id)%% ${BALENA_ARCH} `aarch64`\n"
        );
    }
}
