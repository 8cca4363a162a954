//! `slipway releases` and `slipway release show`.

use std::fmt::Write as _;

use clap::{Args, Subcommand};
use serde_json::json;

use super::build::{seconds, summary};
use super::{exit, table, DatabaseArgs, StoreArgs};
use slipway::release::{format_ms, ReleaseFilter, Status};
use slipway::store::StoreError;

#[derive(Args)]
pub(crate) struct ReleasesArgs {
    /// Only this app's releases.
    #[arg(long)]
    app: Option<String>,
    /// Only releases with this status: running, success, failed, cancelled, interrupted.
    #[arg(long)]
    status: Option<String>,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    database: DatabaseArgs,
}

#[derive(Subcommand)]
pub(crate) enum ReleaseCommand {
    /// One release: composition, and per service and arch the Dockerfile and log.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

pub(crate) fn list(args: ReleasesArgs) -> anyhow::Result<u8> {
    let status = match args.status.as_deref().map(|s| (s, Status::parse(s))) {
        None => None,
        Some((_, Some(status))) => Some(status),
        Some((given, None)) => {
            let known: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
            eprintln!(
                "error: --status `{given}`: expected one of {}",
                known.join(", ")
            );
            return Ok(exit::USAGE);
        }
    };
    let store = args.database.open(&args.store)?;
    let releases = store.list(&ReleaseFilter {
        app: args.app,
        status,
        limit: Some(args.limit),
        ..ReleaseFilter::default()
    })?;
    if args.json {
        super::emit(&format!("{}\n", serde_json::to_string_pretty(&releases)?));
        return Ok(exit::OK);
    }
    let rows: Vec<Vec<String>> = releases
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                r.hash.chars().take(12).collect(),
                r.app.clone(),
                r.status.to_string(),
                r.source.as_str().to_string(),
                r.device_types.join(","),
                format_ms(r.started_at_ms),
                r.duration_ms.map(seconds).unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    super::emit(&table::render(
        &[
            "ID",
            "HASH",
            "APP",
            "STATUS",
            "SOURCE",
            "DEVICE TYPES",
            "STARTED",
            "DURATION",
        ],
        &rows,
    ));
    Ok(exit::OK)
}

pub(crate) fn run(command: ReleaseCommand) -> anyhow::Result<u8> {
    let ReleaseCommand::Show {
        id,
        json,
        store,
        database,
    } = command;
    let store = database.open(&store)?;
    let release = match store.get(id) {
        Ok(release) => release,
        Err(StoreError::NotFound(id)) => {
            eprintln!("error: no release {id} (see `slipway releases`)");
            return Ok(exit::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    let images = store.images(id)?;
    if json {
        super::emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({ "release": release, "images": images }))?
        ));
        return Ok(exit::OK);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "release {}  {}\napp {}  source {}{}\nstarted {}  status {}",
        release.id,
        release.hash,
        release.app,
        release.source.as_str(),
        release
            .commit
            .as_deref()
            .map(|c| format!("  commit {c}"))
            .unwrap_or_default(),
        format_ms(release.started_at_ms),
        release.status
    );
    if let Some(error) = &release.error {
        let _ = writeln!(out, "error: {error}");
    }
    let _ = writeln!(out, "\n--- composition\n{}", release.composition.trim_end());
    if !release.hooks.is_empty() {
        let _ = writeln!(out, "\n--- hooks (run by the rollout)");
        for hook in &release.hooks {
            let _ = writeln!(out, "{hook}");
        }
    }
    for image in &images {
        let _ = writeln!(
            out,
            "\n=== {} {} ({}) {}: {}",
            image.service,
            image.arch,
            image.device_type,
            image.platform,
            image.status.as_str()
        );
        let _ = writeln!(
            out,
            "type {}  plugin {}  image {}{}",
            image.project_type.as_deref().unwrap_or("-"),
            image.plugin.as_deref().unwrap_or("-"),
            image.reference,
            image
                .image_id
                .as_deref()
                .map(|id| format!("  id {id}"))
                .unwrap_or_default()
        );
        if let Some(command) = &image.command {
            let _ = writeln!(out, "command: {command}");
        }
        if let Some(error) = &image.error {
            let _ = writeln!(out, "error: {error}");
        }
        if let Some(dockerfile) = &image.dockerfile {
            let _ = writeln!(out, "--- Dockerfile\n{}", dockerfile.trim_end());
        }
        if !image.log.is_empty() {
            let _ = writeln!(out, "--- log\n{}", image.log.trim_end());
        }
    }
    out.push_str(&summary(&release, &images));
    super::emit(&out);
    Ok(exit::OK)
}
