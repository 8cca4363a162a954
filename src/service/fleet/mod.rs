//! The fleet in memory: every device (by uuid and by key hash), each app's
//! fleet target and rollouts. The device poll path reads only this (no
//! database row is touched; last-seen times are written in batches);
//! changes go to the store first, then here, then wake the app's
//! long-polling devices.

pub mod evaluate;
pub mod target_state;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, RwLock};

use tokio::sync::watch;

use crate::app::App;
use crate::device::Device;
use crate::rollout::resolve::{self, DeviceFacts, FleetTarget, Reason, Target};
use crate::rollout::throttle::Throttle;
use crate::rollout::Rollout;

pub use evaluate::run_ticker;
pub use target_state::{ReleaseState, StateError};

/// What the fleet knows of an app.
#[derive(Debug, Clone)]
pub struct AppFleet {
    pub target: Option<i64>,
    pub track_latest: bool,
    pub device_types: Vec<String>,
}

#[derive(Default)]
pub struct FleetData {
    pub devices: HashMap<String, Device>,
    /// Device key hash -> uuid.
    pub by_key: HashMap<String, String>,
    pub apps: HashMap<String, AppFleet>,
    /// Every rollout of each app, oldest first.
    pub rollouts: HashMap<String, Vec<Rollout>>,
    /// What changes on every request of a device, kept in atomics so the
    /// poll path needs only the read lock.
    pub seen: HashMap<String, DeviceRuntime>,
    /// Admissions of rate-limited rollouts (`max_per_minute`), by rollout id.
    pub throttles: Mutex<HashMap<i64, Throttle>>,
    /// Devices told to override their update locks for their next update
    /// (`POST /devices/UUID/update {"force": true}`), until they report
    /// running. Kept in memory: a restart of the service forgets it, and the
    /// operator says it again.
    pub forced: std::collections::HashSet<String>,
}

/// Requests a device may make in one second of the device API; more get
/// `429`. Per device key, never per address: fleets sit behind NAT.
pub const DEVICE_REQUESTS_PER_SECOND: u64 = 20;

#[derive(Default)]
pub struct DeviceRuntime {
    /// When it was last heard from (Unix ms, 0: never); written to the store in batches.
    seen: AtomicI64,
    /// The current second (high 32 bits) and its request count (low 32 bits).
    window: std::sync::atomic::AtomicU64,
}

impl FleetData {
    /// The release `device` should run, as shown to people: a device not
    /// yet admitted by a rate-limited rollout shows its previous target.
    pub fn target_of(&self, device: &Device) -> Target {
        self.resolve(device, None)
    }

    /// The release `device` should run, as told to the device: a
    /// rate-limited rollout admits it now if its minute has room.
    pub fn target_for_device(&self, device: &Device, now_ms: i64) -> Target {
        self.resolve(device, Some(now_ms))
    }

    fn resolve(&self, device: &Device, admit_at: Option<i64>) -> Target {
        let fleet = FleetTarget {
            release: self.apps.get(&device.app).and_then(|a| a.target),
        };
        let rollouts = self
            .rollouts
            .get(&device.app)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let facts = DeviceFacts {
            uuid: &device.uuid,
            tags: &device.tags,
            pin: device.pin_release,
            running: device.running_release(),
        };
        let target = resolve::target(&facts, fleet, rollouts);
        let Reason::Rollout { rollout: id } = target.reason else {
            return target;
        };
        let Some(rollout) = rollouts.iter().find(|r| r.id == id) else {
            return target;
        };
        let (Some(max), false) = (
            rollout.max_per_minute,
            device.report.release_id == Some(rollout.release_id),
        ) else {
            return target;
        };
        let mut throttles = self.throttles.lock().unwrap_or_else(|p| p.into_inner());
        let throttle = throttles.entry(id).or_default();
        let admitted = match admit_at {
            Some(now) => throttle.admit(max, &device.uuid, now),
            None => throttle.is_admitted(&device.uuid),
        };
        if admitted {
            return target;
        }
        let others: Vec<Rollout> = rollouts.iter().filter(|r| r.id != id).cloned().collect();
        resolve::target(&facts, fleet, &others)
    }

    /// Adds a device (or replaces it) in the index.
    pub fn insert_device(&mut self, device: Device, key_hash: String) {
        self.by_key.insert(key_hash, device.uuid.clone());
        self.seen.insert(
            device.uuid.clone(),
            DeviceRuntime {
                seen: AtomicI64::new(device.last_seen_ms.unwrap_or(0)),
                ..DeviceRuntime::default()
            },
        );
        self.devices.insert(device.uuid.clone(), device);
    }

    pub fn remove_device(&mut self, uuid: &str) {
        self.devices.remove(uuid);
        self.seen.remove(uuid);
        self.by_key.retain(|_, owner| owner != uuid);
    }

