//! The implicit Dockerfile of a Node.js service, multi-stage:
//!
//! 1. `build`: the manifests and lockfile first (a cached layer until they
//!    change), every dependency installed (dev ones too: the build needs
//!    them), then the sources, the `build` script, and dev dependencies pruned;
//! 2. a server runs from a fresh Node image as an unprivileged user
//!    (`start` script, `main`, or npm's default `server.js`); a project whose
//!    build makes static files (a Vite/React/Vue/Svelte single-page app) is
//!    served from `busybox httpd` with only its output directory.

use slipway_plugin_sdk::{
    base_images, choose_base_image, fs, invalid, no_base_image, PluginError, Target,
};

use crate::manifest::{Manifest, MANIFEST};
use crate::package_manager::PackageManager;
use crate::root::Root;
use crate::version;

/// Where the build stage works.
const APP_DIR: &str = "/usr/src/app";

/// What the runtime stage is.
enum Runtime {
    /// A Node server started with this argv.
    Server(Vec<String>),
    /// Static files in this directory (relative to the app), served by httpd.
    Static { dir: String, server_image: String },
}

pub struct Recipe {
    pub node_version: String,
    /// Local dependencies copied before the install.
    local_dependencies: Vec<String>,
    image: String,
    package_manager: PackageManager,
    build_script: bool,
    runtime: Runtime,
    pub notes: Vec<String>,
}

impl Recipe {
    pub fn for_manifest(manifest: &Manifest, target: &Target) -> Result<Recipe, PluginError> {
        let offered = base_images("node", &target.arch);
        if offered.is_empty() {
            return Err(PluginError::Failed(format!(
                "Node.js publishes no official image for {} ({}), so Slipway cannot generate a \
                 Dockerfile for it: add a Dockerfile with a Node.js base image for that \
                 architecture",
                target.arch, target.device_type
            )));
        }
        let root = Root::list()?;
        let choice = version::choose(&root, manifest.engines_node.as_deref(), &offered)?;
        let package_manager = PackageManager::detect(&root, manifest.package_manager.as_deref())?;
        let mut notes = vec![choice.note, package_manager.note.clone()];

        let runtime = if let Some(start) = &manifest.start_script {
            notes.push(format!("starts with the start script: {start}"));
            Runtime::Server(
                package_manager
                    .start()
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            )
        } else if let Some(main) = &manifest.main {
            if !fs::is_file(main) {
                return Err(invalid(
                    MANIFEST,
                    format!("main names {main}, which is not a file in the context"),
                ));
            }
            notes.push(format!("no start script: runs main, node {main}"));
            Runtime::Server(vec!["node".into(), main.clone()])
        } else if manifest.build_script.is_some() && manifest.workspaces.is_empty() {
            let (dir, why) = output_dir(manifest);
            let server = choose_base_image("busybox", target, None)
                .ok_or_else(|| no_base_image("busybox", target))?;
            notes.push(format!(
                "no start script or main: a static build, `{dir}/` ({why}) served by busybox \
                 httpd on port 80"
            ));
            Runtime::Static {
                dir,
                server_image: server.image,
            }
        } else if !manifest.workspaces.is_empty() || root.has("pnpm-workspace.yaml") {
            return Err(monorepo_error(manifest));
        } else if root.has("server.js") {
            notes.push("no start script or main: runs server.js, as `npm start` would".into());
            Runtime::Server(vec!["node".into(), "server.js".into()])
        } else {
            return Err(invalid(
                MANIFEST,
                "nothing to start: add scripts.start (for example \"start\": \"node server.js\"), \
                 main, or a build script whose output is a static site",
            ));
        };
        if manifest.build_script.is_some() {
            notes.push(format!(
                "runs the build script ({}) with dev dependencies, then prunes them",
                package_manager.run_script("build")
            ));
        }
        Ok(Recipe {
            local_dependencies: manifest.local_dependencies.clone(),
            node_version: choice.image.version.clone(),
            image: choice.image.image,
            package_manager,
            build_script: manifest.build_script.is_some(),
            runtime,
            notes,
        })
    }

