//! The Docker engines builds run on. Every arch uses the local engine
//! (`DOCKER_HOST`, else the local socket) unless configuration maps it to
//! another endpoint, e.g. a native ARM builder at `tcp://10.0.0.5:2375`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;

/// How long one request may take. Builds are long requests; the engine,
/// not a client timeout, decides when they end.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "cannot reach the Docker engine at {endpoint} (for {archs}): {reason}\n\
         start one with `bash scripts/setup-docker.sh` (installs and starts dockerd), \
         or point DOCKER_HOST or `--engine ARCH=ENDPOINT` at a running engine"
    )]
    Unreachable {
        endpoint: String,
        archs: String,
        reason: String,
    },
    #[error("--engine `{0}`: expected ARCH=ENDPOINT, e.g. aarch64=tcp://10.0.0.5:2375")]
    BadMapping(String),
}

/// Which endpoint serves which arch.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// Arch slug (`aarch64`, `amd64`...) to endpoint (`unix://...`, `tcp://...`).
    pub per_arch: BTreeMap<String, String>,
}

impl EngineConfig {
    /// Reads `ARCH=ENDPOINT` mappings.
    pub fn from_mappings(mappings: &[String]) -> Result<EngineConfig, EngineError> {
        let mut per_arch = BTreeMap::new();
        for mapping in mappings {
            let (arch, endpoint) = mapping
                .split_once('=')
                .filter(|(a, e)| !a.trim().is_empty() && !e.trim().is_empty())
                .ok_or_else(|| EngineError::BadMapping(mapping.clone()))?;
            per_arch.insert(arch.trim().to_string(), endpoint.trim().to_string());
        }
        Ok(EngineConfig { per_arch })
    }

    fn endpoint_for(&self, arch: &str) -> String {
        self.per_arch
            .get(arch)
            .cloned()
            .or_else(|| std::env::var("DOCKER_HOST").ok())
            .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string())
    }
}

/// One connected engine.
pub struct Engine {
    pub endpoint: String,
    pub docker: Docker,
    /// Whether the engine builds with BuildKit through its API (API 1.39+).
    pub has_buildkit: bool,
}

/// The engines of one build, by arch.
pub struct Engines {
    by_arch: BTreeMap<String, Arc<Engine>>,
}

impl Engines {
    /// Connects to the engine of every arch in `archs`, once per endpoint.
    pub async fn connect(config: &EngineConfig, archs: &[String]) -> Result<Engines, EngineError> {
        let mut by_endpoint: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for arch in archs {
            by_endpoint
                .entry(config.endpoint_for(arch))
                .or_default()
                .push(arch.clone());
        }
        let mut by_arch = BTreeMap::new();
        for (endpoint, archs) in by_endpoint {
            let engine = Arc::new(connect_one(&endpoint, &archs).await?);
            for arch in archs {
                by_arch.insert(arch, engine.clone());
            }
        }
        Ok(Engines { by_arch })
    }

    pub fn for_arch(&self, arch: &str) -> Option<Arc<Engine>> {
        self.by_arch.get(arch).cloned()
    }
}

async fn connect_one(endpoint: &str, archs: &[String]) -> Result<Engine, EngineError> {
    let unreachable = |reason: String| EngineError::Unreachable {
        endpoint: endpoint.to_string(),
        archs: archs.join(", "),
        reason,
    };
    let docker = Docker::connect_with_host(endpoint)
        .map_err(|e| unreachable(e.to_string()))?
        .with_timeout(REQUEST_TIMEOUT);
    // Older engines refuse requests in a newer API version: speak theirs.
    let docker = tokio::time::timeout(CONNECT_TIMEOUT, docker.negotiate_version())
        .await
        .map_err(|_| unreachable(format!("no answer within {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| unreachable(e.to_string()))?;
    // The negotiated version is the engine's when it is older than bollard's.
    let api = docker.client_version();
    let has_buildkit = (api.major_version, api.minor_version) >= (1, 39);
    tracing::info!(endpoint, api = %api, has_buildkit, "connected to the Docker engine");
    Ok(Engine {
        endpoint: endpoint.to_string(),
        docker,
        has_buildkit,
    })
}
