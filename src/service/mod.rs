//! `slipway serve`: the builder service. HTTP in, the pipeline inside, the
//! registry out.
//!
//! - `api/`: the JSON API under `/api/v1`, one router per resource;
//! - `git/`: git's smart HTTP protocol (the real `git http-backend`) and the
//!   pre-receive step that builds a push while it is being received;
//! - `queue`: the persistent build queue and its jobs;
//! - `hub`: live build events for whoever watches;
//! - `web/`: the dashboard (HTML pages, sign-in cookie, live logs as SSE).

mod api;

mod auth;
mod body;
mod error;
pub mod fleet;
pub mod git;
mod hub;
mod metrics;
mod queue;
mod render;
mod replicas;
mod state;
mod stored_log;
mod watch;
mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;

use crate::access::{new_token, token_hash, Scope};
use crate::image::EngineConfig;
use crate::plugin_host::{PluginHost, PluginSet};
use crate::registry::Registry;
use crate::store::{open_shared, Database, SharedStore, StoreError};
use state::{Paths, State};

/// How the service runs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// SQLite under the data dir, or PostgreSQL shared with other replicas.
    pub database: Database,
    pub role: Role,
    /// Repositories and queued source trees, shared by replicas (default:
    /// under the data dir).
    pub git_dir: Option<PathBuf>,
    /// How long a build lease lasts without renewal (PostgreSQL).
    pub lease_ms: i64,
    pub registry: Option<Registry>,
    pub engines: EngineConfig,
    /// Releases built at once.
    pub concurrency: usize,
    /// Images of one release built at once.
    pub image_concurrency: usize,
    /// From `SLIPWAY_ADMIN_TOKEN`; else one is made at first start.
    pub admin_token: Option<String>,
    /// The slipway binary git hooks run (this one).
    pub hook_binary: PathBuf,
    pub limits: Limits,
}

/// What a replica does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Requests, git pushes, uploads, devices, the dashboard; no builds.
    Api,
    /// Builds queued releases; answers only `/healthz` and `/metrics`.
    Builder,
    All,
}

impl Role {
    pub fn serves_api(self) -> bool {
        matches!(self, Role::Api | Role::All)
    }

    pub fn builds(self) -> bool {
        matches!(self, Role::Builder | Role::All)
    }
}

impl Role {
    /// As `--role` names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Api => "api",
            Role::Builder => "builder",
            Role::All => "all",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Api => "api",
            Role::Builder => "builder",
            Role::All => "api and builder",
        })
    }
}

/// Sizes and counts accepted from outside.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A tar upload, as sent.
    pub upload_bytes: u64,
    /// A git pack, as sent.
    pub pack_bytes: u64,
    /// A JSON request body.
    pub json_bytes: usize,
    /// A webhook payload.
    pub webhook_bytes: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            upload_bytes: 2 << 30,
            pack_bytes: 2 << 30,
            json_bytes: 64 << 10,
            webhook_bytes: 5 << 20,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("making a random token: {0}")]
    Random(getrandom::Error),
}

/// What the caller should tell the operator once the service listens.
pub struct Started {
    pub addr: SocketAddr,
    pub role: Role,
    /// A new admin token, made because none existed: shown once, never again.
    pub new_admin_token: Option<String>,
}

/// Runs the service until the process ends.
pub async fn serve(
    config: ServeConfig,
    host: Arc<PluginHost>,
    plugins: Arc<PluginSet>,
    on_ready: impl FnOnce(Started),
) -> Result<(), ServeError> {
    let paths = Paths::new(&config.data_dir, config.git_dir.as_deref());
    for dir in [&paths.repos, &paths.sources, &paths.uploads] {
        std::fs::create_dir_all(dir).map_err(|source| ServeError::Io {
            path: dir.clone(),
            source,
        })?;
    }
    // Uploads cut off by the last stop are of no use to anyone.
    clear_dir(&paths.uploads);
    let database = config.database.clone();
    let owner = replicas::owner_name(config.listen);
    let lease_ms = config.lease_ms;
    let store = {
        let owner = owner.clone();
        tokio::task::spawn_blocking(move || open_shared(&database, &owner, lease_ms))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??
    };
    remove_stale_sources(&store, &paths, config.database.is_shared()).await?;

    let new_admin_token = match &config.admin_token {
        Some(token) => {
            let hash = token_hash(token);
            store
                .call(move |s| {
                    if s.token_scope(&hash)?.is_none() {
                        s.add_token(&hash, &Scope::Admin)?;
                    }
                    Ok(())
                })
                .await?;
            None
        }
        None => {
            let has_admin = store.call(|s| s.has_admin_token()).await?;
            if has_admin {
                None
            } else {
                let token = new_token().map_err(ServeError::Random)?;
                let hash = token_hash(&token);
                store
                    .call(move |s| s.add_token(&hash, &Scope::Admin))
                    .await?;
                Some(token)
            }
        }
    };

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: config.listen,
        source,
    })?;
    let hook_host = if addr.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
    } else {
        addr
    };
    let fleet = load_fleet(&store).await?;
    let shared = config.database.is_shared();
    let state = Arc::new(State {
        shared,
        owner,
        healthy: std::sync::atomic::AtomicBool::new(true),
        leads_rollouts: std::sync::atomic::AtomicBool::new(!shared),
        log_wake: tokio::sync::broadcast::channel(1024).0,
        fleet,
        store,
        host,
        plugins,
        paths,
        hubs: Default::default(),
        metrics: Default::default(),
        running: Default::default(),
        wake: Default::default(),
        hook_secret: new_token().map_err(ServeError::Random)?,
        hook_url: format!("http://{hook_host}/internal/git/pre-receive"),
        config,
    });
    if state.config.role.builds() {
        tokio::spawn(queue::run(state.clone()));
    }
    if state.config.role.serves_api() {
        tokio::spawn(fleet::run_ticker(state.clone()));
    }
    replicas::start(state.clone());
    let role = state.config.role;
    let app = router(state);
    on_ready(Started {
        addr,
        role,
        new_admin_token,
    });
    // No Nagle delay: small writes (a log line, a CGI header block) go out
    // at once instead of waiting for the peer's delayed ACK.
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::warn!(%error, "TCP_NODELAY");
        }
    });
    axum::serve(listener, app)
        .await
        .map_err(|source| ServeError::Listen { addr, source })
}

