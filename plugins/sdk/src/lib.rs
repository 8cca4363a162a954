//! The Slipway plugin SDK.
//!
//! A plugin implements [`Plugin`] (the contract's `plugin` interface) and
//! registers it with [`export_plugin!`], which also makes a panic's message
//! reach the user (see [`panic`]). The helpers here wrap the host's
//! read-only source view so that plugin code deals in `Option<String>` and
//! [`PluginError`] rather than raw byte lists and host error variants.

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "detector",
        path: "../../wit/plugin.wit",
        pub_export_macro: true,
        export_macro_name: "export_bindings",
        default_bindings_module: "slipway_plugin_sdk::bindings",
    });
}

pub mod panic;

pub mod dockerfile;
pub mod fs;
pub mod glob;
pub mod log;
pub mod text;

pub use dockerfile::{Dockerfile, RUNTIME_USER};

pub use bindings::exports::slipway::plugin::plugin::{
    BuildPlan, BuildSpec, Command, Detection, DockerfileSource, Guest as Plugin, Hook, HookPhase,
    PluginInfo, ProjectPlan, Scope, ServicePlan, ServiceSource, ServiceSpec,
};
pub use bindings::slipway::plugin::catalogue::{base_images, BaseImage};
pub use bindings::slipway::plugin::types::{Diagnostic, Evidence, PluginError, Target};

/// The version of the contract this SDK is built against; put it in
/// [`PluginInfo::contract_version`].
pub const CONTRACT_VERSION: &str = "0.2.0";

/// [`PluginInfo::looks_for`] from names: the root entries (globs with `*`
/// and `?`) one of which must exist for `detect` to be called.
pub fn looks_for(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| name.to_string()).collect()
}

/// An error about a file of the project, with an optional line and column.
pub fn invalid(file: &str, message: impl Into<String>) -> PluginError {
    PluginError::InvalidProject(Diagnostic {
        file: Some(file.to_string()),
        line: None,
        column: None,
        message: message.into(),
    })
}

/// An error located at a line and column of a file.
pub fn invalid_at(file: &str, line: u32, column: u32, message: impl Into<String>) -> PluginError {
    PluginError::InvalidProject(Diagnostic {
        file: Some(file.to_string()),
        line: Some(line),
        column: Some(column),
        message: message.into(),
    })
}

/// Evidence that `file` matters for `reason`.
pub fn evidence(file: &str, reason: impl Into<String>) -> Evidence {
    Evidence {
        file: file.to_string(),
        reason: reason.into(),
    }
}

/// The catalogue's image for `runtime` on the target's arch: the one whose
/// version starts with `wanted` (e.g. `3.12` or `1.22`), else the default.
/// `None` when the catalogue has no image of the runtime for the arch.
pub fn choose_base_image(
    runtime: &str,
    target: &Target,
    wanted: Option<&str>,
) -> Option<BaseImage> {
    let offered = base_images(runtime, &target.arch);
    // `3.12.1` matches 3.12.1, else the newest 3.12.x; `3` the newest 3.x.
    let matching = wanted.and_then(|wanted| {
        let parts: Vec<&str> = wanted.trim().trim_start_matches('v').split('.').collect();
        (parts.len().min(2)..=parts.len()).rev().find_map(|length| {
            let prefix = parts[..length].join(".");
            offered.iter().find(|image| {
                image.version == prefix || image.version.starts_with(&format!("{prefix}."))
            })
        })
    });
    matching
        .or_else(|| offered.iter().find(|image| image.is_default))
        .or(offered.first())
        .cloned()
}

/// A plugin error for a runtime the catalogue lacks on the target's arch.
pub fn no_base_image(runtime: &str, target: &Target) -> PluginError {
    PluginError::Failed(format!(
        "the base-image catalogue has no {runtime} image for {} ({})",
        target.arch, target.device_type
    ))
}
