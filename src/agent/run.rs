//! The agent's loop: long-poll the target, update when it moves, report.
//!
//! An update: pull every image (the old release keeps running), run the
//! `release` hook, note the switch in the journal, replace the containers
//! service by service, let them settle, run `postdeploy`, commit. A failure
//! before the commit puts the previous release back (its images are still
//! here) and reports `failed`. After a restart the journal says where it
//! was: a switch in progress is carried to its end (every step is safe to
//! repeat).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::engine::{AgentEngine, AgentEngineError};
use super::journal::{Journal, JournalError};
use super::locks;
use super::plan::{reconcile, Action};
use super::ports::{Clock, DeviceEngine, FetchError, JournalStore, Upstream};
use super::target::TargetState;
use crate::failpoint;

#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Where the update locks live (`locks/<service>`).
    pub state_dir: PathBuf,
    /// How long one long-poll waits.
    pub poll_seconds: u64,
    /// How long new containers must keep running before the commit.
    pub settle: Duration,
    /// How long an update lock may hold an update before the device
    /// reports it as held past its time.
    pub lock_timeout: Duration,
    /// Disk kept free beyond a release's images: a pull that would eat into
    /// it waits instead of starting.
    pub reserve_disk_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Engine(#[from] AgentEngineError),
    #[error(transparent)]
    Preload(#[from] super::preload::PreloadError),
    #[error("the server refused the device key (401): check --device-key")]
    Unauthorized,
}

/// How an update attempt ended, when it did not fail.
enum Outcome {
    Done,
    /// Held by an update lock: tried again on the next poll.
    Waiting,
    /// A newer target arrived while downloading (before the commit of
    /// intent): it is applied instead, at once.
    Superseded(Newer),
}

/// A target that arrived during a download: the target, its force flag,
/// its `ETag`.
type Newer = (TargetState, bool, Option<String>);

/// Why an update did not finish.
enum Failure {
    /// A newer target arrived before the switch (nothing changed yet).
    Superseded(Newer),
    /// An update lock or the disk holds it (nothing changed; not a failure).
    Waiting(String),
    /// A download failed (network, registry): nothing changed, tried again
    /// with backoff; the release is not marked failed.
    Retry(String),
    /// Nothing switched yet: the old release still runs untouched.
    Before(String),
    /// Containers were switched: the previous release must be put back.
    After(String),
}

/// The agent: the update state machine over its ports (engine, upstream,
/// clock, journal store). The same code runs on a device and in the fleet
/// simulator.
pub struct Agent<E, U, C, J> {
    config: AgentConfig,
    engine: E,
    upstream: U,
    clock: C,
    store: J,
    journal: Journal,
    /// Since when (clock time) an update lock or the disk holds the pending
    /// update, and the reason last reported (reports go out when it
    /// changes, not every poll).
    waiting: Option<(Duration, String)>,
    /// The backoff before the next download attempt after one failed, and
    /// the reason last reported.
    retry: Option<(Duration, String)>,
    /// The `ETag` of the target last received: a newer one during a
    /// download is seen by a long poll against it.
    etag: Option<String>,
    /// A report the upstream did not take (down, unreachable): sent again
    /// when it answers, so its view catches up after an outage.
    unsent: Option<Value>,
}

impl<U: Upstream, C: Clock, J: JournalStore> Agent<AgentEngine, U, C, J> {
    /// Starts a preload file's release when the device has never run one:
    /// no network needed. The upstream's target is followed from then on.
    pub async fn preload(&mut self, path: &std::path::Path) -> Result<(), AgentError> {
        if self.journal.current.is_some() || self.journal.switching_to.is_some() {
            tracing::info!("a release ran here already: the preload file is not used");
            return Ok(());
        }
        use tracing::Instrument;
        let span = tracing::info_span!("preload", file = %path.display());
        let manifest = super::preload::load(&self.engine, path)
            .instrument(span)
            .await?;
        tracing::info!(release = ?manifest.target.release_id, "preloaded images loaded");
        self.journal.preloaded = manifest.images;
        self.journal.switching_to = Some(manifest.target.clone());
        self.store.save(&self.journal)?;
        self.apply(&manifest.target).await?;
        self.journal.current = Some(manifest.target.clone());
        self.journal.switching_to = None;
        self.store.save(&self.journal)?;
        self.report(manifest.target.release_id, "running", None)
            .await;
        Ok(())
    }
}

impl<E: DeviceEngine, U: Upstream, C: Clock, J: JournalStore> Agent<E, U, C, J> {
    pub fn new(
        mut config: AgentConfig,
        mut engine: E,
        upstream: U,
        clock: C,
        store: J,
    ) -> Result<Self, AgentError> {
        let journal = store.load()?;
        // Lock directories are bind-mounted: the engine needs absolute paths.
        if let Ok(absolute) = config.state_dir.canonicalize() {
            config.state_dir = absolute;
        }
        if let Some(uuid) = &journal.device {
            engine.set_device(uuid);
        }
        Ok(Agent {
            config,
            engine,
            upstream,
            clock,
            store,
            waiting: None,
            retry: None,
            etag: None,
            // Sent again: it may not have reached the server before a
            // restart (the server ignores a report it already has).
            unsent: journal.last_report.clone(),
            journal,
        })
    }

    /// What the journal says (the simulator checks devices with it).
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Runs until `stop`.
    pub async fn run(&mut self, stop: CancellationToken) -> Result<(), AgentError> {
        let mut backoff = Duration::from_secs(1);
        // A target held by an update lock, with the server's force flag:
        // polled for every second until it goes through.
        let mut pending: Option<(TargetState, bool)> = None;
        loop {
            if stop.is_cancelled() {
                return Ok(());
            }
            // After an outage: the upstream hears what happened before the
            // next long poll, not after it.
            self.resend().await;
            let wait = if pending.is_some() {
                1
            } else {
                self.config.poll_seconds
            };
            let fetched = tokio::select! {
                fetched = self.upstream.fetch(self.etag.as_deref(), wait) => fetched,
                _ = stop.cancelled() => return Ok(()),
            };
            let state = match fetched {
                Ok(Some((state, new_etag))) => {
                    backoff = Duration::from_secs(1);
                    self.etag = new_etag;
                    self.resend().await;
                    state
                }
                Ok(None) => {
                    backoff = Duration::from_secs(1);
                    self.resend().await;
                    if let Some((target, force)) = pending.take() {
                        pending = self.drive(target, force).await?;
                    } else if let Some(target) = self.journal.switching_to.clone() {
                        // Unchanged: converge anyway after a restart mid-switch
                        // (past the commit of intent, locks were checked).
                        self.update(&target, true).await?;
                    }
                    continue;
                }
                Err(FetchError::Unauthorized) => return Err(AgentError::Unauthorized),
                Err(FetchError::Unavailable(error)) => {
                    // Capped exponential backoff with jitter.
                    let jitter = Duration::from_millis(u64::from(rand_byte()) * 4);
                    tracing::warn!(%error, retry_in = ?backoff, "the server is not reachable");
                    tokio::select! {
                        _ = self.clock.sleep(backoff + jitter) => {}
                        _ = stop.cancelled() => return Ok(()),
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                    continue;
                }
            };
            if self.journal.device.is_none() {
                self.journal.device = state["device"]["uuid"].as_str().map(str::to_string);
                self.store.save(&self.journal)?;
                // Label what it creates from now on with the uuid.
                if let Some(uuid) = &self.journal.device {
                    self.engine.set_device(uuid);
                }
            }
            let target: TargetState = match serde_json::from_value(state.clone()) {
                Ok(target) => target,
                Err(error) => {
                    tracing::warn!(%error, "the server sent a target this agent cannot read");
                    continue;
                }
            };
            if target.release_id.is_none() || self.journal.failed == target.release_id {
                pending = None;
                continue;
            }
            if self.journal.current.as_ref() == Some(&target) && self.journal.switching_to.is_none()
            {
                // Already this release: only make sure its containers run
                // (no lock to wait for, nothing to report).
                pending = None;
                if let Err(error) = self.apply(&target).await {
                    tracing::warn!(%error, "could not converge the running release");
                }
                continue;
            }
            let force = state["force_update"].as_bool().unwrap_or(false);
            pending = self.drive(target, force).await?;
        }
    }

    /// Updates to `target`, and on to newer targets that arrive during its
    /// download; the target left waiting on an update lock, if one is.
    async fn drive(
        &mut self,
        target: TargetState,
        force: bool,
    ) -> Result<Option<(TargetState, bool)>, AgentError> {
        let mut next = (target, force);
        loop {
            match self.update(&next.0, next.1).await? {
                Outcome::Done => return Ok(None),
                Outcome::Waiting => return Ok(Some(next)),
                Outcome::Superseded((newer, force, etag)) => {
                    tracing::info!(
                        from = ?next.0.release_id,
                        to = ?newer.release_id,
                        "a newer target arrived during the download: it wins"
                    );
                    self.etag = etag;
                    next = (newer, force);
                }
            }
        }
    }

    /// Resolves with a target other than `current` once the upstream has one
    /// (long polls against the last `ETag`; errors only delay it).
    async fn newer_target(&self, current: &TargetState) -> Newer {
        let mut etag = self.etag.clone();
        loop {
            match self
                .upstream
                .fetch(etag.as_deref(), self.config.poll_seconds)
                .await
            {
                Ok(Some((state, new_etag))) => {
                    if let Ok(target) = serde_json::from_value::<TargetState>(state.clone()) {
                        if target.release_id.is_some() && target.release_id != current.release_id {
                            let force = state["force_update"].as_bool().unwrap_or(false);
                            return (target, force, new_etag);
                        }
                    }
                    etag = new_etag;
                    // The same target again (a forced flag, say): keep pulling.
                    self.clock.sleep(Duration::from_secs(1)).await;
                }
                Ok(None) => {}
                Err(_) => self.clock.sleep(Duration::from_secs(2)).await,
            }
        }
    }

    /// Sends a report; a failed report never undoes anything.
    async fn report(&mut self, release: Option<i64>, status: &str, error: Option<&str>) {
        self.next_report(release, status, error);
        let _ = self.store.save(&self.journal);
        self.resend().await;
    }

    /// Saves a step of the update together with the report that tells of
    /// it, in one write: a restart between two writes would leave the
    /// server's view behind for good (a device on its target says nothing).
    async fn save_and_report(
        &mut self,
        release: Option<i64>,
        status: &str,
        error: Option<&str>,
    ) -> Result<(), AgentError> {
        self.next_report(release, status, error);
        self.store.save(&self.journal)?;
        self.resend().await;
        Ok(())
    }

    /// Numbers the next report and keeps it (in the journal, and as unsent).
    fn next_report(&mut self, release: Option<i64>, status: &str, error: Option<&str>) {
        self.journal.seq += 1;
        let body = json!({"release_id": release, "update_status": status, "error": error, "seq": self.journal.seq});
        self.journal.last_report = Some(body.clone());
        self.unsent = Some(body);
    }

    /// Sends the last report if the upstream has not taken it yet (down,
    /// unreachable): it is kept and sent again when the upstream answers.
    async fn resend(&mut self) {
        let Some(body) = self.unsent.take() else {
            return;
        };
        if let Err(error) = self.upstream.report(&body).await {
            tracing::warn!(%error, report = %body["update_status"], "could not report (sent again when the server answers)");
            self.unsent = Some(body);
        }
    }

    /// Brings the device to `target`, or back to its current release.
    /// `force`: the server overrides update locks for this update.
    async fn update(&mut self, target: &TargetState, force: bool) -> Result<Outcome, AgentError> {
        use tracing::Instrument;
        let span = tracing::info_span!("update", release = ?target.release_id);
        let outcome = self.try_update(target, force).instrument(span).await;
        if !matches!(outcome, Err(Failure::Waiting(_))) {
            self.waiting = None;
        }
        if !matches!(outcome, Err(Failure::Retry(_))) {
            self.retry = None;
        }
        match outcome {
            Err(Failure::Superseded(newer)) => return Ok(Outcome::Superseded(newer)),
            Err(Failure::Waiting(reason)) => {
                let changed = self
                    .waiting
                    .as_ref()
                    .is_none_or(|(_, said)| said != &reason);
                if changed {
                    tracing::info!(%reason, "update held");
                    let since = self
                        .waiting
                        .as_ref()
                        .map_or_else(|| self.clock.now(), |(t, _)| *t);
                    self.waiting = Some((since, reason.clone()));
                    self.report(target.release_id, "waiting", Some(&reason))
                        .await;
                }
                return Ok(Outcome::Waiting);
            }
            Err(Failure::Retry(reason)) => {
                // Capped exponential backoff between download attempts.
                let (backoff, said) = match self.retry.take() {
                    Some((backoff, said)) => ((backoff * 2).min(Duration::from_secs(60)), said),
                    None => (Duration::from_secs(1), String::new()),
                };
                tracing::warn!(%reason, retry_in = ?backoff, "download failed");
                if said != reason {
                    self.report(target.release_id, "downloading", Some(&reason))
                        .await;
                }
                self.retry = Some((backoff, reason));
                self.clock.sleep(backoff).await;
                return Ok(Outcome::Waiting);
            }
            Ok(()) => {
                self.journal.current = Some(target.clone());
                self.journal.switching_to = None;
                self.journal.failed = None;
                self.save_and_report(target.release_id, "running", None)
                    .await?;
                tracing::info!(release = ?target.release_id, "update committed");
                self.clean_up(target).await?;
            }
            Err(Failure::Before(reason)) => {
                tracing::warn!(%reason, "update failed before switching: the old release runs on");
                self.journal.failed = target.release_id;
                self.save_and_report(target.release_id, "failed", Some(&reason))
                    .await?;
            }
            Err(Failure::After(reason)) => {
                tracing::warn!(%reason, "update failed: rolling back");
                if let Some(previous) = self.journal.current.clone() {
                    self.apply(&previous).await?;
                }
                self.journal.switching_to = None;
                self.journal.failed = target.release_id;
                self.save_and_report(target.release_id, "failed", Some(&reason))
                    .await?;
            }
        }
        Ok(Outcome::Done)
    }

    /// Removes the images this agent pulled that the running release does
    /// not use (the previous release's, once the new one runs).
    async fn clean_up(&mut self, running: &TargetState) -> Result<(), AgentError> {
        let needed: Vec<&str> = running
            .services
            .values()
            .map(|s| s.image.as_str())
            .collect();
        let pulled = std::mem::take(&mut self.journal.pulled);
        let mut kept = Vec::new();
        for image in pulled {
            if kept.contains(&image) {
                continue;
            }
            if needed.contains(&image.as_str()) {
                kept.push(image);
                continue;
            }
            if self.engine.remove_image(&image).await {
                tracing::info!(image, "removed an image no release here needs");
            } else {
                kept.push(image);
            }
        }
        self.journal.pulled = kept;
        self.store.save(&self.journal)?;
        Ok(())
    }

    /// Waits (reported, retried every poll) while the images still to pull
    /// would not fit beside the reserve: never a half-pulled release.
    async fn check_disk(&self, target: &TargetState) -> Result<(), Failure> {
        let mut missing = 0u64;
        for spec in target.services.values() {
            if !self.engine.has_image(&spec.image).await {
                missing = missing.saturating_add(spec.size_bytes.unwrap_or(0));
            }
        }
        let Some((free, root)) = self.engine.free_bytes().await else {
            tracing::debug!("the engine's disk is not visible here: no free-space check");
            return Ok(());
        };
        let needed = missing.saturating_add(self.config.reserve_disk_bytes);
        if free >= needed {
            return Ok(());
        }
        Err(Failure::Waiting(format!(
            "not enough free disk to download release {}: its images need {} MB and {} MB are kept free, {root} has less ({} MB)",
            target.release_id.unwrap_or_default(),
            missing.div_ceil(1 << 20),
            self.config.reserve_disk_bytes >> 20,
            // Whole GB: the text (and so the report) does not change with every write.
            (free >> 30) << 10,
        )))
    }

    /// Waits while a running service holds its update lock, unless forced.
    fn check_locks(&self, force: bool) -> Result<(), Failure> {
        let running: Vec<String> = self
            .journal
            .current
            .as_ref()
            .map(|current| current.services.keys().cloned().collect())
            .unwrap_or_default();
        let held = locks::held(&self.config.state_dir, &running);
        let waited = self.waiting.as_ref().map_or(Duration::ZERO, |(since, _)| {
            self.clock.now().saturating_sub(*since)
        });
        match locks::decide(held, force, waited, self.config.lock_timeout) {
            locks::Decision::Proceed { overridden } => {
                if !overridden.is_empty() {
                    tracing::warn!(?overridden, "update locks overridden by the server");
                    locks::clear(&self.config.state_dir, &overridden);
                }
                Ok(())
            }
            locks::Decision::Wait { reason } => Err(Failure::Waiting(reason)),
        }
    }

    /// Pulls every image of `target` (the old release keeps running); the
    /// references it pulled.
    async fn download(&self, target: &TargetState) -> Result<Vec<String>, Failure> {
        let mut pulled = Vec::new();
        for spec in target.services.values() {
            if self
                .engine
                .pull(&spec.image)
                .await
                .map_err(|e| Failure::Retry(e.to_string()))?
            {
                pulled.push(spec.image.clone());
            }
            if failpoint::armed("agent-slow-pull") {
                // A slow network, for the tests of what happens during a download.
                self.clock.sleep(Duration::from_secs(20)).await;
            }
        }
        Ok(pulled)
    }

    async fn try_update(&mut self, target: &TargetState, force: bool) -> Result<(), Failure> {
        let release = target.release_id;
        let resuming = self.journal.switching_to.as_ref() == Some(target);
        if !resuming {
            if self.waiting.is_none() && self.retry.is_none() {
                self.report(release, "downloading", None).await;
            }
            self.check_disk(target).await?;
            // Until the commit of intent, a newer target wins over this one.
            let pulled = tokio::select! {
                pulled = self.download(target) => pulled?,
                newer = self.newer_target(target) => {
                    return Err(Failure::Superseded(newer));
                }
            };
            if !pulled.is_empty() {
                self.journal.pulled.extend(pulled);
                self.store
                    .save(&self.journal)
                    .map_err(|e| Failure::Before(e.to_string()))?;
            }
            failpoint::kill_here("agent-after-pull");
            self.check_locks(force)?;
            if let Some(hook) = target.hooks.get("release") {
                self.run_hook(target, hook, "release")
                    .await
                    .map_err(Failure::Before)?;
            }
            // The commit of intent: from here a restart carries the switch on.
            self.journal.switching_to = Some(target.clone());
            self.store
                .save(&self.journal)
                .map_err(|e| Failure::Before(e.to_string()))?;
            self.report(release, "installing", None).await;
        }
        self.apply(target)
            .await
            .map_err(|e| Failure::After(e.to_string()))?;
        self.clock.sleep(self.config.settle).await;
        let observed = self
            .engine
            .observe()
            .await
            .map_err(|e| Failure::After(e.to_string()))?;
        for service in target.services.keys() {
            let mut running = false;
            for container in observed
                .iter()
                .filter(|c| &c.service == service && Some(c.release) == release)
            {
                running |= self.engine.settled(&container.id).await;
            }
            if !running {
                return Err(Failure::After(format!(
                    "service `{service}` did not keep running for {:?} after it started",
                    self.config.settle
                )));
            }
        }
        if let Some(hook) = target.hooks.get("postdeploy") {
            self.run_hook(target, hook, "postdeploy")
                .await
                .map_err(Failure::After)?;
        }
        Ok(())
    }

    async fn run_hook(
        &self,
        target: &TargetState,
        hook: &super::target::HookSpec,
        phase: &str,
    ) -> Result<(), String> {
        let image = target
            .services
            .get(&hook.service)
            .map(|s| s.image.clone())
            .ok_or_else(|| {
                format!(
                    "the {phase} hook names service `{}`, which the release does not have",
                    hook.service
                )
            })?;
        let code = self
            .engine
            .run_once(&image, &hook.command, &hook.service)
            .await
            .map_err(|e| e.to_string())?;
        if code != 0 {
            return Err(format!(
                "the {phase} hook ({}) exited {code}",
                hook.command.join(" ")
            ));
        }
        Ok(())
    }

    /// Reconciles the containers with `target`, one safe step at a time.
    async fn apply(&self, target: &TargetState) -> Result<(), AgentEngineError> {
        let release = target.release_id.unwrap_or_default();
        let observed = self.engine.observe().await?;
        for action in reconcile(&observed, target) {
            tracing::info!(?action, "applying");
            match action {
                Action::Remove { id, service } => {
                    self.engine.stop(&id).await;
                    failpoint::kill_here("agent-after-stop");
                    self.engine.remove(&id, &service).await?;
                }
                Action::Start { id, service } => {
                    self.engine.start(&id, &service).await?;
                    failpoint::kill_here("agent-after-start");
                }
                Action::Create { service } => {
                    if let Some(spec) = target.services.get(&service) {
                        let lock_dir = locks::dir(&self.config.state_dir, &service);
                        let preloaded = self.journal.preloaded.get(&spec.image).map(String::as_str);
                        let id = self
                            .engine
                            .create(&service, release, spec, &lock_dir, preloaded)
                            .await?;
                        failpoint::kill_here("agent-after-create");
                        self.engine.start(&id, &service).await?;
                        failpoint::kill_here("agent-after-start");
                    }
                }
            }
        }
        Ok(())
    }
}

/// One random byte (backoff jitter; the simulator's random steps).
pub fn rand_byte() -> u8 {
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    byte[0]
}
