//! A simulated device for the fleet simulator (and the agent's own unit
//! tests): an engine that keeps containers and images in memory, a network
//! link that can go down, power that can be cut after any engine step, a
//! clock that runs faster, a journal that survives the power cut. The
//! agent's state machine ([`super::run::Agent`]) runs on it unchanged.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::engine::AgentEngineError;
use super::journal::{Journal, JournalError};
use super::plan::Observed;
use super::ports::{Clock, DeviceEngine, FetchError, Fetched, JournalStore, Upstream};
use super::target::ServiceSpec;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A clock `scale` times faster than the real one.
#[derive(Debug, Clone)]
pub struct ScaledClock {
    start: tokio::time::Instant,
    scale: u32,
}

impl ScaledClock {
    pub fn new(scale: u32) -> ScaledClock {
        ScaledClock {
            start: tokio::time::Instant::now(),
            scale: scale.max(1),
        }
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Duration {
        self.start.elapsed() * self.scale
    }

    fn sleep(&self, duration: Duration) -> impl std::future::Future<Output = ()> + Send {
        tokio::time::sleep(duration / self.scale)
    }
}

/// A device's network link (to the server and the registry alike).
#[derive(Debug)]
pub struct SimLink {
    up: tokio::sync::watch::Sender<bool>,
}

impl Default for SimLink {
    fn default() -> Self {
        SimLink {
            up: tokio::sync::watch::Sender::new(true),
        }
    }
}

impl SimLink {
    pub fn is_up(&self) -> bool {
        *self.up.borrow()
    }

    pub fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }

    /// Resolves when the link is (or goes) down.
    async fn down(&self) {
        let mut watched = self.up.subscribe();
        let _ = watched.wait_for(|up| !up).await;
    }
}

/// An upstream reached over a [`SimLink`]: nothing gets through while the
/// link is down, and a long poll in flight breaks when it goes down.
#[derive(Clone)]
pub struct LinkedUpstream<U, C> {
    pub inner: U,
    pub link: Arc<SimLink>,
    pub clock: C,
}

impl<U: Upstream, C: Clock> Upstream for LinkedUpstream<U, C> {
    async fn fetch(&self, etag: Option<&str>, wait: u64) -> Result<Option<Fetched>, FetchError> {
        if !self.link.is_up() {
            // A connect timeout's worth of waiting.
            self.clock.sleep(Duration::from_secs(3)).await;
            return Err(FetchError::Unavailable("the network is down".into()));
        }
        tokio::select! {
            fetched = self.inner.fetch(etag, wait) => fetched,
            _ = self.link.down() => Err(FetchError::Unavailable("the connection was lost".into())),
        }
    }

    async fn report(&self, body: &Value) -> Result<(), String> {
        if !self.link.is_up() {
            return Err("the network is down".into());
        }
        self.inner.report(body).await
    }
}

#[derive(Debug, Clone)]
struct SimContainer {
    service: String,
    release: i64,
    image: String,
    running: bool,
}

/// What a simulated engine holds; shared by clones (the device's engine
/// outlives each agent that a power cut ends).
struct SimEngineState {
    containers: Mutex<BTreeMap<String, SimContainer>>,
    images: Mutex<BTreeSet<String>>,
    next_id: AtomicU64,
    /// Containers of this release exit right after they start.
    bad_release: Mutex<Option<i64>>,
    /// A power cut due after this many more engine steps.
    cut: Mutex<Option<u32>>,
    /// Cancelled when the power goes (a fresh one after each cut).
    power: Mutex<CancellationToken>,
    steps: AtomicU64,
    /// Every release a container was ever created for.
    created: Mutex<BTreeSet<i64>>,
}

#[derive(Clone)]
pub struct SimEngine<C> {
    state: Arc<SimEngineState>,
    link: Arc<SimLink>,
    clock: C,
    /// How long one image takes to download.
    pull_time: Duration,
}

impl<C: Clock + Clone> SimEngine<C> {
    pub fn new(link: Arc<SimLink>, clock: C, pull_time: Duration) -> SimEngine<C> {
        SimEngine {
            state: Arc::new(SimEngineState {
                containers: Mutex::default(),
                images: Mutex::default(),
                next_id: AtomicU64::new(1),
                bad_release: Mutex::default(),
                cut: Mutex::default(),
                power: Mutex::default(),
                steps: AtomicU64::new(0),
                created: Mutex::default(),
            }),
            link,
            clock,
            pull_time,
        }
    }

    /// Containers of `release` will exit right after they start.
    pub fn fail_release(&self, release: Option<i64>) {
        *lock(&self.state.bad_release) = release;
    }

