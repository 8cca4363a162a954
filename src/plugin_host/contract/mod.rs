//! The contract versions this host serves, and the load-time check that a
//! component asks for nothing else.

mod unchanged;
pub mod v0_1;
pub mod v0_2;

use semver::Version;
use wasmtime::component::Component;
use wasmtime::Engine;

use super::error::LoadError;

/// The WIT package of the contract.
pub const PACKAGE: &str = "slipway:plugin";

/// The contract versions this host serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractVersion {
    V0_1,
    V0_2,
}

impl ContractVersion {
    /// The newest version of each line the host serves, newest line first.
    pub const SERVED: [(ContractVersion, &'static str); 2] = [
        (ContractVersion::V0_2, "0.2.0"),
        (ContractVersion::V0_1, "0.1.0"),
    ];

    /// The line new plugins are written against.
    pub const CURRENT: &'static str = "0.2.0";

    fn for_version(version: &Version) -> Option<ContractVersion> {
        // For 0.x the minor is the compatibility line (semver's rule for 0.x);
        // patch releases add no functions.
        match (version.major, version.minor) {
            (0, 1) => Some(ContractVersion::V0_1),
            (0, 2) => Some(ContractVersion::V0_2),
            _ => None,
        }
    }

    pub fn served_list() -> String {
        Self::SERVED
            .iter()
            .map(|(_, v)| format!("{PACKAGE}@{v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// An import or export name such as `slipway:plugin/source@0.1.0`, split up.
struct InterfaceName<'a> {
    package: &'a str,
    version: Option<&'a str>,
}

fn split_name(name: &str) -> InterfaceName<'_> {
    let (path, version) = match name.split_once('@') {
        Some((path, version)) => (path, Some(version)),
        None => (name, None),
    };
    let package = path.split_once('/').map_or(path, |(package, _)| package);
    InterfaceName { package, version }
}

/// The names a component imports, e.g. `slipway:plugin/source@0.1.0`.
pub fn imports(engine: &Engine, component: &Component) -> Vec<String> {
    let mut names: Vec<String> = component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    names.sort();
    names
}

/// Checks that `component` imports only contract interfaces and exports the
/// `plugin` interface of a version this host serves; returns that version.
pub fn check(
    engine: &Engine,
    component: &Component,
    origin: &str,
) -> Result<ContractVersion, LoadError> {
    let ty = component.component_type();
    let mut exported = None;
    for (name, _) in ty.exports(engine) {
        let parsed = split_name(name);
        if parsed.package == PACKAGE && name.contains("/plugin") {
            exported = parsed.version.map(str::to_string);
        }
    }
    let Some(exported) = exported else {
        return Err(LoadError::MissingExport {
            origin: origin.to_string(),
            export: format!("{PACKAGE}/plugin"),
        });
    };
    let version = Version::parse(&exported).map_err(|_| LoadError::Invalid {
        origin: origin.to_string(),
        reason: format!("export `{PACKAGE}/plugin@{exported}` has no valid version"),
    })?;
    let contract =
        ContractVersion::for_version(&version).ok_or_else(|| LoadError::IncompatibleContract {
            origin: origin.to_string(),
            plugin_version: format!("{PACKAGE}@{version}"),
            served: ContractVersion::served_list(),
        })?;
    for (name, _) in ty.imports(engine) {
        let parsed = split_name(name);
        let same_line = parsed
            .version
            .and_then(|v| Version::parse(v).ok())
            .and_then(|v| ContractVersion::for_version(&v))
            == Some(contract);
        if parsed.package != PACKAGE || !same_line {
            return Err(LoadError::ForbiddenImport {
                origin: origin.to_string(),
                import: name.to_string(),
            });
        }
    }
    Ok(contract)
}

/// Checks that what `info` says about the contract matches what the
/// component's exports are built for.
pub fn check_declared(
    origin: &str,
    declared: &str,
    contract: ContractVersion,
) -> Result<(), LoadError> {
    let matches = Version::parse(declared)
        .ok()
        .and_then(|v| ContractVersion::for_version(&v))
        == Some(contract);
    if matches {
        return Ok(());
    }
    Err(LoadError::IncompatibleContract {
        origin: origin.to_string(),
        plugin_version: format!("{PACKAGE}@{declared} (declared by its info)"),
        served: ContractVersion::served_list(),
    })
}