    /// Notes that `uuid` was heard from and counts the request against its
    /// rate; false when it is over [`DEVICE_REQUESTS_PER_SECOND`].
    pub fn admit(&self, uuid: &str, at_ms: i64) -> bool {
        let Some(runtime) = self.seen.get(uuid) else {
            return false;
        };
        runtime.seen.fetch_max(at_ms, Ordering::Relaxed);
        let second = (at_ms / 1000) as u64 & 0xffff_ffff;
        runtime
            .window
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |window| {
                let (current, count) = (window >> 32, window & 0xffff_ffff);
                if current != second {
                    Some(second << 32 | 1)
                } else if count < DEVICE_REQUESTS_PER_SECOND {
                    Some(window + 1)
                } else {
                    None
                }
            })
            .is_ok()
    }

    /// When `device` was last heard from.
    pub fn last_seen(&self, device: &Device) -> Option<i64> {
        self.seen
            .get(&device.uuid)
            .map(|s| s.seen.load(Ordering::Relaxed))
            .filter(|&t| t > 0)
            .or(device.last_seen_ms)
    }

    pub fn rollout(&self, id: i64) -> Option<&Rollout> {
        self.rollouts.values().flatten().find(|r| r.id == id)
    }

    pub fn rollout_mut(&mut self, id: i64) -> Option<&mut Rollout> {
        self.rollouts.values_mut().flatten().find(|r| r.id == id)
    }
}

#[derive(Default)]
pub struct Fleet {
    pub data: RwLock<FleetData>,
    /// Per app, a counter that moves whenever a target may have changed.
    changes: Mutex<HashMap<String, watch::Sender<u64>>>,
    /// Target states, by release and device type: built once, then shared.
    pub states: RwLock<HashMap<i64, HashMap<String, std::sync::Arc<ReleaseState>>>>,
}

impl Fleet {
    pub fn load(apps: Vec<App>, devices: Vec<(Device, String)>, rollouts: Vec<Rollout>) -> Fleet {
        let mut data = FleetData::default();
        for app in apps {
            data.apps.insert(
                app.name.clone(),
                AppFleet {
                    target: app.target_release,
                    track_latest: app.track_latest,
                    device_types: app.device_types,
                },
            );
        }
        for (device, key_hash) in devices {
            data.insert_device(device, key_hash);
        }
        for rollout in rollouts {
            data.rollouts
                .entry(rollout.app.clone())
                .or_default()
                .push(rollout);
        }
        Fleet {
            data: RwLock::new(data),
            ..Fleet::default()
        }
    }

    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, FleetData> {
        self.data.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn write(&self) -> std::sync::RwLockWriteGuard<'_, FleetData> {
        self.data.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Apps' targets and rollouts as the store has them now (another
    /// replica changed them); wakes every app's devices.
    pub fn refresh_apps(&self, apps: Vec<App>, rollouts: Vec<Rollout>) {
        let names: Vec<String> = {
            let mut data = self.write();
            data.apps = apps
                .into_iter()
                .map(|app| {
                    (
                        app.name,
                        AppFleet {
                            target: app.target_release,
                            track_latest: app.track_latest,
                            device_types: app.device_types,
                        },
                    )
                })
                .collect();
            data.rollouts.clear();
            for rollout in rollouts {
                data.rollouts
                    .entry(rollout.app.clone())
                    .or_default()
                    .push(rollout);
            }
            data.apps.keys().cloned().collect()
        };
        for app in names {
            self.changed(&app);
        }
    }

    /// One device as the store has it now (`None`: deleted); keeps what
    /// this replica counts of its requests. Wakes its app's devices.
    pub fn refresh_device(&self, uuid: &str, stored: Option<(Device, String)>) {
        let app = {
            let mut data = self.write();
            match stored {
                Some((device, key_hash)) => {
                    let app = device.app.clone();
                    if data.devices.contains_key(uuid) {
                        data.by_key.retain(|_, owner| owner != uuid);
                        data.by_key.insert(key_hash, uuid.to_string());
                        data.devices.insert(uuid.to_string(), device);
                    } else {
                        data.insert_device(device, key_hash);
                    }
                    Some(app)
                }
                None => {
                    let app = data.devices.get(uuid).map(|d| d.app.clone());
                    data.remove_device(uuid);
                    app
                }
            }
        };
        if let Some(app) = app {
            self.changed(&app);
        }
    }

    /// Wakes the app's long-polling devices: their targets may have moved.
    pub fn changed(&self, app: &str) {
        let changes = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sender) = changes.get(app) {
            sender.send_modify(|n| *n += 1);
        }
    }

    /// A receiver that sees the app's next change.
    pub fn watch(&self, app: &str) -> watch::Receiver<u64> {
        let mut changes = self.changes.lock().unwrap_or_else(|p| p.into_inner());
        changes
            .entry(app.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Last-seen times that moved since `written` (which is updated).
    pub fn take_seen(&self, written: &mut HashMap<String, i64>) -> Vec<(String, i64)> {
        let data = self.read();
        let mut moved = Vec::new();
        for (uuid, runtime) in &data.seen {
            let at = runtime.seen.load(Ordering::Relaxed);
            let before = written.get(uuid).copied().unwrap_or(0);
            if at > before {
                written.insert(uuid.clone(), at);
                moved.push((uuid.clone(), at));
            }
        }
        moved
    }
}
