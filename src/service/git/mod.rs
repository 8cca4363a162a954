//! git's smart HTTP protocol, served by the real `git http-backend` against
//! one bare repository per app, and the pre-receive step that builds a push
//! while it is being received (see `hook`).

mod cgi;
pub mod hook;

use std::path::Path;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;

use super::state::State;

/// What each app's repository runs before accepting a push: this binary,
/// found through the environment the service gives `git http-backend`, so
/// repositories keep working when the binary moves.
const PRE_RECEIVE: &str = "#!/bin/sh\n\
# Written by slipway serve: builds the pushed commit before the ref moves.\n\
if [ -z \"$SLIPWAY_BIN\" ]; then echo 'slipway: pushes are only accepted through slipway serve' >&2; exit 1; fi\n\
exec \"$SLIPWAY_BIN\" git-hook pre-receive\n";

pub fn router() -> Router<Arc<State>> {
    Router::new()
        .route("/internal/git/pre-receive", post(hook::pre_receive))
        .route("/{repo}/info/refs", get(cgi::serve))
        .route("/{repo}/git-upload-pack", post(cgi::serve))
        .route("/{repo}/git-receive-pack", post(cgi::serve))
}

/// Creates an app's bare repository with its hook (idempotent).
pub fn init_repo(path: &Path) -> Result<(), git2::Error> {
    let repo = match git2::Repository::open_bare(path) {
        Ok(repo) => repo,
        Err(_) => git2::Repository::init_bare(path)?,
    };
    let mut config = repo.config()?;
    config.set_bool("http.receivepack", true)?;
    config.set_bool("receive.denyDeletes", true)?;
    // Keepalives while the build prints nothing (git's default is 5 s).
    config.set_i32("receive.keepAlive", 3)?;
    let hooks = path.join("hooks");
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&hooks)?;
        let hook = hooks.join("pre-receive");
        std::fs::write(&hook, PRE_RECEIVE)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755))
    };
    write().map_err(|e| git2::Error::from_str(&format!("writing the pre-receive hook: {e}")))
}
