//! `/apps`: create and read apps, make deploy tokens, set webhook secrets.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State as Extract};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::access::{new_token, token_hash, Scope};
use crate::app::{check_name, App};
use crate::release::now_ms;
use crate::service::auth::Caller;
use crate::service::body;
use crate::service::error::ApiError;
use crate::service::git;
use crate::service::state::State;

pub fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/apps", post(create).get(list))
        .route("/apps/{app}", get(show))
        .route("/apps/{app}/tokens", post(create_token))
        .route("/apps/{app}/webhook", put(set_webhook))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewApp {
    name: String,
    device_types: Vec<String>,
}

async fn create(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    request: Body,
) -> Result<impl IntoResponse, ApiError> {
    caller.check_admin()?;
    let new: NewApp = body::json(request, state.config.limits.json_bytes).await?;
    let app = App::new(&new.name, &new.device_types, now_ms())
        .map_err(|e| ApiError::bad_request("invalid_app", e.to_string()))?;
    let repo = state.paths.repo(&app.name);
    let stored = app.clone();
    state.store.call(move |s| s.create_app(&stored)).await?;
    git::init_repo(&repo).map_err(ApiError::internal)?;
    state.fleet.write().apps.insert(
        app.name.clone(),
        crate::service::fleet::AppFleet {
            target: None,
            track_latest: true,
            device_types: app.device_types.clone(),
        },
    );
    Ok((StatusCode::CREATED, Json(app)))
}

async fn list(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    let apps = state.store.call(|s| s.apps()).await?;
    let apps: Vec<App> = apps
        .into_iter()
        .filter(|app| caller.scope.allows_app(&app.name))
        .collect();
    Ok(Json(json!({ "apps": apps })))
}

/// The app, after checking the caller may see it: 404 for a missing app
/// only once the caller is known to be allowed to ask.
pub async fn find_app(state: &State, caller: &Caller, name: &str) -> Result<App, ApiError> {
    caller.check_app(name)?;
    check_name(name).map_err(|_| {
        ApiError::not_found(format!(
            "no app `{}`",
            crate::source::unpack::printable(name)
        ))
    })?;
    let owned = name.to_string();
    state
        .store
        .call(move |s| s.app(&owned))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no app `{name}`")))
}

async fn show(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(find_app(&state, &caller, &name).await?))
}

async fn create_token(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    caller.check_admin()?;
    let app = find_app(&state, &caller, &name).await?;
    let token = new_token().map_err(ApiError::internal)?;
    let hash = token_hash(&token);
    let scope = Scope::App(app.name.clone());
    state
        .store
        .call(move |s| s.add_token(&hash, &scope))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "app": app.name, "scope": "deploy", "token": token })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Webhook {
    secret: String,
}

async fn set_webhook(
    Extract(state): Extract<Arc<State>>,
    caller: Caller,
    Path(name): Path<String>,
    request: Body,
) -> Result<impl IntoResponse, ApiError> {
    let app = find_app(&state, &caller, &name).await?;
    let webhook: Webhook = body::json(request, state.config.limits.json_bytes).await?;
    if webhook.secret.len() < 16 || webhook.secret.len() > 256 {
        return Err(ApiError::bad_request(
            "invalid_secret",
            "secret: use 16 to 256 characters",
        ));
    }
    state
        .store
        .call(move |s| s.set_webhook_secret(&app.name, &webhook.secret))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
