//! A Dockerfile named by the compose file (`build.dockerfile`), resolved
//! the way balena resolves it for a target:
//!
//! - a name ending in `.template` is a template (its `%%BALENA_*%%`
//!   variables filled for the target);
//! - a name whose last suffix is a device type or an arch
//!   (`Dockerfile.aarch64`, `Dockerfile.raspberrypi4-64`) is for that target
//!   only: used (variables filled) when it is this target's, refused when it
//!   is another's (it would make a silent wrong-architecture image);
//! - a name with no such file tries its variants, `NAME.<device-type>`,
//!   `NAME.<arch>`, `NAME.template`, as balena does;
//! - otherwise the file is used as it is.

use crate::plan::Target;

/// What the named file resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The file used, relative to the context.
    pub file: String,
    /// `dockerfile`, `dockerfile-template` or `arch-dockerfile`.
    pub project_type: &'static str,
    /// Whether `%%BALENA_*%%` variables are filled.
    pub template: bool,
    pub note: String,
}

/// Resolves `named` for `target`; `exists` says whether a context file exists.
/// `known_targets` are every device type slug and arch, to recognise a
/// name meant for another target.
pub fn resolve(
    named: &str,
    target: &Target,
    known_targets: &[String],
    exists: impl Fn(&str) -> bool,
) -> Result<Resolved, String> {
    if let Some(suffix) = named.rsplit_once('.').map(|(_, s)| s) {
        let own = suffix == target.device_type || suffix == target.arch;
        if own && exists(named) {
            return Ok(Resolved {
                file: named.to_string(),
                project_type: "arch-dockerfile",
                template: true,
                note: format!(
                    "the compose file names {named}, for {suffix}: this target's own Dockerfile"
                ),
            });
        }
        if !own && known_targets.iter().any(|t| t == suffix) {
            return Err(format!(
                "the compose file names {named}, which is for {suffix}, but this build is for {} \
                 ({}): name `{}` (balena picks {}.{} or {}.{} for each target) or a Dockerfile \
                 for every target",
                target.device_type,
                target.arch,
                named
                    .rsplit_once('.')
                    .map(|(base, _)| base)
                    .unwrap_or(named),
                named
                    .rsplit_once('.')
                    .map(|(base, _)| base)
                    .unwrap_or(named),
                target.device_type,
                named
                    .rsplit_once('.')
                    .map(|(base, _)| base)
                    .unwrap_or(named),
                target.arch,
            ));
        }
    }
    if exists(named) {
        let template = named.ends_with(".template");
        return Ok(Resolved {
            file: named.to_string(),
            project_type: if template {
                "dockerfile-template"
            } else {
                "dockerfile"
            },
            template,
            note: format!("the compose file names {named} for this service"),
        });
    }
    for (variant, project_type, template) in [
        (
            format!("{named}.{}", target.device_type),
            "arch-dockerfile",
            true,
        ),
        (format!("{named}.{}", target.arch), "arch-dockerfile", true),
        (format!("{named}.template"), "dockerfile-template", true),
    ] {
        if exists(&variant) {
            return Ok(Resolved {
                note: format!(
                    "the compose file names {named}, which does not exist; {variant} is used, \
                     as balena does"
                ),
                file: variant,
                project_type,
                template,
            });
        }
    }
    Err(format!(
        "the compose file names {named}, which does not exist (nor {named}.{}, {named}.{} or \
         {named}.template)",
        target.device_type, target.arch
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            device_type: "intel-nuc".into(),
            arch: "amd64".into(),
            platform: "linux/amd64".into(),
        }
    }

    fn known() -> Vec<String> {
        [
            "amd64",
            "aarch64",
            "armv7hf",
            "intel-nuc",
            "raspberrypi4-64",
        ]
        .map(String::from)
        .to_vec()
    }

    #[test]
    fn balena_rules() {
        let files = [
            "Dockerfile.template",
            "Dockerfile.aarch64",
            "Dockerfile.amd64",
            "Other",
        ];
        let exists = |f: &str| files.contains(&f);
        let t = resolve("Dockerfile.template", &target(), &known(), exists).unwrap();
        assert_eq!((t.project_type, t.template), ("dockerfile-template", true));
        let own = resolve("Dockerfile.amd64", &target(), &known(), exists).unwrap();
        assert_eq!(own.project_type, "arch-dockerfile");
        let other = resolve("Dockerfile.aarch64", &target(), &known(), exists).unwrap_err();
        assert!(
            other.contains("which is for aarch64, but this build is for intel-nuc (amd64)"),
            "{other}"
        );
        let missing = resolve("Dockerfile", &target(), &known(), exists).unwrap();
        assert_eq!(
            missing.file, "Dockerfile.amd64",
            "arch variant before the template"
        );
        let plain = resolve("Other", &target(), &known(), exists).unwrap();
        assert_eq!((plain.project_type, plain.template), ("dockerfile", false));
        let none = resolve("Nope", &target(), &known(), exists).unwrap_err();
        assert!(
            none.contains("Nope.intel-nuc, Nope.amd64 or Nope.template"),
            "{none}"
        );
    }
}
