//! Who is calling: `Authorization: Bearer TOKEN` on the API, the token as
//! the basic-auth password on git's HTTP protocol. A missing, malformed or
//! unknown token gets the same 401, with nothing about which it was.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine as _;

use super::error::ApiError;
use super::state::State;
use crate::access::{token_hash, Scope};

/// The longest Authorization header looked at.
const MAX_HEADER: usize = 1024;

/// An authenticated caller.
pub struct Caller {
    pub scope: Scope,
}

impl Caller {
    /// 403 unless this caller may reach `app`.
    pub fn check_app(&self, app: &str) -> Result<(), ApiError> {
        if self.scope.allows_app(app) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this token is not allowed to use app `{app}`"
            )))
        }
    }

    pub fn check_admin(&self) -> Result<(), ApiError> {
        if self.scope.is_admin() {
            Ok(())
        } else {
            Err(ApiError::forbidden("this needs an admin token"))
        }
    }
}

/// The token a request carries, if any.
pub fn presented_token(parts: &Parts) -> Option<String> {
    let header = parts.headers.get(axum::http::header::AUTHORIZATION)?;
    if header.len() > MAX_HEADER {
        return None;
    }
    let value = header.to_str().ok()?;
    let (kind, rest) = value.split_once(' ')?;
    match kind.to_ascii_lowercase().as_str() {
        "bearer" => Some(rest.trim().to_string()),
        "basic" => {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (_, password) = text.split_once(':')?;
            Some(password.to_string())
        }
        _ => None,
    }
}

pub async fn authenticate(state: &State, token: &str) -> Result<Scope, ApiError> {
    let hash = token_hash(token);
    let found = state
        .store
        .call(move |store| store.token_scope(&hash))
        .await?;
    found.ok_or_else(ApiError::unauthorized)
}

impl FromRequestParts<Arc<State>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Caller, ApiError> {
        let token = presented_token(parts).ok_or_else(ApiError::unauthorized)?;
        let scope = authenticate(state, &token).await?;
        Ok(Caller { scope })
    }
}
