//! `slipway fleet simulate`: a fleet of simulated devices in one process,
//! speaking the real device API of a running service (long-polls with ETags,
//! reports), driven through a real rollout. Each device runs the agent's own
//! state machine (`slipway::agent::run`); only its engine, its network link
//! and its clock are simulated (`slipway::agent::sim`). Faults on request:
//! releases that do not start, power cuts at a random step of the update,
//! network outages and flapping links, a newer release mid-rollout. At the
//! end every device is checked: its containers, its journal and the server's
//! view of it must agree.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::client::{Client, ServerArgs};
use super::{emit, exit};
use slipway::agent::ports::Clock;
use slipway::agent::run::{rand_byte, Agent, AgentConfig};
use slipway::agent::sim::{LinkedUpstream, MemoryJournal, ScaledClock, SimEngine, SimLink};
use slipway::agent::upstream::HttpUpstream;

#[derive(Args)]
pub(crate) struct SimulateArgs {
    /// The app the devices join (it needs two successful releases; three
    /// with --supersede).
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
    /// Percent of devices whose new release does not keep running (they
    /// roll back and report failed).
    #[arg(long, default_value_t = 2)]
    fail_percent: u8,
    /// Percent of devices that lose power at a random step of the update
    /// (and restart from their journal).
    #[arg(long, default_value_t = 0)]
    power_loss_percent: u8,
    /// Percent of devices offline for a while when the rollout starts.
    #[arg(long, default_value_t = 0)]
    network_loss_percent: u8,
    /// Percent of devices whose link keeps going down and up.
    #[arg(long, default_value_t = 0)]
    flap_percent: u8,
    /// Roll out the app's newest success while the rollout of the one
    /// before it is under way (from: third newest, to: second newest).
    #[arg(long)]
    supersede: bool,
    /// How much faster the devices' clock runs (downloads, settle times,
    /// backoff, outages).
    #[arg(long, default_value_t = 100)]
    time_scale: u32,
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

/// Simulated seconds an image takes to download.
const PULL_SECONDS: u64 = 5;
/// Simulated seconds a device takes to boot after a power cut.
const BOOT_SECONDS: u64 = 20;
/// Simulated seconds of a network outage.
const OUTAGE_SECONDS: u64 = 300;

struct SimDevice {
    uuid: String,
    key: String,
    engine: SimEngine<ScaledClock>,
    link: Arc<SimLink>,
    journal: MemoryJournal,
}

impl SimDevice {
    /// The release it runs (committed, not mid-switch).
    fn running(&self) -> Option<i64> {
        let journal = self.journal.snapshot();
        match (&journal.current, &journal.switching_to) {
            (Some(current), None) => current.release_id,
            _ => None,
        }
    }

    fn failed(&self) -> Option<i64> {
        self.journal.snapshot().failed
    }

