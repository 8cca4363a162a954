//! Static sites: an `index.html` at the root becomes a small web-server
//! image (busybox httpd on port 80).

use slipway_plugin_sdk::glob::find;
use slipway_plugin_sdk::{
    choose_base_image, evidence, export_plugin, fs, no_base_image, BuildPlan, Detection,
    Dockerfile, DockerfileSource, Plugin, PluginError, PluginInfo, Scope, ServicePlan, Target,
    CONTRACT_VERSION, looks_for,
};

const INDEX: &str = "index.html";

struct StaticPlugin;

impl Plugin for StaticPlugin {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "static".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: CONTRACT_VERSION.into(),
            // Last among the built-ins: many projects carry an index.html
            // that some other tool builds.
            priority: 10,
            scope: Scope::Service,
            looks_for: looks_for(&["index.html"]),
            description: "A static site (index.html) served by busybox httpd".into(),
        }
    }

    fn detect(_target: Target) -> Result<Option<Detection>, PluginError> {
        Ok(fs::is_file(INDEX).then(|| Detection {
            project_type: "static".into(),
            evidence: vec![evidence(INDEX, "a static site's entry page")],
        }))
    }

    fn plan(target: Target) -> Result<BuildPlan, PluginError> {
        let base = choose_base_image("busybox", &target, None)
            .ok_or_else(|| no_base_image("busybox", &target))?;
        let dockerfile = Dockerfile::from(&base.image)
            .copy(&["."], "/www")
            .expose(80)
            .cmd(&["httpd", "-f", "-v", "-p", "80", "-h", "/www"]);
        let pages = find("**/*.html", 4, &[".git", "node_modules"])?;
        Ok(BuildPlan::Service(ServicePlan {
            dockerfile: DockerfileSource::Generated(dockerfile.render()),
            build_args: Vec::new(),
            labels: Vec::new(),
            notes: vec![
                format!("served by busybox httpd ({}) on port 80", base.image),
                format!("{} HTML page(s): {}", pages.len(), pages.join(", ")),
            ],
        }))
    }
}

export_plugin!(StaticPlugin);
