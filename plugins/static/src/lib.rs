//! Static sites: a small web-server image (busybox httpd on port 80) of
//! the site's root: the `root:` of a `Staticfile` (the Cloud Foundry /
//! Heroku static buildpack convention), else the project's root when it has
//! an `index.html`, else `public/` when it has one.

use slipway_plugin_sdk::glob::find;
use slipway_plugin_sdk::text::read_lines;
use slipway_plugin_sdk::{
    choose_base_image, evidence, export_plugin, fs, invalid_at, looks_for, no_base_image,
    BuildPlan, Detection, Dockerfile, DockerfileSource, Evidence, Plugin, PluginError, PluginInfo,
    Scope, ServicePlan, Target, CONTRACT_VERSION,
};

const INDEX: &str = "index.html";
const STATICFILE: &str = "Staticfile";

/// The directory served, and why.
fn site_root() -> Result<Option<(String, Evidence)>, PluginError> {
    if let Some(lines) = read_lines(STATICFILE)? {
        let mut root = ".".to_string();
        for line in &lines {
            if let Some(value) = line.text.trim().strip_prefix("root:") {
                let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
                let value = value.trim_start_matches("./").trim_end_matches('/');
                if value.starts_with('/') || value.split('/').any(|c| c == "..") {
                    return Err(invalid_at(
                        STATICFILE,
                        line.number,
                        1,
                        format!("root `{value}` must be a directory inside the project"),
                    ));
                }
                root = if value.is_empty() {
                    ".".into()
                } else {
                    value.into()
                };
            }
        }
        if root != "." && !fs::exists(&root) {
            return Err(slipway_plugin_sdk::invalid(
                STATICFILE,
                format!("root `{root}` does not exist"),
            ));
        }
        return Ok(Some((
            root.clone(),
            evidence(STATICFILE, format!("a Staticfile: serves `{root}`")),
        )));
    }
    if fs::is_file(INDEX) {
        return Ok(Some((
            ".".into(),
            evidence(INDEX, "a static site's entry page"),
        )));
    }
    if fs::is_file("public/index.html") {
        return Ok(Some((
            "public".into(),
            evidence("public/index.html", "a static site in public/"),
        )));
    }
    Ok(None)
}

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
            looks_for: looks_for(&["index.html", "Staticfile", "public"]),
            description:
                "A static site (Staticfile, index.html, public/index.html) served by busybox httpd"
                    .into(),
        }
    }

    fn detect(_target: Target) -> Result<Option<Detection>, PluginError> {
        Ok(site_root()?.map(|(_, evidence)| Detection {
            project_type: "static".into(),
            evidence: vec![evidence],
        }))
    }

    fn plan(target: Target) -> Result<BuildPlan, PluginError> {
        let base = choose_base_image("busybox", &target, None)
            .ok_or_else(|| no_base_image("busybox", &target))?;
        let (root, _) = site_root()?.unwrap_or_else(|| (".".into(), evidence(INDEX, "")));
        let dockerfile = Dockerfile::from(&base.image)
            .copy(&[root.as_str()], "/www")
            .expose(80)
            .cmd(&["httpd", "-f", "-v", "-p", "80", "-h", "/www"]);
        let pattern = if root == "." {
            "**/*.html".to_string()
        } else {
            format!("{root}/**/*.html")
        };
        let pages = find(&pattern, 4, &[".git", "node_modules"])?;
        Ok(BuildPlan::Service(ServicePlan {
            dockerfile: DockerfileSource::Generated(dockerfile.render()),
            build_args: Vec::new(),
            labels: Vec::new(),
            notes: vec![
                format!(
                    "serves `{root}` with busybox httpd ({}) on port 80",
                    base.image
                ),
                format!("{} HTML page(s): {}", pages.len(), pages.join(", ")),
            ],
        }))
    }
}

export_plugin!(StaticPlugin);
