//! Turning compose services into service specs, with errors and warnings
//! that name the service.

use std::collections::BTreeMap;

use serde_yaml_ng::Value;
use slipway_plugin_sdk::{fs, invalid, BuildSpec, PluginError, ServiceSource, ServiceSpec};

use crate::model::ComposeFile;

/// Service keys Slipway uses when building.
const BUILD_KEYS: [&str; 2] = ["build", "image"];

/// Compose service keys that matter on the device, not to the builder.
const RUNTIME_KEYS: &[&str] = &[
    "cap_add",
    "cap_drop",
    "command",
    "container_name",
    "depends_on",
    "devices",
    "dns",
    "dns_search",
    "domainname",
    "entrypoint",
    "environment",
    "env_file",
    "expose",
    "extra_hosts",
    "healthcheck",
    "hostname",
    "labels",
    "logging",
    "mem_limit",
    "mem_reservation",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "ports",
    "privileged",
    "read_only",
    "restart",
    "security_opt",
    "shm_size",
    "stop_grace_period",
    "stop_signal",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "user",
    "volumes",
    "working_dir",
    "cpu_shares",
    "cpu_quota",
    "cpuset",
    "cpus",
    "group_add",
    "init",
    "ipc",
    "mac_address",
    "memswap_limit",
    "stdin_open",
    "uts",
    "device_cgroup_rules",
];

/// Top-level keys of a compose file besides `services`.
const TOP_LEVEL_KEYS: &[&str] = &["version", "volumes", "networks", "name"];

/// `build:` keys Slipway reads; others are reported as ignored.
const BUILD_FIELDS: [&str; 4] = ["context", "dockerfile", "args", "target"];

pub fn plan(
    file: &str,
    compose: ComposeFile,
    warnings: &mut Vec<String>,
) -> Result<Vec<ServiceSpec>, PluginError> {
    for key in compose.other.keys() {
        if !TOP_LEVEL_KEYS.contains(&key.as_str()) {
            warnings.push(format!("{file}: unknown top-level key `{key}` is ignored"));
        }
    }
    let services = compose
        .services
        .ok_or_else(|| invalid(file, "no `services:` section"))?;
    if services.is_empty() {
        return Err(invalid(file, "`services:` is empty"));
    }
    services
        .into_iter()
        .map(|(name, body)| service(file, &name, body, warnings))
        .collect()
}

fn service(
    file: &str,
    name: &str,
    body: Value,
    warnings: &mut Vec<String>,
) -> Result<ServiceSpec, PluginError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(invalid(
            file,
            format!("service `{name}`: a name may use only letters, digits, `-`, `_` and `.`"),
        ));
    }
    let Value::Mapping(body) = body else {
        return Err(invalid(file, format!("service `{name}` must be a mapping")));
    };
    let mut fields = BTreeMap::new();
    for (key, value) in body {
        let Value::String(key) = key else {
            return Err(invalid(
                file,
                format!("service `{name}`: keys must be strings"),
            ));
        };
        if key == "extends" {
            return Err(invalid(
                file,
                format!(
                    "service `{name}`: `extends` is not supported: copy the settings it \
                     would inherit into the service"
                ),
            ));
        }
        if !BUILD_KEYS.contains(&key.as_str()) && !RUNTIME_KEYS.contains(&key.as_str()) {
            warnings.push(format!("service `{name}`: unknown key `{key}` is ignored"));
        }
        fields.insert(key, value);
    }
    let source = match (fields.remove("build"), fields.remove("image")) {
        (Some(build), image) => {
            if let Some(image) = image.as_ref().and_then(Value::as_str) {
                warnings.push(format!(
                    "service `{name}`: has both build and image; building, `{image}` is not pulled"
                ));
            }
            ServiceSource::Build(build_spec(file, name, build, warnings)?)
        }
        (None, Some(Value::String(image))) if !image.is_empty() => ServiceSource::Image(image),
        (None, Some(_)) => {
            return Err(invalid(
                file,
                format!("service `{name}`: image must be a non-empty string"),
            ))
        }
        (None, None) => {
            return Err(invalid(
                file,
                format!("service `{name}` has neither build nor image"),
            ))
        }
    };
    Ok(ServiceSpec {
        name: name.to_string(),
        source,
        // Compose's own `command` keeps the ENTRYPOINT; the device's
        // supervisor applies it from the recorded compose file at run time.
        command: None,
    })
}

