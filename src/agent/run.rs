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
use super::journal::{self, Journal, JournalError};
use super::locks;
use super::plan::{reconcile, Action};
use super::target::TargetState;
use crate::failpoint;

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub server: String,
    pub device_key: String,
    pub state_dir: PathBuf,
    pub engine: Option<String>,
    /// How long one long-poll waits.
    pub poll_seconds: u64,
    /// How long new containers must keep running before the commit.
    pub settle: Duration,
    /// How long an update lock may hold an update before the device
    /// reports it as held past its time.
    pub lock_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Engine(#[from] AgentEngineError),
    #[error("the server refused the device key (401): check --device-key")]
    Unauthorized,
}

/// How an update attempt ended, when it did not fail.
enum Outcome {
    Done,
    /// Held by an update lock: tried again on the next poll.
    Waiting,
}

/// Why an update did not finish.
enum Failure {
    /// An update lock holds it (nothing changed; not a failure).
    Waiting(String),
    /// Nothing switched yet: the old release still runs untouched.
    Before(String),
    /// Containers were switched: the previous release must be put back.
    After(String),
}

pub struct Agent {
    config: AgentConfig,
    http: reqwest::Client,
    journal: Journal,
    engine: Option<AgentEngine>,
    /// Since when an update lock holds the pending update, and the reason
    /// last reported (reports go out when it changes, not every poll).
    waiting: Option<(std::time::Instant, String)>,
}

