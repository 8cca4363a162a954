//! `slipway build`: images for every requested device type, one release.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::progress::HumanProgress;
use super::{exit, table, PluginArgs, StoreArgs};
use slipway::image::{human_bytes, Builder, EngineConfig};
use slipway::pipeline::{self, BuildEvent, BuildRequest, PipelineError};
use slipway::release::{ImageRecord, Release, SharedStore, SourceKind, Status};

#[derive(Args)]
pub(crate) struct BuildArgs {
    /// The project directory, or a tar archive of it (.tar, .tar.gz).
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Build a git commit instead: URL_OR_PATH[#REF] (a branch, ref or
    /// commit id; default HEAD). Read with git2, no checkout.
    #[arg(long, value_name = "URL_OR_PATH[#REF]", conflicts_with = "path")]
    git: Option<String>,
    /// A device type to build for (repeat for several; see `slipway device-types`).
    #[arg(long = "device-type", value_name = "SLUG", required = true)]
    device_types: Vec<String>,
    /// The app name (default: the directory's name).
    #[arg(long)]
    app: Option<String>,
    /// A build argument, NAME=VALUE (repeatable); overrides the project's.
    #[arg(long = "build-arg", value_name = "NAME=VALUE")]
    build_args: Vec<String>,
    /// Build the single service from DIR (relative to the project; for monorepos).
    #[arg(long, value_name = "DIR")]
    context: Option<String>,
    /// Build without the engine's layer cache.
    #[arg(long)]
    no_cache: bool,
    /// Pull newer base images first (off: base images are local by default).
    #[arg(long)]
    pull: bool,
    /// Build up to this stage of a multi-stage Dockerfile.
    #[arg(long, value_name = "STAGE")]
    target: Option<String>,
    /// How many images build at once (default: the number of cores).
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
    /// Build an arch on another engine, ARCH=ENDPOINT (repeatable), e.g.
    /// aarch64=tcp://10.0.0.5:2375. Other archs use DOCKER_HOST or the local socket.
    #[arg(
        long = "engine",
        value_name = "ARCH=ENDPOINT",
        env = "SLIPWAY_ENGINES",
        value_delimiter = ','
    )]
    engines: Vec<String>,
    /// The engine's builder: buildkit (default where the engine has it) or classic.
    #[arg(long, value_name = "BUILDER", value_parser = parse_builder)]
    builder: Option<Builder>,
    /// Newline-delimited JSON events instead of human output.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    plugins: PluginArgs,
    #[command(flatten)]
    store: StoreArgs,
}

pub(crate) fn run(args: BuildArgs) -> anyhow::Result<u8> {
    let mut device_types = Vec::new();
    for slug in &args.device_types {
        match slipway::target::lookup(slug) {
            Ok(device) => device_types.push(device),
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(exit::USAGE);
            }
        }
    }
    let mut build_args = BTreeMap::new();
    for arg in &args.build_args {
        match arg.split_once('=') {
            Some((name, value)) if !name.is_empty() => {
                build_args.insert(name.to_string(), value.to_string());
            }
            _ => {
                eprintln!("error: --build-arg `{arg}`: expected NAME=VALUE");
                return Ok(exit::USAGE);
            }
        }
    }
    let engines = match EngineConfig::from_mappings(&args.engines) {
        Ok(engines) => engines,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    // A tar or a git commit is unpacked into a scratch directory first.
    let scratch = tempfile::Builder::new()
        .prefix("slipway-source-")
        .tempdir()?;
    let (project, source, commit, default_app) = match source_of(&args, scratch.path()) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    let request = BuildRequest {
        project,
        app: args.app.clone().or(default_app),
        device_types,
        build_args,
        no_cache: args.no_cache,
        pull: args.pull,
        target_stage: args.target.clone(),
        concurrency: args
            .concurrency
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        engines,
        builder: args.builder,
        context: args.context.clone(),
        source,
        commit,
        queued: None,
        registry: None,
    };
    let built = match execute(request, &args.plugins, &args.store, args.json)? {
        Ok(built) => built,
        Err(code) => return Ok(code),
    };
    Ok(match built.release.status {
        Status::Success => exit::OK,
        Status::Cancelled => exit::CANCELLED,
        _ => exit::BUILD_FAILED,
    })
}

