//! `slipway push --local HOST:PORT [PATH]` (local mode): builds PATH on the
//! device's own engine (`--engine`), hands the release to the agent's local
//! API (`slipway agent --local`), and streams the build, the update and the
//! new containers' logs back. No server, no registry: the images are built
//! where they run.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use futures_util::StreamExt;
use serde_json::Value;

use super::{exit, safe, PluginArgs, StoreArgs};
use slipway::agent::engine::AgentEngine;
use slipway::agent::local::LOCAL_DEVICE;
use slipway::agent::target::TargetState;
use slipway::agent::{LABEL_DEVICE, LABEL_RELEASE, LABEL_SERVICE};
use slipway::image::EngineConfig;
use slipway::pipeline::BuildRequest;
use slipway::release::{SourceKind, Status};

#[derive(Args)]
pub(crate) struct LocalArgs {
    /// Local mode: the device's agent (`slipway agent --local --listen`).
    #[arg(long = "local", value_name = "HOST:PORT")]
    pub(crate) device: Option<String>,
    /// The device's engine, where the images are built (default:
    /// DOCKER_HOST or the local socket).
    #[arg(long, value_name = "ENDPOINT", requires = "device")]
    engine: Option<String>,
    /// The device's type (default: the first device type of the engine's
    /// architecture).
    #[arg(long = "device-type", value_name = "SLUG", requires = "device")]
    device_type: Option<String>,
    /// The agent's local token.
    #[arg(
        long,
        env = "SLIPWAY_LOCAL_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    local_token: Option<String>,
    /// Return once the release runs instead of following its logs.
    #[arg(long, requires = "device")]
    detach: bool,
    #[command(flatten)]
    plugins: PluginArgs,
    #[command(flatten)]
    store: StoreArgs,
}

/// How long the agent may take to report the release running or failed.
const APPLY_TIMEOUT: Duration = Duration::from_secs(600);

pub(crate) fn run(device: &str, path: PathBuf, args: LocalArgs) -> anyhow::Result<u8> {
    let Some(token) = args.local_token.clone() else {
        eprintln!(
            "error: --local-token (or SLIPWAY_LOCAL_TOKEN): the agent's local token is needed"
        );
        return Ok(exit::USAGE);
    };
    let base = format!("http://{}", device.trim_start_matches("http://"));
    let runtime = tokio::runtime::Runtime::new()?;
    let docker = AgentEngine::connect(args.engine.as_deref(), LOCAL_DEVICE)?.docker;
    let arch = runtime
        .block_on(docker.info())?
        .architecture
        .unwrap_or_default();
    let device_type = match &args.device_type {
        Some(slug) => slipway::target::lookup(slug),
        None => of_arch(&arch),
    };
    let device_type = match device_type {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    let app = path
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_lowercase()))
        .filter(|name| slipway::app::check_name(name).is_ok())
        .unwrap_or_else(|| "local".into());
    let endpoint = args
        .engine
        .clone()
        .unwrap_or_else(|| "unix:///var/run/docker.sock".into());
    let engines = EngineConfig::from_mappings(&[format!("{}={endpoint}", device_type.arch)])?;
    let request = BuildRequest {
        project: path,
        app: Some(app),
        device_types: vec![device_type.clone()],
        build_args: Default::default(),
        no_cache: false,
        pull: false,
        target_stage: None,
        context: None,
        concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
        engines,
        builder: None,
        source: SourceKind::Local,
        commit: None,
        queued: None,
        registry: None,
    };
    let built = match super::build::execute(request, &args.plugins, &args.store, false)? {
        Ok(built) => built,
        Err(code) => return Ok(code),
    };
    if built.release.status != Status::Success {
        return Ok(if built.release.status == Status::Cancelled {
            exit::CANCELLED
        } else {
            exit::BUILD_FAILED
        });
    }
    let Some(target) =
        TargetState::of_local_release(&built.release, &built.images, &device_type.slug)
    else {
        eprintln!(
            "error: release {} has no image for {}",
            built.release.id, device_type.slug
        );
        return Ok(exit::FAILURE);
    };
    let release = built.release.id;
    runtime.block_on(async move {
        let http = reqwest::Client::new();
        let posted = http
            .post(format!("{base}/v1/target"))
            .bearer_auth(&token)
            .json(&target)
            .send()
            .await;
        match posted {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => {
                let status = response.status();
                let body: Value = response.json().await.unwrap_or_default();
                eprintln!(
                    "error: the agent at {device} refused the release ({status}): {}",
                    safe(body["detail"].as_str().unwrap_or("(no detail)"))
                );
                return Ok(exit::FAILURE);
            }
            Err(e) => {
                eprintln!("error: the agent at {device}: {e}");
                return Ok(exit::FAILURE);
            }
        }
        super::emit(&format!(
            "\nrelease {release} handed to the agent at {device}\n"
        ));
        match follow_update(&http, &base, &token, release).await {
            Ok(()) => {}
            Err(reason) => {
                eprintln!("error: {}", safe(&reason));
                return Ok(exit::FAILURE);
            }
        }
        if args.detach {
            return Ok(exit::OK);
        }
        tokio::select! {
            followed = follow_logs(&docker, release) => followed.map(|()| exit::OK),
            _ = super::build::wait_for_stop_signal() => Ok(exit::OK),
        }
    })
}

