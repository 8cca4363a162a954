//! `slipway agent`: the device agent (see `slipway::agent`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::exit;
use slipway::agent::engine::AgentEngine;
use slipway::agent::journal::FileJournal;
use slipway::agent::local::{self, LocalUpstream};
use slipway::agent::ports::{DeviceEngine, TokioClock};
use slipway::agent::run::{Agent, AgentConfig, AgentError};
use slipway::agent::upstream::HttpUpstream;

#[derive(Args)]
pub(crate) struct AgentArgs {
    /// The service, e.g. http://10.0.0.1:8080.
    #[arg(
        long,
        env = "SLIPWAY_SERVER",
        value_name = "URL",
        required_unless_present = "local"
    )]
    server: Option<String>,
    /// This device's key (from `slipway device add`).
    #[arg(
        long,
        env = "SLIPWAY_DEVICE_KEY",
        value_name = "KEY",
        hide_env_values = true,
        required_unless_present = "local"
    )]
    device_key: Option<String>,
    /// Local mode: no server; targets come from `slipway push --local`
    /// through the local API on --listen.
    #[arg(long, requires = "listen", conflicts_with_all = ["server", "device_key", "preload"])]
    local: bool,
    /// Where the local API listens in local mode, e.g. 127.0.0.1:48484.
    #[arg(long, value_name = "ADDR", requires = "local")]
    listen: Option<std::net::SocketAddr>,
    /// The token `slipway push --local` must present (local mode).
    #[arg(
        long,
        env = "SLIPWAY_LOCAL_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true,
        required_if_eq("local", "true")
    )]
    local_token: Option<String>,
    /// Where the agent keeps its journal.
    #[arg(long, value_name = "DIR")]
    state_dir: PathBuf,
    /// The device's engine (default: DOCKER_HOST or the local socket).
    #[arg(long, value_name = "ENDPOINT")]
    engine: Option<String>,
    /// How long one long-poll of the target waits.
    #[arg(long, value_name = "N", default_value_t = 60)]
    poll_seconds: u64,
    /// How long new containers must keep running before an update commits.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    settle_seconds: u64,
    /// How long a service's update lock may hold an update before the
    /// device reports it held past its time (it still waits: an operator
    /// forces it with POST /api/v1/devices/UUID/update {"force": true}).
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    lock_timeout_seconds: u64,
    /// Start from this preload file (`slipway preload`) when the device has
    /// never run a release: no network needed.
    #[arg(long, value_name = "FILE")]
    preload: Option<PathBuf>,
    /// Disk (MB) kept free beyond a release's images: an update whose
    /// download would eat into it waits (reported) instead of starting.
    #[arg(long, value_name = "MB", default_value_t = 256)]
    reserve_disk_mb: u64,
}

pub(crate) fn run(args: AgentArgs) -> anyhow::Result<u8> {
    let config = AgentConfig {
        state_dir: args.state_dir.clone(),
        poll_seconds: args.poll_seconds.clamp(1, 300),
        settle: Duration::from_secs(args.settle_seconds),
        lock_timeout: Duration::from_secs(args.lock_timeout_seconds),
        reserve_disk_bytes: args.reserve_disk_mb.saturating_mul(1 << 20),
    };
    let store = FileJournal {
        dir: args.state_dir.clone(),
    };
    let engine = AgentEngine::connect(args.engine.as_deref(), "")?;
    let runtime = tokio::runtime::Runtime::new()?;
    let outcome = runtime.block_on(async move {
        let stop = CancellationToken::new();
        let on_signal = stop.clone();
        tokio::spawn(async move {
            super::build::wait_for_stop_signal().await;
            on_signal.cancel();
        });
        if let (true, Some(listen)) = (args.local, args.listen) {
            return run_local(
                config,
                engine,
                store,
                listen,
                args.local_token.unwrap_or_default(),
                stop,
            )
            .await;
        }
        let upstream = HttpUpstream::new(
            reqwest::Client::new(),
            args.server.as_deref().unwrap_or_default(),
            args.device_key.as_deref().unwrap_or_default(),
        );
        let mut agent = Agent::new(config, engine, upstream, TokioClock::default(), store)?;
        if let Some(path) = &args.preload {
            agent.preload(path).await?;
        }
        agent.run(stop).await.map_err(anyhow::Error::from)
    });
    match outcome {
        Ok(()) => Ok(exit::OK),
        Err(error) => match error.downcast_ref::<AgentError>() {
            Some(AgentError::Unauthorized) => {
                eprintln!("error: {error}");
                Ok(exit::USAGE)
            }
            _ => Err(error),
        },
    }
}

/// Local mode: the local API feeds the agent its targets.
async fn run_local(
    config: AgentConfig,
    mut engine: AgentEngine,
    store: FileJournal,
    listen: std::net::SocketAddr,
    token: String,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    if token.len() < 16 {
        anyhow::bail!("--local-token: use at least 16 characters");
    }
    engine.set_device(local::LOCAL_DEVICE);
    let upstream = LocalUpstream::default();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("--listen {listen}: {e}"))?;
    let api = local::router(upstream.clone(), &token);
    let served = stop.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, api)
            .with_graceful_shutdown(async move { served.cancelled().await })
            .await;
    });
    super::emit(&format!(
        "local mode: the agent's API listens on http://{listen}\n"
    ));
    let mut agent = Agent::new(config, engine, upstream, TokioClock::default(), store)?;
    agent.run(stop).await?;
    Ok(())
}