    /// Cuts the power after `steps` more engine steps (pull, stop, remove,
    /// create, start): [`SimEngine::power`] is cancelled then, and the
    /// step's caller never hears back, like a device losing power.
    pub fn arm_power_cut(&self, steps: u32) {
        *lock(&self.state.cut) = Some(steps.max(1));
    }

    /// Cancelled when the power goes; the agent started after a cut gets a
    /// fresh one.
    pub fn power(&self) -> CancellationToken {
        lock(&self.state.power).clone()
    }

    /// Engine steps taken so far.
    pub fn steps(&self) -> u64 {
        self.state.steps.load(Ordering::Relaxed)
    }

    /// `(service, release, running)` of every container, sorted.
    pub fn containers(&self) -> Vec<(String, i64, bool)> {
        let mut all: Vec<_> = lock(&self.state.containers)
            .values()
            .map(|c| (c.service.clone(), c.release, c.running))
            .collect();
        all.sort();
        all
    }

    /// Whether a container of `release` was ever created here.
    pub fn ever_created(&self, release: i64) -> bool {
        lock(&self.state.created).contains(&release)
    }

    /// Counts a step; when the power cut is due, it happens now.
    async fn step(&self) {
        self.state.steps.fetch_add(1, Ordering::Relaxed);
        let due = {
            let mut cut = lock(&self.state.cut);
            match cut.as_mut() {
                Some(left) if *left <= 1 => {
                    *cut = None;
                    true
                }
                Some(left) => {
                    *left -= 1;
                    false
                }
                None => false,
            }
        };
        if due {
            let power = std::mem::take(&mut *lock(&self.state.power));
            power.cancel();
            std::future::pending::<()>().await;
        }
    }

    fn refused(what: &'static str, service: &str, reason: &'static str) -> AgentEngineError {
        AgentEngineError::Simulated {
            what,
            service: service.to_string(),
            reason,
        }
    }
}

impl<C: Clock + Clone> DeviceEngine for SimEngine<C> {
    fn set_device(&mut self, _uuid: &str) {}

    async fn observe(&self) -> Result<Vec<Observed>, AgentEngineError> {
        Ok(lock(&self.state.containers)
            .iter()
            .map(|(id, c)| Observed {
                id: id.clone(),
                service: c.service.clone(),
                release: c.release,
                running: c.running,
            })
            .collect())
    }

    async fn has_image(&self, image: &str) -> bool {
        lock(&self.state.images).contains(image)
    }

    async fn free_bytes(&self) -> Option<(u64, String)> {
        None
    }

    async fn pull(&self, image: &str) -> Result<bool, AgentEngineError> {
        if lock(&self.state.images).contains(image) {
            return Ok(false);
        }
        let failed = || AgentEngineError::Pull {
            image: image.to_string(),
            message: "the registry is unreachable (simulated network loss)".into(),
        };
        if !self.link.is_up() {
            return Err(failed());
        }
        tokio::select! {
            _ = self.clock.sleep(self.pull_time) => {}
            _ = self.link.down() => return Err(failed()),
        }
        lock(&self.state.images).insert(image.to_string());
        self.step().await;
        Ok(true)
    }

    async fn remove_image(&self, image: &str) -> bool {
        let used = lock(&self.state.containers)
            .values()
            .any(|c| c.image == image);
        !used && {
            lock(&self.state.images).remove(image);
            true
        }
    }

    async fn create(
        &self,
        service: &str,
        release: i64,
        spec: &ServiceSpec,
        _lock_dir: &Path,
        _preloaded: Option<&str>,
    ) -> Result<String, AgentEngineError> {
        if !lock(&self.state.images).contains(&spec.image) {
            return Err(Self::refused(
                "creating its container",
                service,
                "no such image",
            ));
        }
        let id = format!("c{}", self.state.next_id.fetch_add(1, Ordering::Relaxed));
        lock(&self.state.created).insert(release);
        lock(&self.state.containers).insert(
            id.clone(),
            SimContainer {
                service: service.to_string(),
                release,
                image: spec.image.clone(),
                running: false,
            },
        );
        self.step().await;
        Ok(id)
    }

    async fn start(&self, id: &str, service: &str) -> Result<(), AgentEngineError> {
        match lock(&self.state.containers).get_mut(id) {
            Some(container) => container.running = true,
            None => {
                return Err(Self::refused(
                    "starting its container",
                    service,
                    "no such container",
                ))
            }
        }
        self.step().await;
        Ok(())
    }

    async fn stop(&self, id: &str) {
        if let Some(container) = lock(&self.state.containers).get_mut(id) {
            container.running = false;
        }
        self.step().await;
    }