/// Runs the pipeline for `request`, rendering its events and summary; the
/// release built, or the exit code of a build that never started (nothing
/// detected, an invalid project, a bad flag).
pub(crate) fn execute(
    request: BuildRequest,
    plugins: &PluginArgs,
    store: &StoreArgs,
    json: bool,
) -> anyhow::Result<Result<pipeline::Built, u8>> {
    let (host, plugins) = plugins.host_and_plugins(false)?;
    let store = SharedStore::new(store.open()?);

    let runtime = tokio::runtime::Runtime::new()?;
    let cancel = CancellationToken::new();
    let mut human = (!json).then(HumanProgress::new);
    let outcome = runtime.block_on(async {
        let on_signal = cancel.clone();
        tokio::spawn(async move {
            wait_for_stop_signal().await;
            on_signal.cancel();
        });
        let (events, mut received) = tokio::sync::mpsc::channel::<BuildEvent>(1024);
        let build = tokio::spawn(pipeline::run(
            std::sync::Arc::new(host),
            std::sync::Arc::new(plugins),
            store,
            request,
            events,
            cancel,
        ));
        while let Some(event) = received.recv().await {
            match &mut human {
                Some(human) => human.event(&event),
                None => super::emit(&format!(
                    "{}\n",
                    serde_json::to_string(&event).unwrap_or_default()
                )),
            }
        }
        build.await
    });
    // Builds are done or dropped; leave stragglers (a blocked context walk) behind.
    runtime.shutdown_background();
    let outcome = outcome.map_err(|e| anyhow::anyhow!("the build stopped unexpectedly: {e}"))?;

    let built = match outcome {
        Ok(built) => built,
        Err(PipelineError::Detect {
            device_type,
            report,
        }) => {
            for problem in &report.problems {
                eprintln!("error: {device_type}: {}", super::safe(&problem.message));
            }
            return Ok(Err(if report.only_nothing_detected() {
                exit::NOTHING_DETECTED
            } else {
                exit::INVALID
            }));
        }
        Err(e @ (PipelineError::NoDeviceType | PipelineError::SameArch { .. })) => {
            eprintln!("error: {e}");
            return Ok(Err(exit::USAGE));
        }
        Err(e) => return Err(e.into()),
    };
    if json {
        super::emit(&format!(
            "{}\n",
            slipway::release::summary::summary_json(&built.release, &built.images)
        ));
    } else {
        super::emit(&summary(&built.release, &built.images));
        if let Some(error) = &built.release.error {
            if built.release.status == Status::Failed {
                eprintln!(
                    "error: release {} failed:\n{}",
                    built.release.id,
                    super::safe(error)
                );
            }
        }
    }
    Ok(Ok(built))
}

/// Where the project is: the directory itself, or a tar or git commit
/// written out under `scratch`; with its source kind, commit and app name.
fn source_of(
    args: &BuildArgs,
    scratch: &std::path::Path,
) -> anyhow::Result<(PathBuf, SourceKind, Option<String>, Option<String>)> {
    use slipway::source::{git, tar, unpack::UnpackLimits};
    let stem = |name: &str| {
        let name = name.trim_end_matches('/');
        let name = name.rsplit('/').next().unwrap_or(name);
        let name = [".tar.gz", ".tgz", ".tar", ".git"]
            .iter()
            .find_map(|ext| name.strip_suffix(ext))
            .unwrap_or(name);
        Some(name.to_string()).filter(|n| !n.is_empty())
    };
    let dest = scratch.join("project");
    if let Some(spec) = &args.git {
        let (url, what) = spec.split_once('#').unwrap_or((spec, "HEAD"));
        let oid = git::fetch(&scratch.join("repo.git"), url, what)?;
        let repo = git::open(&scratch.join("repo.git"), None)?;
        git::write_commit(&repo, oid, &dest, UnpackLimits::default())?;
        return Ok((dest, SourceKind::Git, Some(oid.to_string()), stem(url)));
    }
    if args.path.is_file() {
        let file = std::fs::File::open(&args.path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", args.path.display()))?;
        tar::unpack(file, &dest, UnpackLimits::default())
            .map_err(|e| anyhow::anyhow!("{}: {e}", args.path.display()))?;
        return Ok((
            dest,
            SourceKind::Tar,
            None,
            stem(&args.path.to_string_lossy()),
        ));
    }
    Ok((args.path.clone(), SourceKind::Local, None, None))
}

pub(crate) async fn wait_for_stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn parse_builder(text: &str) -> Result<Builder, String> {
    Builder::parse(text).ok_or_else(|| format!("`{text}`: expected buildkit or classic"))
}

pub(crate) fn summary(release: &Release, images: &[ImageRecord]) -> String {
    let mut out = format!(
        "\nrelease {} ({}) of {}: {}{}\n",
        release.id,
        &release.hash[..12.min(release.hash.len())],
        release.app,
        release.status,
        release
            .duration_ms
            .map(|ms| format!(" in {}", seconds(ms)))
            .unwrap_or_default()
    );
    let rows: Vec<Vec<String>> = images
        .iter()
        .map(|image| {
            vec![
                image.service.clone(),
                image.arch.clone(),
                image.status.as_str().to_string(),
                image.project_type.clone().unwrap_or_default(),
                image.reference.clone(),
                image
                    .size_bytes
                    .map(|b| human_bytes(b.max(0) as u64))
                    .unwrap_or_default(),
                image.duration_ms.map(seconds).unwrap_or_default(),
            ]
        })
        .collect();
    out.push_str(&table::render(
        &["SERVICE", "ARCH", "STATUS", "TYPE", "IMAGE", "SIZE", "TIME"],
        &rows,
    ));
    out
}

pub(crate) fn seconds(ms: i64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}
