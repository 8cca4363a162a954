//! `slipway preload RELEASE_ID --device-type SLUG -o FILE`: a release's
//! images for one device type and its target state, in one file that
//! `slipway agent --preload FILE` starts from with no network.

use std::path::PathBuf;

use clap::Args;
use slipway::agent::engine::AgentEngine;
use slipway::agent::preload;
use slipway::agent::target::TargetState;

use super::client::{Client, ServerArgs};
use super::exit;

#[derive(Args)]
pub(crate) struct PreloadArgs {
    /// The release to preload.
    release: i64,
    /// The device type whose images go in (one arch).
    #[arg(long)]
    device_type: String,
    /// Where to write the preload file.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: PathBuf,
    /// The engine that pulls and exports the images (default: DOCKER_HOST or
    /// the local socket).
    #[arg(long, value_name = "ENDPOINT")]
    engine: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
}

pub(crate) fn run(args: PreloadArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.server)?;
    let state = client.get(&format!(
        "/releases/{}/state?device_type={}",
        args.release, args.device_type
    ))?;
    let target: TargetState = serde_json::from_value(state).map_err(|e| {
        anyhow::anyhow!("the service sent a target state this binary cannot read: {e}")
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let manifest = runtime.block_on(async {
        let engine = AgentEngine::connect(args.engine.as_deref(), "")?;
        anyhow::Ok(preload::write(&engine, target, &args.device_type, &args.output).await?)
    })?;
    let size = std::fs::metadata(&args.output)
        .map(|m| m.len())
        .unwrap_or(0);
    super::emit(&format!(
        "wrote {} ({:.1} MB): release {} for {}, {} image(s)\n  on the device: slipway agent --preload {} ...\n",
        args.output.display(),
        size as f64 / 1e6,
        args.release,
        args.device_type,
        manifest.images.len(),
        args.output.display()
    ));
    Ok(exit::OK)
}