fn build_spec(
    file: &str,
    name: &str,
    build: Value,
    warnings: &mut Vec<String>,
) -> Result<BuildSpec, PluginError> {
    let mut spec = BuildSpec {
        context: String::new(),
        dockerfile: None,
        args: Vec::new(),
        target: None,
    };
    match build {
        Value::String(context) => spec.context = context,
        Value::Mapping(map) => {
            for (key, value) in map {
                let key = key.as_str().unwrap_or_default().to_string();
                match key.as_str() {
                    "context" => spec.context = string(file, name, "build.context", value)?,
                    "dockerfile" => {
                        spec.dockerfile = Some(string(file, name, "build.dockerfile", value)?)
                    }
                    "target" => spec.target = Some(string(file, name, "build.target", value)?),
                    "args" => spec.args = args(file, name, value, warnings)?,
                    other => warnings.push(format!(
                        "service `{name}`: build.{other} is ignored (Slipway reads {})",
                        BUILD_FIELDS.join(", ")
                    )),
                }
            }
            if spec.context.is_empty() {
                spec.context = ".".into();
            }
        }
        _ => {
            return Err(invalid(
                file,
                format!("service `{name}`: build must be a path or a mapping"),
            ))
        }
    }
    spec.context = normalise_context(file, name, &spec.context)?;
    check_context(file, name, &spec)?;
    Ok(spec)
}

/// `./a/b/` becomes `a/b`; the root is `.`. Leaving the project is refused.
fn normalise_context(file: &str, name: &str, context: &str) -> Result<String, PluginError> {
    if context.starts_with('/') || context.contains("://") {
        return Err(invalid(
            file,
            format!(
                "service `{name}`: build context `{context}` must be a path inside the project"
            ),
        ));
    }
    let mut parts = Vec::new();
    for part in context.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(invalid(
                    file,
                    format!("service `{name}`: build context `{context}` leaves the project"),
                ))
            }
            other => parts.push(other),
        }
    }
    Ok(if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    })
}

fn check_context(file: &str, name: &str, spec: &BuildSpec) -> Result<(), PluginError> {
    if let Err(error) = fs::list_dir(&spec.context) {
        let why = match &error {
            PluginError::InvalidProject(diagnostic) => diagnostic.message.clone(),
            PluginError::Failed(message) => message.clone(),
        };
        // Say what is wrong: a link leading out is not a missing directory.
        let why = if why.contains("leads outside the project") {
            "is a symlink leading outside the project".to_string()
        } else if why.starts_with("not a directory") {
            "is not a directory".to_string()
        } else if why.starts_with("not found") {
            "does not exist".to_string()
        } else {
            format!("cannot be read: {why}")
        };
        return Err(invalid(
            file,
            format!("service `{name}`: build context `{}` {why}", spec.context),
        ));
    }
    // A named Dockerfile is resolved by the host, balena's way (it may name
    // a file whose `.template` or `.<arch>` variant is what exists).
    Ok(())
}

fn string(file: &str, name: &str, field: &str, value: Value) -> Result<String, PluginError> {
    match value {
        Value::String(s) => Ok(s),
        _ => Err(invalid(
            file,
            format!("service `{name}`: {field} must be a string"),
        )),
    }
}

/// Build args as a mapping (`KEY: value`) or a list (`KEY=value`).
fn args(
    file: &str,
    name: &str,
    value: Value,
    warnings: &mut Vec<String>,
) -> Result<Vec<(String, String)>, PluginError> {
    let mut out = Vec::new();
    match value {
        Value::Mapping(map) => {
            for (key, value) in map {
                let key = scalar(&key).ok_or_else(|| {
                    invalid(
                        file,
                        format!("service `{name}`: build.args keys must be strings"),
                    )
                })?;
                match value {
                    Value::Null => warnings.push(format!(
                        "service `{name}`: build arg `{key}` has no value and is skipped"
                    )),
                    other => out.push((
                        key.clone(),
                        scalar(&other).ok_or_else(|| {
                            invalid(
                                file,
                                format!("service `{name}`: build arg `{key}` must be a scalar"),
                            )
                        })?,
                    )),
                }
            }
        }
        Value::Sequence(items) => {
            for item in items {
                let Value::String(item) = item else {
                    return Err(invalid(
                        file,
                        format!("service `{name}`: build.args entries must be `KEY=value` strings"),
                    ));
                };
                match item.split_once('=') {
                    Some((key, value)) => out.push((key.to_string(), value.to_string())),
                    None => warnings.push(format!(
                        "service `{name}`: build arg `{item}` has no value and is skipped"
                    )),
                }
            }
        }
        Value::Null => {}
        _ => {
            return Err(invalid(
                file,
                format!("service `{name}`: build.args must be a mapping or a list"),
            ))
        }
    }
    Ok(out)
}

fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