fn router(state: Arc<State>) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(api::metrics));
    // A builder answers only its health and metrics.
    if state.config.role.serves_api() {
        router = router
            .nest("/api/v1", api::router())
            .merge(git::router())
            .merge(web::router());
    }
    router
        .layer(axum::middleware::from_fn(trace_request))
        .with_state(state)
}

/// `ok`, with a constant `ETag`: `304` when the caller has it (the
/// baseline the device-state benchmark compares against). `503` while the
/// database does not answer (checked in the background, so this stays a
/// constant route).
async fn healthz(
    axum::extract::State(state): axum::extract::State<Arc<State>>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if !state.healthy.load(std::sync::atomic::Ordering::Relaxed) {
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "database unreachable\n",
        )
            .into_response();
    }
    const ETAG: &str = "\"ok\"";
    let header = [(axum::http::header::ETAG, ETAG)];
    if headers
        .get(axum::http::header::IF_NONE_MATCH)
        .is_some_and(|v| v == ETAG)
    {
        (axum::http::StatusCode::NOT_MODIFIED, header).into_response()
    } else {
        (header, "ok\n").into_response()
    }
}

/// One span per request; the path is logged, never the headers (tokens).
async fn trace_request(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path()
    );
    use tracing::Instrument;
    next.run(request).instrument(span).await
}

/// The fleet index, from the store. An app that follows its latest release
/// but has no target yet gets its newest successful release.
async fn load_fleet(store: &SharedStore) -> Result<fleet::Fleet, ServeError> {
    let (apps, devices, rollouts) = store
        .call(|s| {
            let mut apps = s.apps()?;
            for app in apps
                .iter_mut()
                .filter(|a| a.track_latest && a.target_release.is_none())
            {
                let latest = s.list(&crate::release::ReleaseFilter {
                    app: Some(app.name.clone()),
                    status: Some(crate::release::Status::Success),
                    limit: Some(1),
                    ..Default::default()
                })?;
                if let Some(release) = latest.first() {
                    s.set_fleet_target(&app.name, Some(release.id), true)?;
                    app.target_release = Some(release.id);
                }
            }
            Ok((apps, s.all_devices()?, s.all_rollouts()?))
        })
        .await?;
    Ok(fleet::Fleet::load(apps, devices, rollouts))
}

fn clear_dir(dir: &std::path::Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}

/// Source trees of releases that are no longer queued (built, cancelled,
/// interrupted by the last stop) are removed; queued ones are kept.
async fn remove_stale_sources(
    store: &SharedStore,
    paths: &Paths,
    shared: bool,
) -> Result<(), ServeError> {
    let queued: Vec<String> = store
        .call(|s| {
            Ok(s.list(&crate::release::ReleaseFilter {
                status: Some(crate::release::Status::Queued),
                ..Default::default()
            })?
            .into_iter()
            .map(|r| r.hash)
            .collect())
        })
        .await?;
    // A shared directory may hold a tree another replica is writing right
    // now, before its release is queued: only old ones are removed there.
    let min_age = if shared {
        std::time::Duration::from_secs(3600)
    } else {
        std::time::Duration::ZERO
    };
    if let Ok(entries) = std::fs::read_dir(&paths.sources) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let age = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .unwrap_or_default();
            if !queued.contains(&name) && age >= min_age {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    Ok(())
}