/// Prints the agent's reports on `release` until it runs or failed.
async fn follow_update(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    release: i64,
) -> Result<(), String> {
    let started = tokio::time::Instant::now();
    let mut said = String::new();
    loop {
        if started.elapsed() > APPLY_TIMEOUT {
            return Err(format!(
                "the agent did not run release {release} within {}s",
                APPLY_TIMEOUT.as_secs()
            ));
        }
        let status: Value = match http
            .get(format!("{base}/v1/status"))
            .bearer_auth(token)
            .send()
            .await
        {
            Ok(response) => response.json().await.unwrap_or_default(),
            Err(_) => Value::Null,
        };
        let report = &status["report"];
        if report["release_id"].as_i64() == Some(release) {
            let state = report["update_status"].as_str().unwrap_or("");
            if state != said {
                super::emit(&format!("device: {state}\n"));
                said = state.to_string();
            }
            match state {
                "running" => return Ok(()),
                "failed" => {
                    return Err(format!(
                        "the device did not take release {release}: {}",
                        report["error"].as_str().unwrap_or("(no reason given)")
                    ))
                }
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Streams the logs of the release's containers (`service | line`) until
/// they all stop or the user stops it.
async fn follow_logs(docker: &bollard::Docker, release: i64) -> anyhow::Result<()> {
    use bollard::query_parameters::{ListContainersOptions, LogsOptions};
    let filters = std::collections::HashMap::from([(
        "label".to_string(),
        vec![
            format!("{LABEL_DEVICE}={LOCAL_DEVICE}"),
            format!("{LABEL_RELEASE}={release}"),
        ],
    )]);
    let containers = docker
        .list_containers(Some(ListContainersOptions {
            filters: Some(filters),
            ..Default::default()
        }))
        .await?;
    let mut streams = futures_util::stream::SelectAll::new();
    for container in containers {
        let service = container
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_SERVICE).cloned())
            .unwrap_or_default();
        let Some(id) = container.id else { continue };
        let logs = docker.logs(
            &id,
            Some(LogsOptions {
                follow: true,
                stdout: true,
                stderr: true,
                ..Default::default()
            }),
        );
        streams.push(logs.map(move |item| (service.clone(), item)).boxed());
    }
    super::emit("logs (Ctrl-C to stop following):\n");
    while let Some((service, item)) = streams.next().await {
        match item {
            Ok(output) => {
                let text = output.to_string();
                for line in text.lines() {
                    super::emit(&format!("{service} | {}\n", safe(line)));
                }
            }
            Err(e) => eprintln!("warning: logs of {service}: {e}"),
        }
    }
    Ok(())
}

/// The first device type of the engine's architecture (`x86_64` is balena's
/// `amd64`, `aarch64` stays, `armv7l` is `armv7hf`).
fn of_arch(
    engine_arch: &str,
) -> Result<slipway::target::DeviceType, slipway::target::DeviceTypeError> {
    let arch = match engine_arch {
        "x86_64" => "amd64",
        "armv7l" => "armv7hf",
        other => other,
    };
    let all = slipway::target::all();
    all.iter().find(|d| d.arch == arch).cloned().map_or_else(
        || slipway::target::lookup(&format!("(a device type of arch {arch})")),
        Ok,
    )
}
