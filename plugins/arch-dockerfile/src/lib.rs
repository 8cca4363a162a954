//! A service with a Dockerfile for one device type (`Dockerfile.raspberrypi4-64`)
//! or one architecture (`Dockerfile.aarch64`). The device-type file beats the
//! architecture file; both may use `%%BALENA_*%%` variables.

use slipway_plugin_sdk::{
    evidence, export_plugin, fs, BuildPlan, Detection, DockerfileSource, Evidence, Plugin,
    PluginError, PluginInfo, Scope, ServicePlan, Target, CONTRACT_VERSION, looks_for,
};

struct ArchDockerfilePlugin;

/// The most specific Dockerfile for the target, and evidence for every one considered.
fn choose(target: &Target) -> (Option<String>, Vec<Evidence>) {
    let by_device = format!("Dockerfile.{}", target.device_type);
    let by_arch = format!("Dockerfile.{}", target.arch);
    let device_present = fs::is_file(&by_device);
    let arch_present = by_arch != by_device && fs::is_file(&by_arch);
    let mut found = Vec::new();
    if device_present {
        found.push(evidence(
            &by_device,
            format!("a Dockerfile for device type {}", target.device_type),
        ));
    }
    if arch_present {
        let why = if device_present {
            format!(
                "a Dockerfile for architecture {}, overridden by {by_device}",
                target.arch
            )
        } else {
            format!("a Dockerfile for architecture {}", target.arch)
        };
        found.push(evidence(&by_arch, why));
    }
    let chosen = if device_present {
        Some(by_device)
    } else if arch_present {
        Some(by_arch)
    } else {
        None
    };
    (chosen, found)
}

impl Plugin for ArchDockerfilePlugin {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "arch-dockerfile".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: CONTRACT_VERSION.into(),
            priority: 400,
            scope: Scope::Service,
            looks_for: looks_for(&["Dockerfile.*"]),
            description: "Dockerfile.<device-type>, else Dockerfile.<arch>, for the target device"
                .into(),
        }
    }

    fn detect(target: Target) -> Result<Option<Detection>, PluginError> {
        let (chosen, evidence) = choose(&target);
        Ok(chosen.map(|_| Detection {
            project_type: "arch-dockerfile".into(),
            evidence,
        }))
    }

    fn plan(target: Target) -> Result<BuildPlan, PluginError> {
        let (chosen, _) = choose(&target);
        let path = chosen.ok_or_else(|| {
            PluginError::Failed(format!(
                "no Dockerfile.{} or Dockerfile.{} in the context",
                target.device_type, target.arch
            ))
        })?;
        Ok(BuildPlan::Service(ServicePlan {
            dockerfile: DockerfileSource::Template(path),
            build_args: Vec::new(),
            labels: Vec::new(),
            notes: Vec::new(),
        }))
    }
}

export_plugin!(ArchDockerfilePlugin);