impl Agent {
    pub fn new(mut config: AgentConfig) -> Result<Agent, AgentError> {
        let journal = journal::load(&config.state_dir)?;
        // Lock directories are bind-mounted: the engine needs absolute paths.
        if let Ok(absolute) = config.state_dir.canonicalize() {
            config.state_dir = absolute;
        }
        Ok(Agent {
            http: reqwest::Client::new(),
            journal,
            engine: None,
            config,
            waiting: None,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.config.server.trim_end_matches('/'))
    }

    /// Runs until `stop`.
    pub async fn run(&mut self, stop: CancellationToken) -> Result<(), AgentError> {
        let mut etag: Option<String> = None;
        let mut backoff = Duration::from_secs(1);
        // A target held by an update lock, with the server's force flag:
        // polled for every second until it goes through.
        let mut pending: Option<(TargetState, bool)> = None;
        loop {
            if stop.is_cancelled() {
                return Ok(());
            }
            let wait = if pending.is_some() {
                1
            } else {
                self.config.poll_seconds
            };
            let fetched = tokio::select! {
                fetched = self.fetch(etag.as_deref(), wait) => fetched,
                _ = stop.cancelled() => return Ok(()),
            };
            let state = match fetched {
                Ok(Some((state, new_etag))) => {
                    backoff = Duration::from_secs(1);
                    etag = new_etag;
                    state
                }
                Ok(None) => {
                    backoff = Duration::from_secs(1);
                    if let Some((target, force)) = pending.clone() {
                        if let Outcome::Done = self.update(&target, force).await? {
                            pending = None;
                        }
                    } else if let Some(target) = self.journal.switching_to.clone() {
                        // Unchanged: converge anyway after a restart mid-switch
                        // (past the commit of intent, locks were checked).
                        self.update(&target, true).await?;
                    }
                    continue;
                }
                Err(FetchError::Unauthorized) => return Err(AgentError::Unauthorized),
                Err(FetchError::Other(error)) => {
                    // Capped exponential backoff with jitter.
                    let jitter = Duration::from_millis(u64::from(rand_byte()) * 4);
                    tracing::warn!(%error, retry_in = ?backoff, "the server is not reachable");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff + jitter) => {}
                        _ = stop.cancelled() => return Ok(()),
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                    continue;
                }
            };
            if self.journal.device.is_none() {
                self.journal.device = state["device"]["uuid"].as_str().map(str::to_string);
                journal::save(&self.config.state_dir, &self.journal)?;
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
            pending = match self.update(&target, force).await? {
                Outcome::Done => None,
                Outcome::Waiting => Some((target, force)),
            };
        }
    }

    async fn fetch(
        &self,
        etag: Option<&str>,
        wait: u64,
    ) -> Result<Option<(Value, Option<String>)>, FetchError> {
        let mut request = self
            .http
            .get(self.url(&format!("/device/state?wait={wait}")))
            .bearer_auth(&self.config.device_key)
            .timeout(Duration::from_secs(wait + 30));
        if let Some(etag) = etag {
            request = request.header("if-none-match", etag);
        }
        let response = request
            .send()
            .await
            .map_err(|e| FetchError::Other(e.to_string()))?;
        match response.status().as_u16() {
            304 => Ok(None),
            401 => Err(FetchError::Unauthorized),
            200 => {
                let etag = response
                    .headers()
                    .get("etag")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body = response
                    .json()
                    .await
                    .map_err(|e| FetchError::Other(e.to_string()))?;
                Ok(Some((body, etag)))
            }
            other => Err(FetchError::Other(format!("the server answered {other}"))),
        }
    }

    /// Sends a report; a failed report never undoes anything.
    async fn report(&mut self, release: Option<i64>, status: &str, error: Option<&str>) {
        self.journal.seq += 1;
        let _ = journal::save(&self.config.state_dir, &self.journal);
        let body = json!({"release_id": release, "update_status": status, "error": error, "seq": self.journal.seq});
        let sent = self
            .http
            .patch(self.url("/device/state"))
            .bearer_auth(&self.config.device_key)
            .json(&body)
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        if let Err(error) = sent {
            tracing::warn!(%error, status, "could not report (the next report says it again)");
        }
    }

    fn engine(&mut self) -> Result<&AgentEngine, AgentError> {
        if self.engine.is_none() {
            let device = self.journal.device.clone().unwrap_or_default();
            self.engine = Some(AgentEngine::connect(
                self.config.engine.as_deref(),
                &device,
            )?);
        }
        Ok(self.engine.as_ref().expect("connected above"))
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
        match outcome {
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
                        .map_or_else(std::time::Instant::now, |(t, _)| *t);
                    self.waiting = Some((since, reason.clone()));
                    self.report(target.release_id, "waiting", Some(&reason))
                        .await;
                }
                return Ok(Outcome::Waiting);
            }
            Ok(()) => {
                self.journal.current = Some(target.clone());
                self.journal.switching_to = None;
                self.journal.failed = None;
                journal::save(&self.config.state_dir, &self.journal)?;
                tracing::info!(release = ?target.release_id, "update committed");
                self.report(target.release_id, "running", None).await;
                self.clean_up(target).await?;
            }
            Err(Failure::Before(reason)) => {
                tracing::warn!(%reason, "update failed before switching: the old release runs on");
                self.journal.failed = target.release_id;
                journal::save(&self.config.state_dir, &self.journal)?;
                self.report(target.release_id, "failed", Some(&reason))
                    .await;
            }
            Err(Failure::After(reason)) => {
                tracing::warn!(%reason, "update failed: rolling back");
                if let Some(previous) = self.journal.current.clone() {
                    self.apply(&previous).await.map_err(AgentError::Engine)?;
                }
                self.journal.switching_to = None;
                self.journal.failed = target.release_id;
                journal::save(&self.config.state_dir, &self.journal)?;
                self.report(target.release_id, "failed", Some(&reason))
                    .await;
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
            let gone = match self.engine() {
                Ok(engine) => engine.remove_image(&image).await,
                Err(_) => false,
            };
            if gone {
                tracing::info!(image, "removed an image no release here needs");
            } else {
                kept.push(image);
            }
        }
        self.journal.pulled = kept;
        journal::save(&self.config.state_dir, &self.journal)?;
        Ok(())
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
        let waited = self
            .waiting
            .as_ref()
            .map_or(Duration::ZERO, |(since, _)| since.elapsed());
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

    async fn try_update(&mut self, target: &TargetState, force: bool) -> Result<(), Failure> {
        let release = target.release_id;
        let resuming = self.journal.switching_to.as_ref() == Some(target);
        if !resuming {
            if self.waiting.is_none() {
                self.report(release, "downloading", None).await;
            }
            let engine = self.engine().map_err(|e| Failure::Before(e.to_string()))?;
            let mut pulled = Vec::new();
            for spec in target.services.values() {
                if engine
                    .pull(&spec.image)
                    .await
                    .map_err(|e| Failure::Before(e.to_string()))?
                {
                    pulled.push(spec.image.clone());
                }
            }
            if !pulled.is_empty() {
                self.journal.pulled.extend(pulled);
                journal::save(&self.config.state_dir, &self.journal)
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
            journal::save(&self.config.state_dir, &self.journal)
                .map_err(|e| Failure::Before(e.to_string()))?;
            self.report(release, "installing", None).await;
        }
        self.apply(target)
            .await
            .map_err(|e| Failure::After(e.to_string()))?;
        tokio::time::sleep(self.config.settle).await;
        let engine = self.engine().map_err(|e| Failure::After(e.to_string()))?;
        let observed = engine
            .observe()
            .await
            .map_err(|e| Failure::After(e.to_string()))?;
        for service in target.services.keys() {
            let mut running = false;
            for container in observed
                .iter()
                .filter(|c| &c.service == service && Some(c.release) == release)
            {
                running |= engine.settled(&container.id).await;
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
        &mut self,
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
        let engine = self.engine().map_err(|e| e.to_string())?;
        let code = engine
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
    async fn apply(&mut self, target: &TargetState) -> Result<(), AgentEngineError> {
        let release = target.release_id.unwrap_or_default();
        let state_dir = self.config.state_dir.clone();
        let engine = match self.engine() {
            Ok(engine) => engine,
            Err(AgentError::Engine(e)) => return Err(e),
            Err(_) => return Ok(()),
        };
        let observed = engine.observe().await?;
        for action in reconcile(&observed, target) {
            tracing::info!(?action, "applying");
            match action {
                Action::Remove { id, service } => {
                    engine.stop(&id).await;
                    failpoint::kill_here("agent-after-stop");
                    engine.remove(&id, &service).await?;
                }
                Action::Start { id, service } => {
                    engine.start(&id, &service).await?;
                    failpoint::kill_here("agent-after-start");
                }
                Action::Create { service } => {
                    if let Some(spec) = target.services.get(&service) {
                        let lock_dir = locks::dir(&state_dir, &service);
                        std::fs::create_dir_all(&lock_dir).map_err(|source| {
                            AgentEngineError::LockDir {
                                path: lock_dir.clone(),
                                source,
                            }
                        })?;
                        let id = engine.create(&service, release, spec, &lock_dir).await?;
                        failpoint::kill_here("agent-after-create");
                        engine.start(&id, &service).await?;
                        failpoint::kill_here("agent-after-start");
                    }
                }
            }
        }
        Ok(())
    }
}

enum FetchError {
    Unauthorized,
    Other(String),
}

fn rand_byte() -> u8 {
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    byte[0]
}
