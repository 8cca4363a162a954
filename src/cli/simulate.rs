//! `slipway fleet simulate`: a fleet of simulated devices in one process,
//! speaking the real device API of a running service (long-polls with ETags,
//! reports), driven through a real rollout. Only the devices' work (download,
//! install) is simulated, by short sleeps; a given share of them fail to
//! install the new release.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{json, Value};

use super::client::{Client, ServerArgs};
use super::{emit, exit};

#[derive(Args)]
pub(crate) struct SimulateArgs {
    /// The app the devices join (it needs two successful releases).
    #[arg(long)]
    app: String,
    /// How many devices.
    #[arg(long, default_value_t = 1000)]
    devices: usize,
    /// The device type they claim (default: the app's first).
    #[arg(long = "device-type")]
    device_type: Option<String>,
    /// The release they start on (default: the app's second newest success).
    #[arg(long)]
    from: Option<i64>,
    /// The release rolled out (default: the app's newest success).
    #[arg(long)]
    to: Option<i64>,
    /// Percent of devices that fail to install the new release.
    #[arg(long, default_value_t = 2)]
    fail_percent: u8,
    /// The rollout's cumulative phase percents.
    #[arg(long, value_delimiter = ',', default_value = "10,50,100")]
    phases: Vec<u8>,
    #[arg(long, default_value_t = 90)]
    success_threshold: u8,
    #[arg(long, default_value_t = 10)]
    error_threshold: u8,
    /// Failures count once this many devices of the reached phases finished.
    #[arg(long, default_value_t = 20)]
    min_finished: u32,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Keep the simulated devices registered afterwards.
    #[arg(long)]
    keep: bool,
    #[command(flatten)]
    server: ServerArgs,
}

struct SimDevice {
    uuid: String,
    key: String,
    fails: bool,
}

/// What the simulated fleet runs, counted as devices report.
#[derive(Default)]
struct Tally {
    on_from: AtomicU64,
    on_to: AtomicU64,
    failed: AtomicU64,
    polls: AtomicU64,
    reports: AtomicU64,
}

