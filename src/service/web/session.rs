//! Signing in to the dashboard: the API token, kept in an `HttpOnly`,
//! `SameSite=Strict` cookie (scripts cannot read it, other sites cannot
//! send it). Every form carries a CSRF token derived from the session's
//! token, checked in constant time on each POST.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use sha2::Digest;

use crate::service::auth::{authenticate, Caller};
use crate::service::state::State;

pub const COOKIE: &str = "slipway_session";
/// The longest cookie header looked at.
const MAX_COOKIE: usize = 4096;

/// A signed-in browser.
pub struct Signed {
    pub caller: Caller,
    /// The form token of this session.
    pub csrf: String,
}

impl Signed {
    /// Whether a submitted form token is this session's.
    pub fn form_is_ours(&self, submitted: &str) -> bool {
        crate::access::same_secret(submitted.as_bytes(), self.csrf.as_bytes())
    }
}

/// A POSTed form from a signed-in browser, its form token checked: a form
/// without this session's token is refused with 403 and changes nothing.
pub struct SignedForm {
    pub signed: Signed,
    pub form: HashMap<String, String>,
}

impl FromRequest<Arc<State>> for SignedForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &Arc<State>) -> Result<SignedForm, Response> {
        let (mut parts, body) = request.into_parts();
        let signed = Signed::from_request_parts(&mut parts, state).await?;
        let Form(form) =
            Form::<HashMap<String, String>>::from_request(Request::from_parts(parts, body), state)
                .await
                .map_err(IntoResponse::into_response)?;
        let submitted = form.get("csrf").map(String::as_str).unwrap_or("");
        if !signed.form_is_ours(submitted) {
            return Err(super::forbidden_form());
        }
        Ok(SignedForm { signed, form })
    }
}

/// The form token of a session token: not the token, not guessable without it.
pub fn csrf_of(token: &str) -> String {
    let digest = sha2::Sha256::digest(format!("slipway-dashboard-form\0{token}").as_bytes());
    hex::encode(&digest[..16])
}

/// The session token in the request's cookies.
fn session_token(parts: &Parts) -> Option<String> {
    let cookies = parts.headers.get(header::COOKIE)?;
    if cookies.len() > MAX_COOKIE {
        return None;
    }
    cookies
        .to_str()
        .ok()?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

impl FromRequestParts<Arc<State>> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<State>) -> Result<Signed, Response> {
        let to_sign_in = || {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/releases");
            Redirect::to(&format!("/signin?next={}", super::html::url_part(next))).into_response()
        };
        let Some(token) = session_token(parts) else {
            return Err(to_sign_in());
        };
        match authenticate(state, &token).await {
            Ok(scope) => Ok(Signed {
                caller: Caller { scope },
                csrf: csrf_of(&token),
            }),
            Err(_) => Err(to_sign_in()),
        }
    }
}

/// The cookie that keeps `token` for this browser session.
pub fn set_cookie(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("slipway_session=; Path=/"))
}

/// The cookie that signs out.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("slipway_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_tokens_depend_on_the_session_and_reveal_nothing_of_it() {
        let a = csrf_of("slw_one");
        assert_eq!(a, csrf_of("slw_one"));
        assert_ne!(a, csrf_of("slw_two"));
        assert!(!a.contains("slw_one"));
        assert_eq!(a.len(), 32);
    }
}
