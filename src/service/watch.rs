//! Streams a release's build to one watcher as response body lines: what
//! happened so far, then live, then its end. A task of its own renders them,
//! so a slow or vanished watcher never holds up the build; a line is sent
//! at least every few seconds, so proxies and clients do not time out.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use super::hub::Update;
use super::state::State;

/// Silence after which a keepalive goes out (the promise is 5 s).
pub const KEEPALIVE: Duration = Duration::from_secs(4);

/// How updates become lines for one kind of watcher.
pub trait Renderer: Send + 'static {
    /// Lines for an update (each with its newline), or nothing.
    fn render(&mut self, update: &Update) -> Vec<String>;
    /// What to send when nothing happened for a while.
    fn keepalive(&self) -> String;
    /// When the watcher fell behind and missed `n` events.
    fn missed(&self, n: u64) -> String;
}

/// A streaming body following `release` until it is closed.
pub fn follow(state: Arc<State>, release: i64, mut renderer: impl Renderer) -> Body {
    let (lines, received) = mpsc::channel::<Bytes>(256);
    tokio::spawn(async move {
        let send = |text: String| {
            let lines = lines.clone();
            async move { lines.send(Bytes::from(text)).await.is_ok() }
        };
        let Some(hub) = state.hubs.get(release) else {
            if state.shared {
                // Perhaps building on another replica: through the store.
                super::stored_log::follow(&state, release, &mut renderer, &lines).await;
                return;
            }
            // Not building here: closed already (or never known).
            let done = state
                .store
                .call(move |s| Ok((s.get(release)?, s.images(release)?)))
                .await;
            if let Ok(done) = done {
                for line in renderer.render(&Update::Done(Box::new(done))) {
                    send(line).await;
                }
            }
            return;
        };
        let (history, dropped, mut live) = hub.watch();
        drop(hub);
        if dropped && !send(renderer.missed(0)).await {
            return;
        }
        for update in history {
            let last = matches!(update, Update::Done(_));
            for line in renderer.render(&update) {
                if !send(line).await {
                    return;
                }
            }
            if last {
                return;
            }
        }
        let mut quiet_until = Instant::now() + KEEPALIVE;
        loop {
            tokio::select! {
                update = live.recv() => {
                    let update = match update {
                        Ok(update) => update,
                        Err(broadcast::error::RecvError::Lagged(n)) => {
                            if !send(renderer.missed(n)).await { return; }
                            continue;
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    };
                    let last = matches!(update, Update::Done(_));
                    for line in renderer.render(&update) {
                        if !send(line).await { return; }
                    }
                    if last { return; }
                    quiet_until = Instant::now() + KEEPALIVE;
                }
                _ = tokio::time::sleep_until(quiet_until) => {
                    if !send(renderer.keepalive()).await { return; }
                    quiet_until = Instant::now() + KEEPALIVE;
                }
            }
        }
    });
    Body::from_stream(futures_util::stream::unfold(
        received,
        |mut received| async move {
            received
                .recv()
                .await
                .map(|line| (Ok::<_, Infallible>(line), received))
        },
    ))
}

/// `slipway build --json`'s schema: one event per line, the summary last.
pub struct Ndjson;

impl Renderer for Ndjson {
    fn render(&mut self, update: &Update) -> Vec<String> {
        let value = match update {
            Update::Event(event) => serde_json::to_value(event).unwrap_or_default(),
            Update::Done(done) => crate::release::summary::summary_json(&done.0, &done.1),
        };
        vec![format!("{value}\n")]
    }

    fn keepalive(&self) -> String {
        // An empty line: NDJSON readers skip it.
        "\n".into()
    }

    fn missed(&self, n: u64) -> String {
        format!(
            "{}\n",
            serde_json::json!({"kind": "log", "message": format!("(missed {n} events: see the release's logs)")})
        )
    }
}

/// Plain text, for `logs?follow=true`.
pub struct Text;

impl Renderer for Text {
    fn render(&mut self, update: &Update) -> Vec<String> {
        match update {
            Update::Event(event) => super::render::line(event)
                .map(|line| vec![format!("{line}\n")])
                .unwrap_or_default(),
            Update::Done(done) => vec![format!(
                "release {} {}{}\n",
                done.0.id,
                done.0.status,
                done.0
                    .error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            )],
        }
    }

    fn keepalive(&self) -> String {
        "\n".into()
    }

    fn missed(&self, n: u64) -> String {
        format!("(missed {n} lines)\n")
    }
}
