//! Build events through the store, for replicas that share one database:
//! the builder appends every event of a build (numbered, in batches) and
//! an end marker after the release is closed; a watcher on any replica
//! reads them after the last number it has seen (woken by the database's
//! NOTIFY, else every second), so no line is lost or shown twice.

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::hub::Update;
use super::state::State;
use super::watch::{Renderer, KEEPALIVE};
use crate::pipeline::BuildEvent;
use crate::release::now_ms;
use crate::store::{SharedStore, END_OF_BUILD};

/// Events written in one statement at most.
const BATCH: usize = 256;
/// Events read in one query at most.
const READ: u32 = 512;
/// How often a watcher looks without being woken.
const POLL: Duration = Duration::from_secs(1);
/// A closed release with no end marker (its builder died between closing
/// it and writing the marker) is taken as ended after this.
const NO_MARKER_GRACE_MS: i64 = 10_000;

/// The writing side, owned by the build.
pub struct StoredLog {
    sender: mpsc::UnboundedSender<String>,
    task: JoinHandle<()>,
}

impl StoredLog {
    pub fn start(store: SharedStore, release: i64) -> StoredLog {
        let (sender, mut received) = mpsc::unbounded_channel::<String>();
        let task = tokio::spawn(async move {
            let mut next_seq = 1i64;
            let mut batch = Vec::new();
            loop {
                let Some(first) = received.recv().await else {
                    break;
                };
                batch.push(first);
                while batch.len() < BATCH {
                    match received.try_recv() {
                        Ok(more) => batch.push(more),
                        Err(_) => break,
                    }
                }
                let events = std::mem::take(&mut batch);
                let count = events.len() as i64;
                let first_seq = next_seq;
                let written = store
                    .call(move |s| s.append_build_events(release, first_seq, &events))
                    .await;
                if let Err(error) = written {
                    tracing::error!(%error, release, "could not store build events");
                }
                next_seq += count;
            }
            let end = vec![END_OF_BUILD.to_string()];
            let written = store
                .call(move |s| s.append_build_events(release, next_seq, &end))
                .await;
            if let Err(error) = written {
                tracing::error!(%error, release, "could not store the end of the build");
            }
        });
        StoredLog { sender, task }
    }

    pub fn push(&self, event: &BuildEvent) {
        if let Ok(text) = serde_json::to_string(event) {
            // The writer outlives every sender: this cannot fail before `finish`.
            let _ = self.sender.send(text);
        }
    }

    /// Writes what is left and the end marker. Call after the release is closed.
    pub async fn finish(self) {
        drop(self.sender);
        let _ = self.task.await;
    }
}

/// Follows `release` through the store until its end marker, rendering
/// for one watcher. Returns when the watcher is gone or the build ended.
pub async fn follow(
    state: &State,
    release: i64,
    renderer: &mut impl Renderer,
    lines: &mpsc::Sender<Bytes>,
) {
    let send = |text: String| {
        let lines = lines.clone();
        async move { lines.send(Bytes::from(text)).await.is_ok() }
    };
    let mut wake = state.log_wake.subscribe();
    let mut after = 0i64;
    let mut quiet_until = Instant::now() + KEEPALIVE;
    loop {
        let read = state
            .store
            .call(move |s| s.build_events(release, after, READ))
            .await;
        let events = match read {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(%error, release, "reading stored build events");
                Vec::new()
            }
        };
        let full = events.len() == READ as usize;
        let mut ended = false;
        for (seq, text) in events {
            after = seq;
            if text == END_OF_BUILD {
                ended = true;
                break;
            }
            let Ok(event) = serde_json::from_str::<BuildEvent>(&text) else {
                continue;
            };
            for line in renderer.render(&Update::Event(event)) {
                if !send(line).await {
                    return;
                }
            }
            quiet_until = Instant::now() + KEEPALIVE;
        }
        if !ended && !full {
            ended = closed_without_marker(state, release).await;
        }
        if ended {
            let done = state
                .store
                .call(move |s| Ok((s.get(release)?, s.images(release)?)))
                .await;
            if let Ok(done) = done {
                for line in renderer.render(&Update::Done(Box::new(done))) {
                    if !send(line).await {
                        return;
                    }
                }
            }
            return;
        }
        if full {
            continue;
        }
        // Until this release has news (or the poll interval passes): other
        // releases' news only wakes the wait, not a query.
        let deadline = (Instant::now() + POLL).min(quiet_until);
        loop {
            tokio::select! {
                woken = wake.recv() => match woken {
                    Ok(id) if id != release => continue,
                    // Ours, or lagged (something may be ours): look.
                    _ => break,
                },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        if Instant::now() >= quiet_until {
            if !send(renderer.keepalive()).await {
                return;
            }
            quiet_until = Instant::now() + KEEPALIVE;
        }
    }
}

/// True when the release is closed and its end marker is not coming:
/// never built (cancelled while queued) or closed long ago.
async fn closed_without_marker(state: &State, release: i64) -> bool {
    let found = state.store.call(move |s| s.get(release)).await;
    match found {
        Ok(found) if found.status.is_open() => false,
        Ok(found) => found
            .ended_at_ms
            .is_none_or(|ended| now_ms() - ended > NO_MARKER_GRACE_MS),
        // Gone (or unreadable): nothing more will come.
        Err(_) => true,
    }
}
