//! The JSON API under `/api/v1`, one router per resource.

pub(crate) mod apps;
mod device_state;
pub(crate) mod devices;
mod plugins;
pub(crate) mod releases;
pub(crate) mod rollouts;
mod uploads;
mod views;
mod webhooks;

use std::sync::Arc;

use axum::extract::State as Extract;
use axum::response::IntoResponse;
use axum::Router;

use super::error::ApiError;
use super::state::State;

pub fn router() -> Router<Arc<State>> {
    Router::new()
        .merge(apps::router())
        .merge(releases::router())
        .merge(devices::router())
        .merge(rollouts::router())
        .merge(device_state::router())
        .merge(uploads::router())
        .merge(views::router())
        .merge(plugins::router())
        .merge(webhooks::router())
}

/// `GET /metrics`.
pub async fn metrics(Extract(state): Extract<Arc<State>>) -> Result<impl IntoResponse, ApiError> {
    use std::sync::atomic::Ordering;
    let counts = state.store.call(|s| s.count_by_status()).await?;
    let replica = crate::service::metrics::render_replica(&crate::service::metrics::ReplicaFacts {
        role: state.config.role.as_str(),
        backend: if state.shared { "postgres" } else { "sqlite" },
        database_up: state.healthy.load(Ordering::Relaxed),
        building: state
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len(),
        leads_rollouts: state.leads_rollouts.load(Ordering::Relaxed),
    });
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(&counts) + &replica,
    ))
}
