//! The web dashboard `slipway serve` serves at `/`: releases with filters
//! and saved views, a release with its live build log, fleets with their
//! devices, rollouts with their phases. Server-rendered HTML, one small
//! stylesheet and one small script, all inside the binary.
//!
//! - [`session`]: sign-in cookie and form tokens;
//! - [`html`]: escaping, the page frame, formatting;
//! - [`releases`], [`release`], [`fleet`], [`rollout`]: one file per page.

mod fleet;
mod html;
mod release;
mod releases;
mod rollout;
mod session;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State as Extract};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};

use crate::service::auth::authenticate;
use crate::service::error::ApiError;
use crate::service::state::State;
use html::{esc, Frame};
use session::Signed;

pub fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/", get(home))
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", post(signout))
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
        .merge(releases::router())
        .merge(release::router())
        .merge(fleet::router())
        .merge(rollout::router())
}

async fn home(signed: Result<Signed, Response>) -> Response {
    match signed {
        Ok(_) => Redirect::to("/releases").into_response(),
        Err(to_sign_in) => to_sign_in,
    }
}

/// Where to go after signing in: a path on this site only.
fn safe_next(next: Option<&String>) -> String {
    match next {
        Some(next) if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') => {
            next.clone()
        }
        _ => "/releases".into(),
    }
}

fn signin_form(next: &str, problem: Option<&str>) -> String {
    let problem = problem
        .map(|p| format!(r#"<p class="error" role="alert">{}</p>"#, esc(p)))
        .unwrap_or_default();
    format!(
        r#"{problem}<form method="post" action="/signin" class="card narrow">
<input type="hidden" name="next" value="{next}">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<p class="hint">An admin token or an app's deploy token (<code>slipway serve</code> prints the first admin token).</p>
<button type="submit">Sign in</button>
</form>"#,
        next = esc(next)
    )
}

async fn signin_page(Query(query): Query<HashMap<String, String>>) -> Response {
    let next = safe_next(query.get("next"));
    let frame = Frame {
        title: "Sign in",
        csrf: None,
    };
    html::page(&frame, &signin_form(&next, None)).into_response()
}

async fn signin(
    Extract(state): Extract<Arc<State>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let next = safe_next(form.get("next"));
    let token = form.get("token").map(|t| t.trim()).unwrap_or("");
    // The same message whatever was wrong, as the API's 401.
    let valid = token.len() <= 256 && authenticate(&state, token).await.is_ok();
    if !valid {
        let frame = Frame {
            title: "Sign in",
            csrf: None,
        };
        let body = signin_form(&next, Some("That token is not valid here."));
        return (StatusCode::UNAUTHORIZED, html::page(&frame, &body)).into_response();
    }
    let mut response = Redirect::to(&next).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::set_cookie(token));
    response
}

async fn signout(
    signed: Result<Signed, Response>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if let Ok(signed) = &signed {
        if !signed.form_is_ours(form.get("csrf").map(String::as_str).unwrap_or("")) {
            return forbidden_form();
        }
    }
    let mut response = Redirect::to("/signin").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie());
    response
}

/// A POST without this session's form token (another site, a stale page).
fn forbidden_form() -> Response {
    let frame = Frame {
        title: "Not allowed",
        csrf: None,
    };
    html::error_page(
        StatusCode::FORBIDDEN,
        &frame,
        "This form is not from this session: reload the page and try again.",
    )
}

/// An API error shown as a page.
fn api_error_page(signed: &Signed, error: ApiError) -> Response {
    let frame = Frame {
        title: "Problem",
        csrf: Some(&signed.csrf),
    };
    html::error_page(error.status, &frame, &error.detail)
}

const CSS: &str = include_str!("static/app.css");
const JS: &str = include_str!("static/app.js");

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        JS,
    )
        .into_response()
}
