//! The fleet in memory: every device (by uuid and by key hash), each app's
//! fleet target and rollouts. The device poll path reads only this (no
//! database row is touched; last-seen times are written in batches);
//! changes go to the store first, then here, then wake the app's
//! long-polling devices.

pub mod evaluate;
pub mod target_state;

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

use tokio::sync::watch;

use crate::app::App;
use crate::device::Device;
use crate::rollout::resolve::{self, DeviceFacts, FleetTarget, Target};
use crate::rollout::Rollout;
use crate::store::StoreError;

pub use evaluate::{progress_of, run_ticker};
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
}

impl FleetData {
    /// The release `device` should run.
    pub fn target_of(&self, device: &Device) -> Target {
        let fleet = FleetTarget {
            release: self.apps.get(&device.app).and_then(|a| a.target),
        };
        let rollouts = self
            .rollouts
            .get(&device.app)
            .map(Vec::as_slice)
            .unwrap_or_default();
        resolve::target(
            &DeviceFacts {
                uuid: &device.uuid,
                tags: &device.tags,
                pin: device.pin_release,
                running: device.running_release(),
            },
            fleet,
            rollouts,
        )
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
    /// Target states, by (release, device type): built once, then shared.
    pub states: Mutex<HashMap<(i64, String), std::sync::Arc<ReleaseState>>>,
    /// Last-seen times not yet written.
    seen: Mutex<HashMap<String, i64>>,
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
            data.by_key.insert(key_hash, device.uuid.clone());
            data.devices.insert(device.uuid.clone(), device);
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

    pub fn mark_seen(&self, uuid: &str, at_ms: i64) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.insert(uuid.to_string(), at_ms);
    }

    /// The last-seen times gathered since the last call.
    pub fn take_seen(&self) -> Vec<(String, i64)> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let taken: Vec<(String, i64)> = seen.drain().collect();
        if !taken.is_empty() {
            let mut data = self.write();
            for (uuid, at) in &taken {
                if let Some(device) = data.devices.get_mut(uuid) {
                    device.last_seen_ms = Some(*at);
                }
            }
        }
        taken
    }

    /// The last time `uuid` was seen, counting what is not written yet.
    pub fn last_seen(&self, device: &Device) -> Option<i64> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(&device.uuid).copied().or(device.last_seen_ms)
    }
}

/// Store errors in fleet operations keep their source.
pub type FleetResult<T> = Result<T, StoreError>;
