//! Which package manager installs the project, from its lockfile and the
//! `packageManager` field, and the commands each one uses.

use slipway_plugin_sdk::{invalid, PluginError};

use crate::root::Root;

use crate::manifest::MANIFEST;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Npm,
    YarnClassic,
    YarnBerry,
    Pnpm,
    Bun,
}

/// The package manager of a project and the files its install reads.
#[derive(Debug, Clone)]
pub struct PackageManager {
    pub kind: Kind,
    /// The lockfile, when there is one.
    pub lockfile: Option<&'static str>,
    /// Files besides package.json and the lockfile that the install reads.
    pub config_files: Vec<&'static str>,
    pub note: String,
}

const CONFIG_FILES: [&str; 5] = [
    ".npmrc",
    ".yarnrc",
    ".yarnrc.yml",
    "pnpm-workspace.yaml",
    ".pnpmfile.cjs",
];

impl PackageManager {
    /// Lockfile first (what the project last installed with), then the
    /// `packageManager` field (`yarn@4.1.0`, `pnpm@9`...), else npm.
    pub fn detect(
        root: &Root,
        package_manager_field: Option<&str>,
    ) -> Result<PackageManager, PluginError> {
        let declared = package_manager_field.map(parse_field).transpose()?;
        let from_lockfile = [
            ("package-lock.json", Kind::Npm),
            ("npm-shrinkwrap.json", Kind::Npm),
            ("pnpm-lock.yaml", Kind::Pnpm),
            ("bun.lockb", Kind::Bun),
            ("bun.lock", Kind::Bun),
            ("yarn.lock", Kind::YarnClassic),
        ]
        .into_iter()
        .find(|(file, _)| root.has(file));
        let berry = || {
            root.has(".yarnrc.yml")
                || matches!(declared, Some((Kind::YarnClassic | Kind::YarnBerry, major)) if major >= 2)
        };
        let (kind, lockfile) = match (from_lockfile, declared) {
            (Some((file, Kind::YarnClassic)), _) if berry() => (Kind::YarnBerry, Some(file)),
            (Some((file, kind)), _) => (kind, Some(file)),
            (None, Some((Kind::YarnClassic, _))) if berry() => (Kind::YarnBerry, None),
            (None, Some((kind, _))) => (kind, None),
            (None, None) => (Kind::Npm, None),
        };
        if let (Some((declared_kind, _)), Some(file)) = (declared, lockfile) {
            let same = declared_kind == kind
                || matches!(
                    (declared_kind, kind),
                    (Kind::YarnClassic, Kind::YarnBerry) | (Kind::YarnBerry, Kind::YarnClassic)
                );
            if !same {
                return Err(invalid(
                    MANIFEST,
                    format!(
                        "packageManager names {} but the lockfile is {file} ({}): keep the one the project uses",
                        name(declared_kind),
                        name(kind)
                    ),
                ));
            }
        }
        if kind == Kind::Bun {
            return Err(invalid(
                lockfile.unwrap_or(MANIFEST),
                "a Bun project: the base-image catalogue offers no Bun image, so Slipway cannot \
                 generate its Dockerfile; add a Dockerfile (FROM oven/bun) to the project",
            ));
        }
        let note = match lockfile {
            Some(file) => format!(
                "{file}: {} installs ({})",
                name(kind),
                install_command(kind, true)
            ),
            None => format!(
                "no lockfile: {} ({}); commit a lockfile for reproducible installs",
                install_command(kind, false),
                name(kind)
            ),
        };
        Ok(PackageManager {
            kind,
            lockfile,
            config_files: CONFIG_FILES.into_iter().filter(|f| root.has(f)).collect(),
            note,
        })
    }

    /// Installs every dependency, dev ones included (the build needs them).
    pub fn install(&self) -> String {
        let install = install_command(self.kind, self.lockfile.is_some());
        match self.kind {
            Kind::YarnBerry | Kind::Pnpm => format!("corepack enable && {install}"),
            _ => install.to_string(),
        }
    }

    /// `npm run build` and its equivalents.
    pub fn run_script(&self, script: &str) -> String {
        match self.kind {
            Kind::Npm | Kind::Bun => format!("npm run {script}"),
            Kind::YarnClassic => format!("yarn run {script}"),
            Kind::YarnBerry => format!("corepack enable && yarn run {script}"),
            Kind::Pnpm => format!("corepack enable && pnpm run {script}"),
        }
    }

    /// Removes dev dependencies after the build.
    pub fn prune(&self) -> String {
        match self.kind {
            Kind::Npm | Kind::Bun => "npm prune --omit=dev".into(),
            Kind::YarnClassic => {
                "yarn install --production --frozen-lockfile --ignore-scripts --prefer-offline"
                    .into()
            }
            Kind::YarnBerry => "corepack enable && yarn workspaces focus --all --production".into(),
            Kind::Pnpm => "corepack enable && pnpm prune --prod".into(),
        }
    }

    /// How the runtime starts the `start` script.
    pub fn start(&self) -> Vec<&'static str> {
        match self.kind {
            Kind::Npm | Kind::Bun => vec!["npm", "start"],
            Kind::YarnClassic => vec!["yarn", "start"],
            Kind::YarnBerry => vec!["sh", "-c", "corepack enable && exec yarn start"],
            Kind::Pnpm => vec!["sh", "-c", "corepack enable && exec pnpm start"],
        }
    }

    pub fn name(&self) -> &'static str {
        name(self.kind)
    }
}

fn install_command(kind: Kind, locked: bool) -> &'static str {
    match (kind, locked) {
        (Kind::Npm, true) => "npm ci",
        (Kind::Npm, false) => "npm install",
        (Kind::YarnClassic, true) => "yarn install --frozen-lockfile",
        (Kind::YarnClassic, false) => "yarn install",
        (Kind::YarnBerry, true) => "yarn install --immutable",
        (Kind::YarnBerry, false) => "yarn install",
        (Kind::Pnpm, true) => "pnpm install --frozen-lockfile",
        (Kind::Pnpm, false) => "pnpm install",
        (Kind::Bun, _) => "bun install",
    }
}

fn name(kind: Kind) -> &'static str {
    match kind {
        Kind::Npm => "npm",
        Kind::YarnClassic => "yarn (classic)",
        Kind::YarnBerry => "yarn (berry)",
        Kind::Pnpm => "pnpm",
        Kind::Bun => "bun",
    }
}

/// `yarn@4.1.0+sha512...` -> (yarn, 4).
fn parse_field(field: &str) -> Result<(Kind, u64), PluginError> {
    let (tool, version) = field.split_once('@').ok_or_else(|| {
        invalid(
            MANIFEST,
            format!("packageManager \"{field}\" must be NAME@VERSION, e.g. pnpm@9.12.0"),
        )
    })?;
    let major = version
        .split(['.', '+', '-'])
        .next()
        .and_then(|m| m.parse::<u64>().ok())
        .unwrap_or(0);
    let kind = match tool {
        "npm" => Kind::Npm,
        "yarn" if major >= 2 => Kind::YarnBerry,
        "yarn" => Kind::YarnClassic,
        "pnpm" => Kind::Pnpm,
        "bun" => Kind::Bun,
        other => {
            return Err(invalid(
                MANIFEST,
                format!("packageManager names `{other}`; Slipway knows npm, yarn, pnpm and bun"),
            ))
        }
    };
    Ok((kind, major))
}
