//! Go services from go.mod (or a `main.go` without one): a multi-stage
//! build of a static binary (CGO off) into an image with nothing else in it
//! but CA certificates; a project using cgo (`import "C"`) is built with
//! CGO on and runs on a slim Debian image, which has the C library.

use slipway_plugin_sdk::text::read_lines;
use slipway_plugin_sdk::{
    choose_base_image, evidence, export_plugin, fs, invalid, invalid_at, looks_for, no_base_image,
    BuildPlan, Detection, Dockerfile, DockerfileSource, Plugin, PluginError, PluginInfo, Scope,
    ServicePlan, Target, CONTRACT_VERSION, RUNTIME_USER,
};

const GO_MOD: &str = "go.mod";

struct GoModule {
    path: String,
    go: Option<String>,
}

/// The module from go.mod; `None` without one (a lone `main.go`).
fn read_go_mod() -> Result<Option<GoModule>, PluginError> {
    let Some(lines) = read_lines(GO_MOD)? else {
        return Ok(None);
    };
    let mut path = None;
    let mut go = None;
    for line in &lines {
        let mut words = line.text.split_whitespace();
        match words.next() {
            Some("module") => match words.next() {
                Some(module) => path = Some(module.trim_matches('"').to_string()),
                None => {
                    return Err(invalid_at(
                        GO_MOD,
                        line.number,
                        1,
                        "`module` names no module path",
                    ))
                }
            },
            Some("go") => go = words.next().map(str::to_string),
            _ => {}
        }
    }
    let path = path.ok_or_else(|| invalid(GO_MOD, "no `module` line"))?;
    Ok(Some(GoModule { path, go }))
}

/// Whether a Go file of the package uses cgo.
fn uses_cgo(package: &str) -> Result<bool, PluginError> {
    let dir = package.trim_start_matches("./");
    let dir = if dir.is_empty() { "." } else { dir };
    for name in fs::file_names(dir)?.iter().filter(|n| n.ends_with(".go")) {
        let path = if dir == "." {
            name.clone()
        } else {
            format!("{dir}/{name}")
        };
        if let Some(text) = fs::read_text(&path)? {
            if text.lines().any(|line| line.trim() == "import \"C\"") {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// The package to build: the root when it has Go files, else the only
/// directory under `cmd/`.
fn main_package() -> Result<String, PluginError> {
    let root_has_go = fs::file_names(".")?
        .iter()
        .any(|name| name.ends_with(".go"));
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
            looks_for: looks_for(&["go.mod", "main.go"]),
            description: "Go from go.mod or main.go: a static binary (cgo: on Debian)".into(),
        }
    }

    fn detect(_target: Target) -> Result<Option<Detection>, PluginError> {
        if fs::is_file(GO_MOD) {
            return Ok(Some(Detection {
                project_type: "go".into(),
                evidence: vec![evidence(GO_MOD, "a Go module")],
            }));
        }
        Ok(fs::is_file("main.go").then(|| Detection {
            project_type: "go".into(),
            evidence: vec![evidence("main.go", "a Go program without go.mod")],
        }))
    }

    fn plan(target: Target) -> Result<BuildPlan, PluginError> {
        let module = read_go_mod()?;
        let package = main_package()?;
        let wanted = module
            .as_ref()
            .and_then(|m| m.go.as_deref())
            .map(|v| v.split('.').take(2).collect::<Vec<_>>().join("."));
        let base = choose_base_image("golang", &target, wanted.as_deref())
            .ok_or_else(|| no_base_image("golang", &target))?;
        let module_path = module
            .as_ref()
            .map(|m| m.path.clone())
            .unwrap_or_else(|| "app".into());
        let binary = module_path.rsplit('/').next().unwrap_or("app").to_string();
        let cgo = uses_cgo(&package)?;
        let mut notes = vec![format!(
            "Go {} ({}), module {module_path}",
            base.version, base.image
        )];
        let mut dockerfile = Dockerfile::new()
            .stage(&base.image, Some("build"))
            .workdir("/src");
        dockerfile = match &module {
            Some(_) => {
                let sums = if fs::is_file("go.sum") {
                    vec!["go.mod", "go.sum"]
                } else {
                    vec!["go.mod"]
                };
                dockerfile
                    .copy(&sums, "./")
                    .run("go mod download")
                    .copy(&["."], ".")
            }
            None => {
                notes.push(
                    "no go.mod: a module `app` is made for the build (go mod init, go mod tidy)"
                        .into(),
                );
                dockerfile
                    .copy(&["."], ".")
                    .run("go mod init app && go mod tidy")
            }
        };
        let cgo_flag = if cgo { 1 } else { 0 };
        dockerfile = dockerfile.run(&format!(
            "CGO_ENABLED={cgo_flag} go build -trimpath -ldflags=\"-s -w\" -o /out/{binary} {package}"
        ));
        // cgo needs the C library at run time: a slim Debian; else nothing at all.
        let runtime = if cgo {
            let debian = choose_base_image("debian", &target, None)
                .ok_or_else(|| no_base_image("debian", &target))?;
            notes.push(format!(
                "builds {package} into /{binary} with cgo (import \"C\"), on {} for its C library",
                debian.image
            ));
            debian.image
        } else {
            notes.push(format!(
                "builds {package} into /{binary}, static (CGO_ENABLED=0), on scratch"
            ));
            "scratch".to_string()
        };
        dockerfile = dockerfile
            .stage(&runtime, None)
            .copy_from(
                "build",
                "/etc/ssl/certs/ca-certificates.crt",
                "/etc/ssl/certs/",
            )
            .copy_from("build", &format!("/out/{binary}"), &format!("/{binary}"))
            .user(RUNTIME_USER)
            .cmd(&[&format!("/{binary}")]);
        notes.push(format!("runs as uid {RUNTIME_USER}"));
        Ok(BuildPlan::Service(ServicePlan {
            dockerfile: DockerfileSource::Generated(dockerfile.render()),
            build_args: Vec::new(),
            labels: vec![("io.slipway.go.version".into(), base.version.clone())],
            notes,
        }))
    }
}

export_plugin!(GoPlugin);