    /// Why this device is inconsistent, if it is: its containers, its
    /// journal and what the server says of it must agree.
    fn inconsistency(&self, seen: Option<&Value>, target: i64) -> Option<String> {
        let journal = self.journal.snapshot();
        if journal.switching_to.is_some() {
            return Some("still switching".into());
        }
        let Some(current) = &journal.current else {
            return Some("runs nothing".into());
        };
        let release = current.release_id.unwrap_or_default();
        let mut expected: Vec<(String, i64, bool)> = current
            .services
            .keys()
            .map(|s| (s.clone(), release, true))
            .collect();
        expected.sort();
        let containers = self.engine.containers();
        if containers != expected {
            return Some(format!(
                "containers {containers:?}, journal says release {release}"
            ));
        }
        if release != target && journal.failed != Some(target) {
            return Some(format!("runs {release}, its target is {target}"));
        }
        let seen = seen?;
        let (said_release, said_status) =
            (seen["release_id"].as_i64(), seen["update_status"].as_str());
        let agrees = if release == target {
            said_release == Some(target) && said_status == Some("running")
        } else {
            said_release == Some(target) && said_status == Some("failed")
        };
        (!agrees).then(|| format!("the server shows {said_release:?} {said_status:?}"))
    }
}

/// Counts of what the devices went through.
#[derive(Default)]
struct Faults {
    power_cuts: AtomicU64,
    link_drops: AtomicU64,
}

fn percent_of(i: usize, percent: u8, salt: usize) -> bool {
    // Spread over the fleet (membership is by hash, so phases get their share).
    (i.wrapping_mul(37).wrapping_add(salt)) % 100 < percent as usize
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
        "/releases?app={}&status=success&limit=3",
        args.app
    ))?;
    let newest: Vec<i64> = releases["releases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["id"].as_i64())
        .collect();
    let skip = usize::from(args.supersede);
    let (Some(to), Some(from)) = (
        args.to.or(newest.get(skip).copied()),
        args.from.or(newest.get(skip + 1).copied()),
    ) else {
        eprintln!(
            "error: app {} needs {} successful releases (or --from and --to)",
            args.app,
            2 + skip
        );
        return Ok(exit::USAGE);
    };
    let superseding = match (args.supersede, newest.first()) {
        (false, _) => None,
        (true, Some(&newest)) if newest != to => Some(newest),
        (true, _) => {
            eprintln!("error: --supersede needs a release newer than --to");
            return Ok(exit::USAGE);
        }
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
        let clock = ScaledClock::new(args.time_scale);

        // 1. Register the devices, 32 at a time.
        let started = Instant::now();
        let mut devices = Vec::with_capacity(args.devices);
        for chunk in (0..args.devices).collect::<Vec<_>>().chunks(32) {
            let mut pending = Vec::new();
            for &i in chunk {
                let body = json!({"name": format!("sim-{run_id}-{i:05}"), "device_type": device_type, "tags": {"sim": run_id}});
                pending.push(http.post(api(&format!("/apps/{}/devices", args.app))).bearer_auth(&token).json(&body).send());
            }
            for response in futures_util::future::join_all(pending).await {
                let value: Value = response?.error_for_status()?.json().await?;
                let link = Arc::new(SimLink::default());
                devices.push(Arc::new(SimDevice {
                    uuid: value["uuid"].as_str().unwrap_or_default().into(),
                    key: value["device_key"].as_str().unwrap_or_default().into(),
                    engine: SimEngine::new(link.clone(), clock.clone(), Duration::from_secs(PULL_SECONDS)),
                    link,
                    journal: MemoryJournal::default(),
                }));
            }
        }
        let failing = (0..devices.len()).filter(|&i| percent_of(i, args.fail_percent, 0)).count();
        for (i, device) in devices.iter().enumerate() {
            if percent_of(i, args.fail_percent, 0) {
                device.engine.fail_release(Some(to));
            }
        }
        emit(&format!(
            "registered {} simulated {device_type} devices in {:.1}s ({failing} set to fail release {to})\n",
            devices.len(),
            started.elapsed().as_secs_f64()
        ));

        // 2. The fleet on `from` (through a one-phase rollout of their own:
        // the app's fleet target is left alone); the agents start.
        http.post(api(&format!("/apps/{}/rollouts", args.app)))
            .bearer_auth(&token)
            .json(&json!({"release_id": from, "selector": {"tags": {"sim": run_id}}, "phases": [{"percent": 100}]}))
            .send().await?.error_for_status()?;
        let stop = CancellationToken::new();
        // Faults end before the check; the agents run on through it (a
        // report they could not send goes out once the link is back).
        let faults_stop = CancellationToken::new();
        let faults = Arc::new(Faults::default());
        let mut tasks = Vec::new();
        for device in &devices {
            let upstream = HttpUpstream::new(http.clone(), &base, &device.key);
            tasks.push(tokio::spawn(run_device(device.clone(), upstream, clock.clone(), faults.clone(), stop.clone())));
        }
        let count = |release: i64| devices.iter().filter(|d| d.running() == Some(release)).count();
        let converge = Instant::now();
        while count(from) < devices.len() {
            if converge.elapsed() > Duration::from_secs(args.timeout) {
                anyhow::bail!("the fleet did not reach release {from} in {}s", args.timeout);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        emit(&format!("all {} devices run release {from} after {:.1}s\n", devices.len(), converge.elapsed().as_secs_f64()));

        // 3. Faults armed, then the rollout.
        let mut armed = [0usize; 3];
        for (i, device) in devices.iter().enumerate() {
            if percent_of(i, args.power_loss_percent, 11) {
                // A random step of the update (a pull, stop, remove, create or start).
                let steps = 1 + u32::from(rand_byte()) % 5;
                device.engine.arm_power_cut(steps);
                armed[0] += 1;
            }
            if percent_of(i, args.network_loss_percent, 23) {
                let (link, clock) = (device.link.clone(), clock.clone());
                faults.link_drops.fetch_add(1, Ordering::Relaxed);
                link.set_up(false);
                let stop = faults_stop.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = clock.sleep(Duration::from_secs(OUTAGE_SECONDS)) => {}
                        _ = stop.cancelled() => {}
                    }
                    link.set_up(true);
                });
                armed[1] += 1;
            }
            if percent_of(i, args.flap_percent, 47) {
                tokio::spawn(flap(device.link.clone(), clock.clone(), faults.clone(), faults_stop.clone()));
                armed[2] += 1;
            }
        }
        if armed.iter().any(|&n| n > 0) {
            emit(&format!(
                "faults: {} devices lose power during the update, {} are offline for {OUTAGE_SECONDS}s (simulated), {} have flapping links\n",
                armed[0], armed[1], armed[2]
            ));
        }
        let phases: Vec<Value> = args.phases.iter().map(|p| json!({"percent": p, "success_threshold": args.success_threshold})).collect();
        let rollout_of = |release: i64, phases: Vec<Value>| {
            http.post(api(&format!("/apps/{}/rollouts", args.app)))
                .bearer_auth(&token)
                .json(&json!({"release_id": release, "selector": {"tags": {"sim": run_id}}, "phases": phases, "error_threshold": args.error_threshold, "min_finished": args.min_finished}))
                .send()
        };
        let created: Value = rollout_of(to, phases).await?.error_for_status()?.json().await?;
        let mut id = created["id"].as_i64().unwrap_or_default();
        let rolling = Instant::now();
        emit(&format!("rollout {id}: release {from} -> {to}, phases {:?}, success threshold {}%, error threshold {}%\n", args.phases, args.success_threshold, args.error_threshold));
        let target = superseding.unwrap_or(to);
        let mut superseded = superseding.is_none();
        let mut last = (String::new(), 0);
        let rollout = loop {
            if !superseded && count(to) > 0 {
                // The first devices run `to`; others are downloading it.
                let created: Value = rollout_of(target, vec![json!({"percent": 100, "success_threshold": args.success_threshold})]).await?.error_for_status()?.json().await?;
                id = created["id"].as_i64().unwrap_or_default();
                superseded = true;
                last = (String::new(), 0);
                emit(&format!("  {:6.1}s  rollout {id}: release {target} supersedes {to} (one phase)\n", rolling.elapsed().as_secs_f64()));
            }
            let rollout: Value = http.get(api(&format!("/rollouts/{id}"))).bearer_auth(&token).send().await?.json().await?;
            let now = (rollout["state"].as_str().unwrap_or("").to_string(), rollout["current_phase"].as_i64().unwrap_or(0));
            if now != last {
                emit(&format!("  {:6.1}s  {} phase {}\n", rolling.elapsed().as_secs_f64(), now.0, now.1));
                last = now.clone();
            }
            // Converged: the rollout completed and every device settled
            // (running the release or failed), or it paused or stopped.
            let settled = devices.iter().filter(|d| d.running() == Some(target) || d.failed() == Some(target)).count() >= devices.len();
            if superseded && ((now.0 == "completed" && settled) || now.0 == "paused" || now.0 == "stopped") {
                break rollout;
            }
            if rolling.elapsed() > Duration::from_secs(args.timeout) {
                emit("  timed out\n");
                break rollout;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let took = rolling.elapsed();
        emit(&super::fleet::describe(&rollout));
        let on_target = count(target);
        let failed = devices.iter().filter(|d| d.failed() == Some(target) && d.running() != Some(target)).count();
        emit(&format!(
            "converged in {:.1}s: {on_target} on release {target}, {failed} failed, {} still on {from} ({} power cuts, {} link drops)\n",
            took.as_secs_f64(),
            // Failed devices run `from` again (rolled back): not counted twice.
            devices.iter().filter(|d| d.running() == Some(from) && d.failed() != Some(target)).count(),
            faults.power_cuts.load(Ordering::Relaxed),
            faults.link_drops.load(Ordering::Relaxed),
        ));

        // 4. Every device checked, once the links are up and the reports in.
        let mut inconsistent = Vec::new();
        if rollout["state"] == "completed" {
            faults_stop.cancel();
            for device in &devices {
                device.link.set_up(true);
            }
            let checking = Instant::now();
            loop {
                let listed: Value = http.get(api(&format!("/apps/{}/devices?tag=sim:{run_id}", args.app))).bearer_auth(&token).send().await?.json().await?;
                let seen: std::collections::HashMap<&str, &Value> = listed["devices"].as_array().into_iter().flatten()
                    .filter_map(|d| Some((d["uuid"].as_str()?, d))).collect();
                inconsistent = devices.iter()
                    .filter_map(|d| d.inconsistency(Some(seen.get(d.uuid.as_str()).copied().unwrap_or(&Value::Null)), target).map(|why| (d.uuid.clone(), why)))
                    .collect();
                if inconsistent.is_empty() || checking.elapsed() > Duration::from_secs(30) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            emit(&format!(
                "inconsistent devices: {} (containers, journal and the server's view checked on all {}; consistent after {:.1}s)\n",
                inconsistent.len(),
                devices.len(),
                rolling.elapsed().as_secs_f64(),
            ));
            for (uuid, why) in inconsistent.iter().take(10) {
                emit(&format!("  {uuid}: {why}\n"));
            }
        }
        faults_stop.cancel();
        stop.cancel();
        for task in tasks {
            task.abort();
        }
        if !args.keep {
            for chunk in devices.chunks(64) {
                let deletes = chunk.iter().map(|d| http.delete(api(&format!("/devices/{}", d.uuid))).bearer_auth(&token).send());
                futures_util::future::join_all(deletes).await;
            }
        }
        let ok = rollout["state"] == "completed" && inconsistent.is_empty();
        Ok::<u8, anyhow::Error>(if ok { exit::OK } else { exit::FAILURE })
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

/// One device: the agent over the simulated engine and link, started again
/// from its journal after each power cut.
async fn run_device(
    device: Arc<SimDevice>,
    upstream: HttpUpstream,
    clock: ScaledClock,
    faults: Arc<Faults>,
    stop: CancellationToken,
) {
    let upstream = LinkedUpstream {
        inner: upstream,
        link: device.link.clone(),
        clock: clock.clone(),
    };
    loop {
        let config = AgentConfig {
            // No update locks in the simulation.
            state_dir: "/nonexistent/slipway-simulated-device".into(),
            poll_seconds: 5,
            settle: Duration::from_secs(10),
            lock_timeout: Duration::from_secs(600),
            reserve_disk_bytes: 0,
        };
        let power = device.engine.power();
        let agent = Agent::new(
            config,
            device.engine.clone(),
            upstream.clone(),
            clock.clone(),
            device.journal.clone(),
        );
        let Ok(mut agent) = agent else { return };
        tokio::select! {
            _ = agent.run(stop.clone()) => return,
            _ = power.cancelled() => {
                faults.power_cuts.fetch_add(1, Ordering::Relaxed);
                drop(agent);
                clock.sleep(Duration::from_secs(BOOT_SECONDS)).await;
            }
        }
    }
}

/// A link that keeps dropping: up for 20 to 147 simulated seconds (long
/// enough for a download, not always for a whole update), then down for 1
/// to 15.
async fn flap(
    link: Arc<SimLink>,
    clock: ScaledClock,
    faults: Arc<Faults>,
    stop: CancellationToken,
) {
    loop {
        let up = Duration::from_millis(20_000 + u64::from(rand_byte()) * 500);
        tokio::select! {
            _ = clock.sleep(up) => {}
            _ = stop.cancelled() => return,
        }
        link.set_up(false);
        faults.link_drops.fetch_add(1, Ordering::Relaxed);
        let down = Duration::from_millis(1_000 + u64::from(rand_byte()) * 55);
        tokio::select! {
            _ = clock.sleep(down) => {}
            _ = stop.cancelled() => {}
        }
        link.set_up(true);
        if stop.is_cancelled() {
            return;
        }
    }
}