pub(crate) fn run(args: SimulateArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.server)?;
    let app = client.get(&format!("/apps/{}", args.app))?;
    let device_type = args
        .device_type
        .clone()
        .or_else(|| app["device_types"][0].as_str().map(str::to_string))
        .ok_or_else(|| anyhow::anyhow!("app {} has no device type", args.app))?;
    let releases = client.get(&format!(
        "/releases?app={}&status=success&limit=2",
        args.app
    ))?;
    let newest: Vec<i64> = releases["releases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_i64())
        .collect();
    let (Some(to), Some(from)) = (
        args.to.or(newest.first().copied()),
        args.from.or(newest.get(1).copied()),
    ) else {
        eprintln!(
            "error: app {} needs two successful releases (or --from and --to)",
            args.app
        );
        return Ok(exit::USAGE);
    };
    let run_id = format!("{:x}", super::cli_now_ms());
    let base = args.server.server.clone().unwrap_or_default();
    let token = args.server.token.clone().unwrap_or_default();
    let runtime = tokio::runtime::Runtime::new()?;
    let code = runtime.block_on(async move {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(args.devices + 16)
            .build()?;
        let api = |path: &str| format!("{}/api/v1{path}", base.trim_end_matches('/'));

        // 1. Register the devices, 32 at a time.
        let started = Instant::now();
        let mut devices = Vec::with_capacity(args.devices);
        for chunk in (0..args.devices).collect::<Vec<_>>().chunks(32) {
            let mut pending = Vec::new();
            for &i in chunk {
                let body = json!({"name": format!("sim-{run_id}-{i:05}"), "device_type": device_type, "tags": {"sim": run_id}});
                pending.push(http.post(api(&format!("/apps/{}/devices", args.app))).bearer_auth(&token).json(&body).send());
            }
            for (offset, response) in futures_util::future::join_all(pending).await.into_iter().enumerate() {
                let value: Value = response?.error_for_status()?.json().await?;
                let i = chunk[offset];
                devices.push(SimDevice {
                    uuid: value["uuid"].as_str().unwrap_or_default().into(),
                    key: value["device_key"].as_str().unwrap_or_default().into(),
                    // Membership is by hash, so every phase gets its share of these.
                    fails: i % 100 < args.fail_percent as usize,
                });
            }
        }
        let failing = devices.iter().filter(|d| d.fails).count();
        emit(&format!(
            "registered {} simulated {device_type} devices in {:.1}s ({failing} set to fail release {to})\n",
            devices.len(),
            started.elapsed().as_secs_f64()
        ));

        // 2. The fleet on `from`; the devices start polling.
        // (through a one-phase rollout of their own: the app's fleet target is left alone)
        http.post(api(&format!("/apps/{}/rollouts", args.app)))
            .bearer_auth(&token)
            .json(&json!({"release_id": from, "selector": {"tags": {"sim": run_id}}, "phases": [{"percent": 100}]}))
            .send().await?.error_for_status()?;
        let tally = Arc::new(Tally::default());
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for device in devices.iter() {
            tasks.push(tokio::spawn(device_loop(
                http.clone(),
                api("/device/state"),
                device.key.clone(),
                device.fails.then_some(to),
                from,
                to,
                tally.clone(),
                stop.clone(),
            )));
        }
        let converge = Instant::now();
        while tally.on_from.load(Ordering::Relaxed) < devices.len() as u64 {
            if converge.elapsed() > Duration::from_secs(args.timeout) {
                anyhow::bail!("the fleet did not reach release {from} in {}s", args.timeout);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        emit(&format!("all {} devices run release {from} after {:.1}s\n", devices.len(), converge.elapsed().as_secs_f64()));

        // 3. The rollout.
        let phases: Vec<Value> = args.phases.iter().map(|p| json!({"percent": p, "success_threshold": args.success_threshold})).collect();
        let created: Value = http
            .post(api(&format!("/apps/{}/rollouts", args.app)))
            .bearer_auth(&token)
            .json(&json!({"release_id": to, "selector": {"tags": {"sim": run_id}}, "phases": phases, "error_threshold": args.error_threshold, "min_finished": args.min_finished}))
            .send().await?.error_for_status()?.json().await?;
        let id = created["id"].as_i64().unwrap_or_default();
        let rolling = Instant::now();
        emit(&format!("rollout {id}: release {from} -> {to}, phases {:?}, success threshold {}%, error threshold {}%\n", args.phases, args.success_threshold, args.error_threshold));
        let mut last = (String::new(), 0);
        let rollout = loop {
            let rollout: Value = http.get(api(&format!("/rollouts/{id}"))).bearer_auth(&token).send().await?.json().await?;
            let now = (rollout["state"].as_str().unwrap_or("").to_string(), rollout["current_phase"].as_i64().unwrap_or(0));
            if now != last {
                emit(&format!("  {:6.1}s  {} phase {}\n", rolling.elapsed().as_secs_f64(), now.0, now.1));
                last = now.clone();
            }
            // Converged: the rollout completed and every device settled
            // (running the release or failed), or it paused or stopped.
            let settled = (tally.on_to.load(Ordering::Relaxed) + tally.failed.load(Ordering::Relaxed)) as usize
                >= devices.len();
            if (now.0 == "completed" && settled) || now.0 == "paused" || now.0 == "stopped" {
                break rollout;
            }
            if rolling.elapsed() > Duration::from_secs(args.timeout) {
                emit("  timed out\n");
                break rollout;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let took = rolling.elapsed();
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            task.abort();
        }
        emit(&super::fleet::describe(&rollout));
        emit(&format!(
            "converged in {:.1}s: {} on release {to}, {} failed, {} still on {from} ({} polls, {} reports)\n",
            took.as_secs_f64(),
            tally.on_to.load(Ordering::Relaxed),
            tally.failed.load(Ordering::Relaxed),
            devices.len() as u64 - tally.on_to.load(Ordering::Relaxed) - tally.failed.load(Ordering::Relaxed),
            tally.polls.load(Ordering::Relaxed),
            tally.reports.load(Ordering::Relaxed),
        ));
        if !args.keep {
            for chunk in devices.chunks(64) {
                let deletes = chunk.iter().map(|d| http.delete(api(&format!("/devices/{}", d.uuid))).bearer_auth(&token).send());
                futures_util::future::join_all(deletes).await;
            }
        }
        Ok::<u8, anyhow::Error>(if rollout["state"] == "completed" { exit::OK } else { exit::FAILURE })
    });
    drop(client);
    match code {
        Ok(code) => Ok(code),
        Err(error) => {
            eprintln!("error: {error:#}");
            Ok(exit::FAILURE)
        }
    }
}

/// One device: long-poll its state; when the target moves, "download" and
/// "install" it (short sleeps), then report running, or failed when it is
/// the release this device is set to fail.
#[allow(clippy::too_many_arguments)]
async fn device_loop(
    http: reqwest::Client,
    url: String,
    key: String,
    fails_on: Option<i64>,
    from: i64,
    to: i64,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
) {
    let mut etag: Option<String> = None;
    let mut running: Option<i64> = None;
    let mut failed: Option<i64> = None;
    let mut seq = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let mut request = http.get(format!("{url}?wait=20")).bearer_auth(&key);
        if let Some(etag) = &etag {
            request = request.header("if-none-match", etag);
        }
        tally.polls.fetch_add(1, Ordering::Relaxed);
        let Ok(response) = request.send().await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        if response.status() == reqwest::StatusCode::NOT_MODIFIED {
            continue;
        }
        etag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let Ok(state) = response.json::<Value>().await else {
            continue;
        };
        let Some(target) = state["release_id"].as_i64() else {
            continue;
        };
        if Some(target) == running || Some(target) == failed {
            continue;
        }
        for status in ["downloading", "installing"] {
            seq += 1;
            report(
                &http,
                &url,
                &key,
                json!({"release_id": target, "update_status": status, "seq": seq}),
                &tally,
            )
            .await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        seq += 1;
        if fails_on == Some(target) {
            report(&http, &url, &key, json!({"release_id": target, "update_status": "failed", "error": "simulated: the new container exited 1", "seq": seq}), &tally).await;
            failed = Some(target);
            tally.failed.fetch_add(1, Ordering::Relaxed);
        } else {
            report(
                &http,
                &url,
                &key,
                json!({"release_id": target, "update_status": "running", "seq": seq}),
                &tally,
            )
            .await;
            match running {
                Some(r) if r == from => {
                    tally.on_from.fetch_sub(1, Ordering::Relaxed);
                }
                Some(r) if r == to => {
                    tally.on_to.fetch_sub(1, Ordering::Relaxed);
                }
                _ => {}
            }
            running = Some(target);
            if target == from {
                tally.on_from.fetch_add(1, Ordering::Relaxed);
            } else if target == to {
                tally.on_to.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn report(http: &reqwest::Client, url: &str, key: &str, body: Value, tally: &Tally) {
    tally.reports.fetch_add(1, Ordering::Relaxed);
    // An unreliable link: a report that does not get through is sent again.
    for _ in 0..5 {
        if let Ok(response) = http.patch(url).bearer_auth(key).json(&body).send().await {
            if response.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