    async fn remove(&self, id: &str, _service: &str) -> Result<(), AgentEngineError> {
        lock(&self.state.containers).remove(id);
        self.step().await;
        Ok(())
    }

    async fn settled(&self, id: &str) -> bool {
        let bad = *lock(&self.state.bad_release);
        lock(&self.state.containers)
            .get(id)
            .is_some_and(|c| c.running && Some(c.release) != bad)
    }

    async fn run_once(
        &self,
        _image: &str,
        _command: &[String],
        _service: &str,
    ) -> Result<i64, AgentEngineError> {
        Ok(0)
    }
}

/// A journal kept in memory: what was saved survives a simulated power cut.
#[derive(Debug, Clone, Default)]
pub struct MemoryJournal {
    saved: Arc<Mutex<Journal>>,
}

impl MemoryJournal {
    pub fn snapshot(&self) -> Journal {
        lock(&self.saved).clone()
    }
}

impl JournalStore for MemoryJournal {
    fn load(&self) -> Result<Journal, JournalError> {
        Ok(self.snapshot())
    }

    fn save(&self, journal: &Journal) -> Result<(), JournalError> {
        *lock(&self.saved) = journal.clone();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::local::LocalUpstream;
    use crate::agent::run::{Agent, AgentConfig};
    use crate::agent::target::TargetState;

    const SCALE: u32 = 1000;

    fn release(id: i64, services: &[&str]) -> TargetState {
        TargetState {
            release_id: Some(id),
            services: services
                .iter()
                .map(|s| {
                    (
                        s.to_string(),
                        ServiceSpec {
                            image: format!("reg/app/{s}@sha256:{id:064}"),
                            command: None,
                            environment: Default::default(),
                            size_bytes: None,
                        },
                    )
                })
                .collect(),
            hooks: Default::default(),
        }
    }

    fn config() -> AgentConfig {
        AgentConfig {
            state_dir: "/nonexistent/slipway-sim".into(),
            poll_seconds: 1,
            settle: Duration::from_secs(5),
            lock_timeout: Duration::from_secs(600),
            reserve_disk_bytes: 0,
        }
    }

    struct Device {
        engine: SimEngine<ScaledClock>,
        upstream: LocalUpstream,
        journal: MemoryJournal,
        clock: ScaledClock,
    }

    impl Device {
        fn new() -> Device {
            Device::with_pull_time(Duration::from_secs(2))
        }

        fn with_pull_time(pull_time: Duration) -> Device {
            let clock = ScaledClock::new(SCALE);
            Device {
                engine: SimEngine::new(Arc::default(), clock.clone(), pull_time),
                upstream: LocalUpstream::default(),
                journal: MemoryJournal::default(),
                clock,
            }
        }

        /// Runs the agent until `done` holds, restarting it after each
        /// power cut; how many cuts happened.
        async fn run_until(&self, done: impl Fn(&Device) -> bool) -> u32 {
            self.run_until_with(self.upstream.clone(), done).await
        }

        /// Like `run_until`, the agent talking to `upstream`. Returning
        /// drops the agent wherever it is: a power cut, as far as it knows.
        async fn run_until_with(
            &self,
            upstream: impl Upstream + Clone,
            done: impl Fn(&Device) -> bool,
        ) -> u32 {
            let mut cuts = 0;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            loop {
                let stop = CancellationToken::new();
                let mut agent = Agent::new(
                    config(),
                    self.engine.clone(),
                    upstream.clone(),
                    self.clock.clone(),
                    self.journal.clone(),
                )
                .unwrap();
                let cut = self.engine.power();
                let watch = async {
                    while !done(self) {
                        assert!(
                            tokio::time::Instant::now() < deadline,
                            "no convergence: {:?}",
                            self.engine.containers()
                        );
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                };
                tokio::select! {
                    _ = agent.run(stop.clone()) => panic!("the agent stopped"),
                    _ = cut.cancelled() => { cuts += 1; continue; }
                    _ = watch => return cuts,
                }
            }
        }

        fn runs(&self, target: &TargetState) -> bool {
            let journal = self.journal.snapshot();
            let expected: Vec<_> = target
                .services
                .keys()
                .map(|s| (s.clone(), target.release_id.unwrap(), true))
                .collect();
            journal.current.as_ref() == Some(target)
                && journal.switching_to.is_none()
                && self.engine.containers() == expected
        }
    }

    #[tokio::test]
    async fn converges_after_a_power_cut_at_every_step_of_an_update() {
        let first = release(1, &["api", "web"]);
        let second = release(2, &["api", "web", "worker"]);
        // Count the steps of a whole update first.
        let counted = Device::new();
        counted.upstream.set_target(&first);
        counted.run_until(|d| d.runs(&first)).await;
        let before = counted.engine.steps();
        counted.upstream.set_target(&second);
        counted.run_until(|d| d.runs(&second)).await;
        let steps = (counted.engine.steps() - before) as u32;
        assert!(steps >= 8, "an update of 3 services takes {steps} steps");

        for cut_at in 1..=steps {
            let device = Device::new();
            device.upstream.set_target(&first);
            device.run_until(|d| d.runs(&first)).await;
            device.upstream.set_target(&second);
            device.engine.arm_power_cut(cut_at);
            let cuts = device.run_until(|d| d.runs(&second)).await;
            assert_eq!(cuts, 1, "power cut after step {cut_at}");
        }
    }

    #[tokio::test]
    async fn a_release_that_does_not_settle_is_rolled_back_and_reported_failed() {
        let first = release(1, &["api"]);
        let bad = release(2, &["api"]);
        let device = Device::new();
        device.upstream.set_target(&first);
        device.run_until(|d| d.runs(&first)).await;
        device.engine.fail_release(Some(2));
        device.upstream.set_target(&bad);
        device
            .run_until(|d| d.journal.snapshot().failed == Some(2))
            .await;
        assert!(device.runs(&first), "{:?}", device.engine.containers());
        let report = device.upstream.last_report().unwrap();
        assert_eq!(report["update_status"], "failed");
        assert_eq!(report["release_id"], 2);
        assert!(report["error"]
            .as_str()
            .unwrap()
            .contains("did not keep running"));
    }

    #[tokio::test]
    async fn a_download_cut_by_network_loss_is_retried_not_failed() {
        let first = release(1, &["api"]);
        let second = release(2, &["api"]);
        let device = Device::new();
        let link = device.engine.link.clone();
        device.upstream.set_target(&first);
        device.run_until(|d| d.runs(&first)).await;
        device.upstream.set_target(&second);
        link.set_up(false);
        let flap = {
            let link = link.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                link.set_up(true);
            })
        };
        device.run_until(|d| d.runs(&second)).await;
        flap.await.unwrap();
        assert_eq!(device.journal.snapshot().failed, None);
    }

