//! `slipway agent`: the device agent (see `slipway::agent`).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::exit;
use slipway::agent::run::{Agent, AgentConfig, AgentError};

#[derive(Args)]
pub(crate) struct AgentArgs {
    /// The service, e.g. http://10.0.0.1:8080.
    #[arg(long, env = "SLIPWAY_SERVER", value_name = "URL")]
    server: String,
    /// This device's key (from `slipway device add`).
    #[arg(
        long,
        env = "SLIPWAY_DEVICE_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    device_key: String,
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
        server: args.server,
        device_key: args.device_key,
        state_dir: args.state_dir,
        engine: args.engine,
        poll_seconds: args.poll_seconds.clamp(1, 300),
        settle: Duration::from_secs(args.settle_seconds),
        lock_timeout: Duration::from_secs(args.lock_timeout_seconds),
        preload: args.preload,
        reserve_disk_bytes: args.reserve_disk_mb.saturating_mul(1 << 20),
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let outcome = runtime.block_on(async move {
        let stop = CancellationToken::new();
        let on_signal = stop.clone();
        tokio::spawn(async move {
            super::build::wait_for_stop_signal().await;
            on_signal.cancel();
        });
        let mut agent = Agent::new(config)?;
        agent.run(stop).await
    });
    match outcome {
        Ok(()) => Ok(exit::OK),
        Err(error @ AgentError::Unauthorized) => {
            eprintln!("error: {error}");
            Ok(exit::USAGE)
        }
        Err(error) => Err(error.into()),
    }
}
