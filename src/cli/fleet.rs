//! `slipway device ...`, `slipway fleet target`, `slipway rollout ...`:
//! clients of the service's fleet API.

use clap::Subcommand;
use serde_json::{json, Value};

use super::client::{exit_code, pairs, Client, ServerArgs};
use super::{emit, exit, table};

#[derive(Subcommand)]
pub(crate) enum DeviceCommand {
    /// Register a device; prints its uuid and key (shown once).
    Add {
        app: String,
        #[arg(long)]
        name: String,
        #[arg(long = "device-type", value_name = "SLUG")]
        device_type: String,
        /// A tag, KEY=VALUE (repeatable).
        #[arg(long = "tag", value_name = "KEY=VALUE")]
        tags: Vec<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List an app's devices.
    List {
        app: String,
        /// Only devices with this tag, KEY:VALUE (repeatable).
        #[arg(long = "tag", value_name = "KEY:VALUE")]
        tags: Vec<String>,
        /// online, offline or an update status (running, failed, ...).
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Pin a device to a release (`--unpin` to follow its fleet again).
    Pin {
        uuid: String,
        #[arg(required_unless_present = "unpin")]
        release: Option<i64>,
        #[arg(long, conflicts_with = "release")]
        unpin: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Replace a device's tags.
    Tag {
        uuid: String,
        /// KEY=VALUE pairs (none: remove every tag).
        tags: Vec<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
}

#[derive(Subcommand)]
pub(crate) enum RolloutCommand {
    /// Start a staged rollout of a release.
    Create {
        app: String,
        #[arg(long)]
        release: i64,
        /// Cumulative percents of the selected devices, e.g. 10,50,100.
        #[arg(long, value_delimiter = ',', default_value = "100")]
        phases: Vec<u8>,
        /// Percent of a phase's devices that must run it before the next.
        #[arg(long, default_value_t = 100)]
        success_threshold: u8,
        /// Seconds each phase runs before it may advance.
        #[arg(long, default_value_t = 0)]
        soak: u64,
        /// Percent of finished devices that may fail before it pauses itself.
        #[arg(long, default_value_t = 5)]
        error_threshold: u8,
        /// Only devices with this tag, KEY=VALUE (repeatable).
        #[arg(long = "tag", value_name = "KEY=VALUE")]
        tags: Vec<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
    Pause {
        id: i64,
        #[command(flatten)]
        server: ServerArgs,
    },
    Resume {
        id: i64,
        #[command(flatten)]
        server: ServerArgs,
    },
    Stop {
        id: i64,
        #[command(flatten)]
        server: ServerArgs,
    },
}

fn run(
    server: &ServerArgs,
    work: impl FnOnce(&Client) -> anyhow::Result<()>,
) -> anyhow::Result<u8> {
    let client = Client::new(server)?;
    match work(&client) {
        Ok(()) => Ok(exit::OK),
        Err(error) => {
            eprintln!("error: {error:#}");
            Ok(exit_code(&error))
        }
    }
}

pub(crate) fn device(command: DeviceCommand) -> anyhow::Result<u8> {
    match command {
        DeviceCommand::Add {
            app,
            name,
            device_type,
            tags,
            server,
        } => run(&server, |client| {
            let body = json!({"name": name, "device_type": device_type, "tags": pairs(&tags)?});
            let added = client.post(&format!("/apps/{app}/devices"), &body)?;
            emit(&format!(
                "device {} ({name})\nkey (shown once, keep it): {}\n",
                added["uuid"].as_str().unwrap_or("?"),
                added["device_key"].as_str().unwrap_or("?")
            ));
            Ok(())
        }),
        DeviceCommand::List {
            app,
            tags,
            status,
            json,
            server,
        } => run(&server, |client| {
            let mut query: Vec<String> = tags.iter().map(|t| format!("tag={t}")).collect();
            query.extend(status.map(|s| format!("status={s}")));
            let listed = client.get(&format!("/apps/{app}/devices?{}", query.join("&")))?;
            if json {
                emit(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&listed["devices"])?
                ));
                return Ok(());
            }
            let rows: Vec<Vec<String>> = listed["devices"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| {
                    vec![
                        text(&d["uuid"]).chars().take(12).collect(),
                        text(&d["name"]),
                        text(&d["device_type"]),
                        text(&d["target"]["release"]),
                        text(&d["target"]["by"]),
                        text(&d["release_id"]),
                        text(&d["update_status"]),
                        if d["online"] == true {
                            "online".into()
                        } else {
                            "offline".into()
                        },
                    ]
                })
                .collect();
            emit(&table::render(
                &[
                    "UUID", "NAME", "TYPE", "TARGET", "BY", "RUNNING", "STATUS", "SEEN",
                ],
                &rows,
            ));
            Ok(())
        }),
        DeviceCommand::Pin {
            uuid,
            release,
            unpin,
            server,
        } => run(&server, |client| {
            let release = if unpin { None } else { release };
            let device = client.put(
                &format!("/devices/{uuid}/pin"),
                &json!({"release_id": release}),
            )?;
            emit(&format!(
                "device {uuid}: target release {} ({})\n",
                text(&device["target"]["release"]),
                text(&device["target"]["by"])
            ));
            Ok(())
        }),
        DeviceCommand::Tag { uuid, tags, server } => run(&server, |client| {
            let device = client.put(
                &format!("/devices/{uuid}/tags"),
                &json!({"tags": pairs(&tags)?}),
            )?;
            emit(&format!("device {uuid}: tags {}\n", device["tags"]));
            Ok(())
        }),
    }
}

pub(crate) fn target(
    app: &str,
    release: Option<i64>,
    latest: bool,
    server: &ServerArgs,
) -> anyhow::Result<u8> {
    run(server, |client| {
        let body = if latest {
            json!({"track_latest": true})
        } else {
            json!({"release_id": release})
        };
        let target = client.put(&format!("/apps/{app}/target"), &body)?;
        emit(&format!(
            "app {app}: target release {}{}\n",
            text(&target["release_id"]),
            if target["track_latest"] == true {
                " (follows the latest release)"
            } else {
                ""
            }
        ));
        Ok(())
    })
}

pub(crate) fn rollout(command: RolloutCommand) -> anyhow::Result<u8> {
    match command {
        RolloutCommand::Create {
            app,
            release,
            phases,
            success_threshold,
            soak,
            error_threshold,
            tags,
            server,
        } => run(&server, |client| {
            let phases: Vec<Value> = phases
                    .iter()
                    .map(|p| json!({"percent": p, "success_threshold": success_threshold, "soak_seconds": soak}))
                    .collect();
            let body = json!({"release_id": release, "selector": {"tags": pairs(&tags)?},
                                  "phases": phases, "error_threshold": error_threshold});
            let created = client.post(&format!("/apps/{app}/rollouts"), &body)?;
            emit(&format!(
                "rollout {} of release {release}: {}\n",
                text(&created["id"]),
                text(&created["state"])
            ));
            Ok(())
        }),
        RolloutCommand::Show { id, json, server } => run(&server, |client| {
            let rollout = client.get(&format!("/rollouts/{id}"))?;
            if json {
                emit(&format!("{}\n", serde_json::to_string_pretty(&rollout)?));
            } else {
                emit(&describe(&rollout));
            }
            Ok(())
        }),
        RolloutCommand::Pause { id, server } => act(id, "pause", &server),
        RolloutCommand::Resume { id, server } => act(id, "resume", &server),
        RolloutCommand::Stop { id, server } => act(id, "stop", &server),
    }
}

fn act(id: i64, action: &str, server: &ServerArgs) -> anyhow::Result<u8> {
    run(server, |client| {
        let rollout = client.post(&format!("/rollouts/{id}/{action}"), &json!({}))?;
        emit(&describe(&rollout));
        Ok(())
    })
}

/// A rollout for people: its state and a row per phase.
pub(crate) fn describe(rollout: &Value) -> String {
    let mut out = format!(
        "rollout {} of release {} ({}): {}, phase {} of {}{}\n",
        text(&rollout["id"]),
        text(&rollout["release_id"]),
        text(&rollout["app"]),
        text(&rollout["state"]),
        text(&rollout["current_phase"]),
        rollout["phases"].as_array().map_or(0, Vec::len),
        rollout["reason"]
            .as_str()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    let rows: Vec<Vec<String>> = rollout["phases"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, p)| {
            vec![
                (i + 1).to_string(),
                format!("{}%", text(&p["percent"])),
                if p["reached"] == true {
                    "yes".into()
                } else {
                    "no".into()
                },
                text(&p["targeted"]),
                text(&p["updating"]),
                text(&p["running"]),
                text(&p["failed"]),
            ]
        })
        .collect();
    out.push_str(&table::render(
        &[
            "PHASE", "REACH", "REACHED", "DEVICES", "UPDATING", "RUNNING", "FAILED",
        ],
        &rows,
    ));
    out
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
