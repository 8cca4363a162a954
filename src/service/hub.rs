//! The live side of a release: every event of its build, fanned out to
//! whoever watches (a `git push`, an upload, `logs?follow=true`).
//!
//! The build never waits for a watcher: events go to a broadcast channel,
//! and a watcher that falls too far behind is told it missed some. A
//! watcher that joins late first gets the events so far (bounded).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::pipeline::BuildEvent;
use crate::release::{ImageRecord, Release};

/// Events kept for late watchers; older ones are in the stored logs.
const HISTORY: usize = 4096;
/// Events a watcher may lag behind before it misses some.
const CHANNEL: usize = 4096;

#[derive(Debug, Clone)]
pub enum Update {
    Event(BuildEvent),
    /// The release is closed: the last update.
    Done(Box<(Release, Vec<ImageRecord>)>),
}

pub struct Hub {
    history: Mutex<(VecDeque<Update>, bool)>,
    sender: broadcast::Sender<Update>,
}

impl Hub {
    fn new() -> Hub {
        Hub {
            history: Mutex::new((VecDeque::new(), false)),
            sender: broadcast::channel(CHANNEL).0,
        }
    }

    pub fn publish(&self, update: Update) {
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        if history.0.len() == HISTORY {
            history.0.pop_front();
            history.1 = true;
        }
        history.0.push_back(update.clone());
        // No receiver is fine: nobody is watching.
        let _ = self.sender.send(update);
    }

    /// The updates so far (and whether older ones were dropped), then the live ones.
    pub fn watch(&self) -> (Vec<Update>, bool, broadcast::Receiver<Update>) {
        let history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        let receiver = self.sender.subscribe();
        (history.0.iter().cloned().collect(), history.1, receiver)
    }
}

/// The hubs of releases that are queued or building.
#[derive(Default)]
pub struct Hubs {
    hubs: Mutex<HashMap<i64, Arc<Hub>>>,
}

impl Hubs {
    pub fn open(&self, release: i64) -> Arc<Hub> {
        let mut hubs = self.hubs.lock().unwrap_or_else(|p| p.into_inner());
        hubs.entry(release)
            .or_insert_with(|| Arc::new(Hub::new()))
            .clone()
    }

    pub fn get(&self, release: i64) -> Option<Arc<Hub>> {
        let hubs = self.hubs.lock().unwrap_or_else(|p| p.into_inner());
        hubs.get(&release).cloned()
    }

    /// Publishes the last update and forgets the hub.
    pub fn close(&self, release: i64, done: Update) {
        let hub = {
            let mut hubs = self.hubs.lock().unwrap_or_else(|p| p.into_inner());
            hubs.remove(&release)
        };
        if let Some(hub) = hub {
            hub.publish(done);
        }
    }
}
