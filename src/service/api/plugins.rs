//! `/plugins`: what detection runs with on this service (its policy's
//! choice), so a platform can see which plugins, versions and digests
//! decide every build.

use std::sync::Arc;

use axum::extract::State as Extract;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::service::auth::Caller;
use crate::service::state::State;

pub fn router() -> Router<Arc<State>> {
    Router::new().route("/plugins", get(list))
}

async fn list(Extract(state): Extract<Arc<State>>, _caller: Caller) -> Json<Value> {
    let plugins: Vec<Value> = state.plugins.all().iter().map(|p| p.describe()).collect();
    let errors: Vec<String> = state
        .plugins
        .load_errors
        .iter()
        .map(|e| e.to_string())
        .collect();
    Json(json!({
        "plugins": plugins,
        "disabled": state.plugins.disabled,
        "errors": errors,
    }))
}