    #[tokio::test]
    async fn a_newer_target_during_the_download_wins() {
        let first = release(1, &["api"]);
        let second = release(2, &["api"]);
        let third = release(3, &["api"]);
        // A download of 200 simulated seconds (0.2 s).
        let device = Device::with_pull_time(Duration::from_secs(200));
        device.upstream.set_target(&first);
        device.run_until(|d| d.runs(&first)).await;
        device.upstream.set_target(&second);
        let upstream = device.upstream.clone();
        let newer = third.clone();
        tokio::spawn(async move {
            // Once the download of release 2 has begun.
            while upstream
                .last_report()
                .is_none_or(|r| r["update_status"] != "downloading" || r["release_id"] != 2)
            {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            upstream.set_target(&newer);
        });
        device.run_until(|d| d.runs(&third)).await;
        assert!(
            !device.engine.ever_created(2),
            "release 2 was installed first"
        );
    }

    /// An upstream that takes no report: each one is lost on the way.
    #[derive(Clone)]
    struct ReportsLost(LocalUpstream);

    impl Upstream for ReportsLost {
        async fn fetch(
            &self,
            etag: Option<&str>,
            wait: u64,
        ) -> Result<Option<Fetched>, FetchError> {
            self.0.fetch(etag, wait).await
        }

        async fn report(&self, _body: &Value) -> Result<(), String> {
            Err("the link dropped".into())
        }
    }

    #[tokio::test]
    async fn a_report_lost_before_a_power_cut_reaches_the_server_after_it() {
        let first = release(1, &["api"]);
        let second = release(2, &["api"]);
        let device = Device::new();
        device.upstream.set_target(&first);
        device.run_until(|d| d.runs(&first)).await;
        device.upstream.set_target(&second);
        // The update goes through, no report gets out, then the power goes.
        device
            .run_until_with(ReportsLost(device.upstream.clone()), |d| d.runs(&second))
            .await;
        let told = device.upstream.last_report().unwrap();
        assert_eq!(told["release_id"], 1, "{told}");
        // Powered again, already on its target: the server still hears of it.
        device
            .run_until(|d| {
                d.upstream
                    .last_report()
                    .is_some_and(|r| r["release_id"] == 2 && r["update_status"] == "running")
            })
            .await;
    }
}
