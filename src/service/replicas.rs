//! What keeps replicas that share one PostgreSQL database in step:
//!
//! - a `LISTEN` connection turns the store's announcements into local
//!   wake-ups: a queued release wakes this builder, new build events wake
//!   this replica's watchers, a changed app, rollout or device is reloaded
//!   into this replica's fleet index (so device polls stay memory-only);
//! - a builder renews the leases of the builds it runs;
//! - every replica closes builds whose lease ran out (their builder died);
//! - `/healthz` follows a background check of the database.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use super::state::State;
use crate::store::postgres::{Change, CHANNEL};
use crate::store::Database;

/// How often the database is checked for `/healthz`.
const HEALTH_EVERY: Duration = Duration::from_secs(1);
/// How often expired leases are looked for.
const REAP_EVERY: Duration = Duration::from_secs(2);
/// Wait before connecting again after the LISTEN connection broke.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// This process's name in build leases: unique among replicas.
pub fn owner_name(listen: SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    let nonce = crate::access::new_token()
        .map(|t| t.chars().take(8).collect::<String>())
        .unwrap_or_default();
    format!("{host}:{}:{}:{nonce}", listen.port(), std::process::id())
}

pub fn start(state: Arc<State>) {
    tokio::spawn(check_health(state.clone()));
    if !state.shared {
        return;
    }
    if let Database::Postgres(url) = &state.config.database {
        tokio::spawn(listen(state.clone(), url.clone()));
    }
    tokio::spawn(reap(state.clone()));
    if state.config.role.builds() {
        tokio::spawn(renew_leases(state));
    }
}

async fn check_health(state: Arc<State>) {
    let mut was = true;
    loop {
        let answered =
            tokio::time::timeout(HEALTH_EVERY * 3, state.store.call(|store| store.ping())).await;
        let healthy = matches!(answered, Ok(Ok(())));
        if healthy != was {
            if healthy {
                tracing::info!("the database answers again");
            } else {
                tracing::error!("the database does not answer");
            }
            was = healthy;
        }
        state.healthy.store(healthy, Ordering::Relaxed);
        tokio::time::sleep(HEALTH_EVERY).await;
    }
}

async fn renew_leases(state: Arc<State>) {
    let every = Duration::from_millis((state.config.lease_ms / 3).max(500) as u64);
    loop {
        tokio::time::sleep(every).await;
        let running: Vec<i64> = state
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect();
        if running.is_empty() {
            continue;
        }
        match state
            .store
            .call(move |store| store.renew_leases(&running))
            .await
        {
            // Asked through another replica (its NOTIFY may have been missed).
            Ok(cancelled) => cancelled.into_iter().for_each(|id| cancel_here(&state, id)),
            Err(error) => tracing::error!(%error, "could not renew build leases"),
        }
    }
}

/// Stops release `id` if this process builds it.
fn cancel_here(state: &State, id: i64) {
    let token = state
        .running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&id)
        .cloned();
    if let Some(token) = token {
        tracing::info!(release = id, "cancelled through another replica");
        token.cancel();
    }
}

async fn reap(state: Arc<State>) {
    loop {
        tokio::time::sleep(REAP_EVERY).await;
        match state.store.call(|store| store.reap_abandoned()).await {
            Ok(ids) => {
                for id in ids {
                    // Watchers here learn at once, whatever NOTIFY does.
                    let _ = state.log_wake.send(id);
                }
            }
            Err(error) => tracing::error!(%error, "could not check build leases"),
        }
    }
}

/// Follows the store's announcements for as long as the process runs,
/// connecting again when the connection breaks (and then reloading the
/// fleet: announcements made meanwhile are lost).
async fn listen(state: Arc<State>, url: String) {
    let mut first = true;
    loop {
        match listen_once(&state, &url, first).await {
            Ok(()) => tracing::warn!("the database's LISTEN connection closed"),
            Err(error) => tracing::warn!(%error, "the database's LISTEN connection failed"),
        }
        first = false;
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}

async fn listen_once(
    state: &Arc<State>,
    url: &str,
    first: bool,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = tokio_postgres::connect(url, NoTls).await?;
    let (payloads, mut received) = mpsc::unbounded_channel::<String>();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(note)) => {
                    if payloads.send(note.payload().to_string()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "LISTEN connection");
                    return;
                }
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    if !first {
        reload_fleet(state, BTreeSet::new(), true).await;
        state.wake.notify_one();
    }
    while let Some(payload) = received.recv().await {
        // Take whatever else arrived too: one reload for a burst.
        let mut batch = vec![payload];
        while let Ok(more) = received.try_recv() {
            batch.push(more);
        }
        let mut devices = BTreeSet::new();
        let mut fleet = false;
        for change in batch.iter().filter_map(|p| Change::parse(p)) {
            match change {
                Change::Queue => state.wake.notify_one(),
                Change::Log(release) => {
                    let _ = state.log_wake.send(release);
                }
                Change::Fleet => fleet = true,
                Change::Device(uuid) => {
                    devices.insert(uuid);
                }
                Change::Cancel(release) => cancel_here(state, release),
            }
        }
        if fleet || !devices.is_empty() {
            reload_fleet(state, devices, fleet).await;
        }
    }
    driver.abort();
    Ok(())
}

/// Reloads the named devices, and apps and rollouts when `apps`.
async fn reload_fleet(state: &Arc<State>, devices: BTreeSet<String>, apps: bool) {
    let loaded = state
        .store
        .call(move |store| {
            let apps = if apps {
                Some((store.apps()?, store.all_rollouts()?))
            } else {
                None
            };
            let devices = devices
                .into_iter()
                .map(|uuid| Ok::<_, crate::store::StoreError>((store.device(&uuid)?, uuid)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((apps, devices))
        })
        .await;
    let (apps, devices) = match loaded {
        Ok(loaded) => loaded,
        Err(error) => {
            tracing::error!(%error, "could not reload what another replica changed");
            return;
        }
    };
    if let Some((apps, rollouts)) = apps {
        state.fleet.refresh_apps(apps, rollouts);
    }
    for (stored, uuid) in devices {
        state.fleet.refresh_device(&uuid, stored);
    }
}
