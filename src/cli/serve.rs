//! `slipway serve`: the builder service.

use std::net::SocketAddr;
use std::sync::Arc;

use clap::Args;

use super::{exit, DatabaseArgs, PluginArgs, StoreArgs};
use slipway::image::EngineConfig;
use slipway::registry::Registry;
use slipway::service::{self, Limits, Role, ServeConfig};

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Push every built image to this registry (HOST:PORT) and record its digest.
    #[arg(long, value_name = "HOST:PORT", env = "SLIPWAY_REGISTRY")]
    registry: Option<String>,
    /// Build an arch on another engine, ARCH=ENDPOINT (repeatable).
    #[arg(
        long = "engine",
        value_name = "ARCH=ENDPOINT",
        env = "SLIPWAY_ENGINES",
        value_delimiter = ','
    )]
    engines: Vec<String>,
    /// Releases built at once (one per app at a time).
    #[arg(long, value_name = "N", default_value_t = 2)]
    concurrency: usize,
    /// The largest tar upload or git pack accepted, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 2048)]
    max_upload_mib: u64,
    /// What this replica does: `api` (requests, git pushes, devices),
    /// `builder` (builds queued releases), or `all`.
    #[arg(long, value_enum, default_value = "all")]
    role: RoleArg,
    /// Where the apps' git repositories and queued source trees live: a
    /// directory every replica shares (default: under the data dir).
    #[arg(long, value_name = "DIR", env = "SLIPWAY_GIT_DIR")]
    git_dir: Option<std::path::PathBuf>,
    /// How long a builder's claim on a build lasts without renewal; a
    /// builder that dies loses its builds after this (PostgreSQL only).
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    lease_seconds: u64,
    #[command(flatten)]
    plugins: PluginArgs,
    #[command(flatten)]
    store: StoreArgs,
    /// The store and the queue in PostgreSQL, shared with other replicas.
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RoleArg {
    Api,
    Builder,
    All,
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<u8> {
    let registry = match args.registry.as_deref().map(Registry::parse).transpose() {
        Ok(registry) => registry,
        Err(e) => {
            eprintln!("error: --registry: {e}");
            return Ok(exit::USAGE);
        }
    };
    let engines = match EngineConfig::from_mappings(&args.engines) {
        Ok(engines) => engines,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    if args.concurrency == 0 {
        eprintln!("error: --concurrency: at least 1");
        return Ok(exit::USAGE);
    }
    let admin_token = std::env::var("SLIPWAY_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    if admin_token.as_ref().is_some_and(|t| t.len() < 16) {
        eprintln!("error: SLIPWAY_ADMIN_TOKEN: use at least 16 characters");
        return Ok(exit::USAGE);
    }
    let limits = Limits {
        upload_bytes: args.max_upload_mib << 20,
        pack_bytes: args.max_upload_mib << 20,
        ..Limits::default()
    };
    let data_dir = args.store.dir()?;
    let database = match args.database.which(&args.store) {
        Ok(database) => database,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    if args.lease_seconds < 2 {
        eprintln!("error: --lease-seconds: at least 2");
        return Ok(exit::USAGE);
    }
    let role = match args.role {
        RoleArg::Api => Role::Api,
        RoleArg::Builder => Role::Builder,
        RoleArg::All => Role::All,
    };
    let config = ServeConfig {
        listen: args.listen,
        data_dir,
        database,
        role,
        git_dir: args.git_dir,
        lease_ms: args.lease_seconds as i64 * 1000,
        registry,
        engines,
        concurrency: args.concurrency,
        image_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
        admin_token,
        hook_binary: std::env::current_exe()?,
        limits,
    };
    let (host, plugins) = args.plugins.host_and_plugins(true)?;
    let runtime = tokio::runtime::Runtime::new()?;
    let shown = config.database.display();
    runtime.block_on(async move {
        let serving = service::serve(config, Arc::new(host), Arc::new(plugins), |started| {
            if let Some(token) = &started.new_admin_token {
                // Shown once: only its hash is kept.
                super::emit(&format!("admin token (shown once, keep it): {token}\n"));
            }
            eprintln!(
                "slipway: serving on http://{} as {} (data in {})",
                started.addr, started.role, shown
            );
        });
        tokio::select! {
            served = serving => served.map_err(anyhow::Error::from),
            _ = super::build::wait_for_stop_signal() => Ok(()),
        }
    })?;
    Ok(exit::OK)
}
