//! Go services from go.mod: a multi-stage build of a static binary (CGO off)
//! into an image with nothing else in it but CA certificates.

use slipway_plugin_sdk::text::read_lines;
use slipway_plugin_sdk::{
    choose_base_image, evidence, export_plugin, fs, invalid, invalid_at, no_base_image,
    BuildPlan, Detection, Dockerfile, DockerfileSource, Plugin, PluginError, PluginInfo, Scope,
    ServicePlan, Target, CONTRACT_VERSION, looks_for,
};

const GO_MOD: &str = "go.mod";

struct GoModule {
    path: String,
    go: Option<String>,
}

fn read_go_mod() -> Result<GoModule, PluginError> {
    let lines = read_lines(GO_MOD)?.unwrap_or_default();
    let mut path = None;
    let mut go = None;
    for line in &lines {
        let mut words = line.text.split_whitespace();
        match words.next() {
            Some("module") => match words.next() {
                Some(module) => path = Some(module.trim_matches('"').to_string()),
                None => return Err(invalid_at(GO_MOD, line.number, 1, "`module` names no module path")),
            },
            Some("go") => go = words.next().map(str::to_string),
            _ => {}
        }
    }
    let path = path.ok_or_else(|| invalid(GO_MOD, "no `module` line"))?;
    Ok(GoModule { path, go })
}

/// The package to build: the root when it has Go files, else the only
/// directory under `cmd/`.
fn main_package() -> Result<String, PluginError> {
    let root_has_go = fs::file_names(".")?.iter().any(|name| name.ends_with(".go"));
    if root_has_go {
        return Ok(".".into());
    }
    let commands: Vec<String> = if fs::exists("cmd") {
        fs::list_dir("cmd")?
            .into_iter()
            .filter(|e| e.kind == fs::Kind::Directory)
            .map(|e| e.name)
            .collect()
    } else {
        Vec::new()
    };
    match commands.as_slice() {
        [one] => Ok(format!("./cmd/{one}")),
        [] => Err(invalid(GO_MOD, "no Go files at the root and no cmd/<name> directory to build")),
        many => Err(invalid(
            GO_MOD,
            format!(
                "several commands under cmd/ ({}): a service builds one binary; add a Dockerfile that names the one to build",
                many.join(", ")
            ),
        )),
    }
}

struct GoPlugin;

impl Plugin for GoPlugin {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "go".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            contract_version: CONTRACT_VERSION.into(),
            priority: 80,
            scope: Scope::Service,
            looks_for: looks_for(&["go.mod"]),
            description: "Go from go.mod: a static binary, CGO off".into(),
        }
    }

    fn detect(_target: Target) -> Result<Option<Detection>, PluginError> {
        Ok(fs::is_file(GO_MOD).then(|| Detection {
            project_type: "go".into(),
            evidence: vec![evidence(GO_MOD, "a Go module")],
        }))
    }

    fn plan(target: Target) -> Result<BuildPlan, PluginError> {
        let module = read_go_mod()?;
        let package = main_package()?;
        let wanted = module.go.as_deref().map(|v| v.split('.').take(2).collect::<Vec<_>>().join("."));
        let base = choose_base_image("golang", &target, wanted.as_deref())
            .ok_or_else(|| no_base_image("golang", &target))?;
        let binary = module.path.rsplit('/').next().unwrap_or("app").to_string();
        let copy_sums = if fs::is_file("go.sum") { vec!["go.mod", "go.sum"] } else { vec!["go.mod"] };
        let dockerfile = Dockerfile::new()
            .stage(&base.image, Some("build"))
            .workdir("/src")
            .copy(&copy_sums, "./")
            .run("go mod download")
            .copy(&["."], ".")
            .run(&format!(
                "CGO_ENABLED=0 go build -trimpath -ldflags=\"-s -w\" -o /out/{binary} {package}"
            ))
            .stage("scratch", None)
            .copy_from("build", "/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/")
            .copy_from("build", &format!("/out/{binary}"), &format!("/{binary}"))
            .cmd(&[&format!("/{binary}")]);
        let text = dockerfile.render();
        Ok(BuildPlan::Service(ServicePlan {
            dockerfile: DockerfileSource::Generated(text),
            build_args: Vec::new(),
            labels: vec![("io.slipway.go.version".into(), base.version.clone())],
            notes: vec![
                format!("Go {} ({}), module {}", base.version, base.image, module.path),
                format!("builds {package} into /{binary}, static (CGO_ENABLED=0), on scratch"),
            ],
        }))
    }
}

export_plugin!(GoPlugin);
