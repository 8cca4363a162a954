//! `/views`: saved release filters.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Path;
use axum::extract::State as Extract;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::releases;
use crate::service::auth::Caller;
use crate::service::body;
use crate::service::error::ApiError;
use crate::service::state::State;

pub fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/views", post(save).get(list))
        .route("/views/{id}", delete(remove))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewView {
    name: String,
    filter: HashMap<String, String>,
}

async fn save(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    request: Body,
) -> Result<impl IntoResponse, ApiError> {
    caller.check_admin()?;
    let view: NewView = body::json(request, state.config.limits.json_bytes).await?;
    if view.name.trim().is_empty()
        || view.name.len() > 100
        || view.name.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(
            "invalid_view",
            "name: use 1 to 100 printable characters",
        ));
    }
    // The same checks as the listing: a saved view always works.
    releases::parse_filter(&view.filter)?;
    let filter = json!(view.filter);
    let saved = state
        .store
        .call(move |s| s.save_view(&view.name, &filter))
        .await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

async fn list(
    Extract(state): Extract<Arc<State>>,
    _caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    let views = state.store.call(|s| s.views()).await?;
    Ok(Json(json!({ "views": views })))
}

async fn remove(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    caller.check_admin()?;
    if state.store.call(move |s| s.delete_view(id)).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no view {id}")))
    }
}