    pub fn render(&self, target: &Target) -> String {
        let pm = &self.package_manager;
        let mut manifests = vec![MANIFEST];
        manifests.extend(pm.lockfile);
        manifests.extend(pm.config_files.iter().copied());
        let mut text = format!(
            "# Generated by slipway's node plugin for {device} ({arch}): Node.js {version}, {pm_name}.\n\
             FROM {image} AS build\n\
             WORKDIR {APP_DIR}\n\
             # Dependencies first: this layer is reused until a manifest or the lockfile changes.\n\
             COPY {manifests} ./\n\
             {locals}RUN {install}\n\
             COPY . .\n",
            device = target.device_type,
            arch = target.arch,
            version = self.node_version,
            pm_name = pm.name(),
            image = self.image,
            manifests = manifests.join(" "),
            install = pm.install(),
            locals = self
                .local_dependencies
                .iter()
                .map(|dir| format!("COPY {dir} ./{dir}\n"))
                .collect::<String>(),
        );
        if self.build_script {
            text.push_str(&format!("RUN {}\n", pm.run_script("build")));
        }
        match &self.runtime {
            Runtime::Server(argv) => {
                text.push_str(&format!(
                    "RUN {prune}\n\
                     \n\
                     FROM {image}\n\
                     WORKDIR {APP_DIR}\n\
                     ENV NODE_ENV=production NPM_CONFIG_CACHE=/tmp/.npm\n\
                     COPY --from=build {APP_DIR} ./\n\
                     # Not root: uid 1000 needs no user entry in the base image.\n\
                     USER 1000:1000\n\
                     CMD {argv}\n",
                    prune = pm.prune(),
                    image = self.image,
                    argv = serde_json::to_string(argv).unwrap_or_default(),
                ));
            }
            Runtime::Static { dir, server_image } => {
                text.push_str(&format!(
                    "\n\
                     FROM {server_image}\n\
                     COPY --from=build {APP_DIR}/{dir}/ /www/\n\
                     EXPOSE 80\n\
                     CMD [\"httpd\", \"-f\", \"-v\", \"-p\", \"80\", \"-h\", \"/www\"]\n"
                ));
            }
        }
        text
    }
}

/// Where a static build writes its files: an `--outDir`/`--out-dir` in the
/// build script, else the tool's default.
fn output_dir(manifest: &Manifest) -> (String, String) {
    if let Some(script) = &manifest.build_script {
        let words: Vec<&str> = script.split_whitespace().collect();
        for (index, word) in words.iter().enumerate() {
            for flag in ["--outDir", "--out-dir", "--dist-dir"] {
                if let Some(value) = word.strip_prefix(&format!("{flag}=")) {
                    return (clean_dir(value), format!("{flag} in the build script"));
                }
                if *word == flag {
                    if let Some(value) = words.get(index + 1) {
                        return (clean_dir(value), format!("{flag} in the build script"));
                    }
                }
            }
        }
    }
    for (dependency, dir) in [
        ("react-scripts", "build"),
        ("@sveltejs/kit", "build"),
        ("next", "out"),
        ("vite", "dist"),
        ("@vue/cli-service", "dist"),
        ("parcel", "dist"),
        ("astro", "dist"),
        ("@angular/cli", "dist"),
        ("webpack-cli", "dist"),
    ] {
        if manifest.depends_on(dependency) {
            return (dir.into(), format!("{dependency}'s default"));
        }
    }
    (
        "dist".into(),
        "the usual default; set --outDir in the build script to change it".into(),
    )
}

fn clean_dir(value: &str) -> String {
    value
        .trim_matches(|c| c == '"' || c == '\'')
        .trim_start_matches("./")
        .trim_end_matches('/')
        .to_string()
}

/// A workspace root with nothing of its own to start: name the apps and
/// how to pick one.
fn monorepo_error(manifest: &Manifest) -> PluginError {
    let mut packages = Vec::new();
    for pattern in &manifest.workspaces {
        match pattern.strip_suffix("/*") {
            Some(parent) => {
                if let Ok(entries) = fs::list_dir(parent) {
                    for entry in entries {
                        let dir = format!("{parent}/{}", entry.name);
                        if fs::is_file(&format!("{dir}/{MANIFEST}")) {
                            packages.push(dir);
                        }
                    }
                }
            }
            None if !pattern.contains('*') => packages.push(pattern.clone()),
            None => {}
        }
    }
    let example = packages
        .first()
        .cloned()
        .unwrap_or_else(|| "packages/app".into());
    let listed = if packages.is_empty() {
        String::new()
    } else {
        format!(" ({})", packages.join(", "))
    };
    invalid(
        MANIFEST,
        format!(
            "a monorepo: package.json declares workspaces{listed} and starts nothing itself; \
             build one app with `--context {example}`, or give the root a start script"
        ),
    )
}
