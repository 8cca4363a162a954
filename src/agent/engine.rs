//! The agent's side of the Docker engine: its own containers (by label),
//! pulls by digest, create/start/stop/remove, one-off hook containers.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, RestartPolicy, RestartPolicyNameEnum};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListContainersOptions, RemoveContainerOptions,
    StopContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;

use super::plan::Observed;
use super::ports::DeviceEngine;
use super::target::ServiceSpec;
use super::{LABEL_DEVICE, LABEL_RELEASE, LABEL_SERVICE};

#[derive(Debug, thiserror::Error)]
pub enum AgentEngineError {
    #[error("the engine at {endpoint}: {source}")]
    Connect {
        endpoint: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("pulling {image}: {message}")]
    Pull { image: String, message: String },
    #[error("{what} ({service}): {source}")]
    Call {
        what: &'static str,
        service: String,
        #[source]
        source: bollard::errors::Error,
    },
    /// The fleet simulator's engine failing on purpose (no network, say).
    #[error("{what} ({service}): {reason}")]
    Simulated {
        what: &'static str,
        service: String,
        reason: &'static str,
    },
    #[error("the update lock directory {path}: {source}")]
    LockDir {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub struct AgentEngine {
    pub docker: Docker,
    pub device: String,
}

impl AgentEngine {
    pub fn connect(endpoint: Option<&str>, device: &str) -> Result<AgentEngine, AgentEngineError> {
        let endpoint_text = endpoint
            .unwrap_or("unix:///var/run/docker.sock")
            .to_string();
        let docker = match endpoint {
            Some(e) if e.starts_with("tcp://") || e.starts_with("http://") => {
                Docker::connect_with_http(e, 120, bollard::API_DEFAULT_VERSION)
            }
            Some(e) => Docker::connect_with_unix(
                e.trim_start_matches("unix://"),
                120,
                bollard::API_DEFAULT_VERSION,
            ),
            None => Docker::connect_with_local_defaults(),
        }
        .map_err(|source| AgentEngineError::Connect {
            endpoint: endpoint_text,
            source,
        })?;
        Ok(AgentEngine {
            docker,
            device: device.to_string(),
        })
    }

    fn name(&self, service: &str, release: i64) -> String {
        let short: String = self.device.chars().take(12).collect();
        format!("slipway-{short}-{service}-r{release}")
    }
}

impl DeviceEngine for AgentEngine {
    fn set_device(&mut self, uuid: &str) {
        self.device = uuid.to_string();
    }

    /// This device's containers: labelled with its uuid, or with an empty
    /// device label (created from a preload file before the agent had ever
    /// reached the server to learn its uuid).
    async fn observe(&self) -> Result<Vec<Observed>, AgentEngineError> {
        let filters = HashMap::from([("label".to_string(), vec![LABEL_DEVICE.to_string()])]);
        let listed = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(|source| AgentEngineError::Call {
                what: "listing containers",
                service: "*".into(),
                source,
            })?;
        Ok(listed
            .into_iter()
            .filter_map(|c| {
                let labels = c.labels.unwrap_or_default();
                let device = labels.get(LABEL_DEVICE)?;
                if device != &self.device && !device.is_empty() {
                    return None;
                }
                Some(Observed {
                    id: c.id?,
                    service: labels.get(LABEL_SERVICE)?.clone(),
                    release: labels.get(LABEL_RELEASE)?.parse().ok()?,
                    running: c.state.map(|s| s.to_string() == "running").unwrap_or(false),
                })
            })
            .collect())
    }

    /// Whether the engine has `image`.
    async fn has_image(&self, image: &str) -> bool {
        self.docker.inspect_image(image).await.is_ok()
    }

    /// Free bytes under the engine's data root (where pulls land), and that
    /// root; `None` when it is not on this machine (a remote engine).
    async fn free_bytes(&self) -> Option<(u64, String)> {
        let root = self.docker.info().await.ok()?.docker_root_dir?;
        let path = std::ffi::CString::new(root.clone()).ok()?;
        let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: `path` is a NUL-terminated string and `stat` is written by
        // statvfs before it is read (only on success).
        let ok = unsafe { libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) } == 0;
        if !ok {
            return None;
        }
        // SAFETY: statvfs succeeded, so it filled `stat`.
        let stat = unsafe { stat.assume_init() };
        #[allow(clippy::unnecessary_cast)]
        let free = (stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64);
        Some((free, root))
    }

    /// Pulls `image` unless the engine has it (a digest names one content);
    /// whether it was pulled.
    async fn pull(&self, image: &str) -> Result<bool, AgentEngineError> {
        if self.docker.inspect_image(image).await.is_ok() {
            return Ok(false);
        }
        let mut progress = self.docker.create_image(
            Some(CreateImageOptions {
                from_image: Some(image.to_string()),
                ..Default::default()
            }),
            None,
            None,
        );
        while let Some(item) = progress.next().await {
            item.map_err(|e| AgentEngineError::Pull {
                image: image.to_string(),
                message: e.to_string(),
            })?;
        }
        Ok(true)
    }

    /// Removes the reference `image` (the image itself goes when nothing
    /// else names or uses it). Whether it is gone; an image a container
    /// still uses stays.
    async fn remove_image(&self, image: &str) -> bool {
        match self
            .docker
            .remove_image(
                image,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await
        {
            Ok(_) => true,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => true,
            Err(error) => {
                tracing::info!(image, %error, "image kept");
                false
            }
        }
    }

    /// Creates the service's container of `release` (not started).
    async fn create(
        &self,
        service: &str,
        release: i64,
        spec: &ServiceSpec,
        lock_dir: &std::path::Path,
        preloaded: Option<&str>,
    ) -> Result<String, AgentEngineError> {
        let call = |what| {
            let service = service.to_string();
            move |source| AgentEngineError::Call {
                what,
                service,
                source,
            }
        };
        let labels = HashMap::from([
            (LABEL_DEVICE.to_string(), self.device.clone()),
            (LABEL_SERVICE.to_string(), service.to_string()),
            (LABEL_RELEASE.to_string(), release.to_string()),
        ]);
        std::fs::create_dir_all(lock_dir).map_err(|source| AgentEngineError::LockDir {
            path: lock_dir.to_path_buf(),
            source,
        })?;
        let name = self.name(service, release);
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: spec.command.clone(),
            entrypoint: spec.command.as_ref().map(|_| Vec::new()),
            env: Some(
                spec.environment
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .chain([format!("SLIPWAY_LOCK_DIR={}", super::locks::MOUNT)])
                    .collect(),
            ),
            labels: Some(labels),
            host_config: Some(HostConfig {
                restart_policy: Some(RestartPolicy {
                    name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                    maximum_retry_count: None,
                }),
                // The service's lock directory (on the engine's host: the
                // agent runs beside its engine).
                binds: Some(vec![format!(
                    "{}:{}",
                    lock_dir.display(),
                    super::locks::MOUNT
                )]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptions {
            name: Some(name),
            ..Default::default()
        };
        let created = match self
            .docker
            .create_container(Some(options.clone()), body.clone())
            .await
        {
            // The image went away since it was pulled (pruned by someone):
            // pull it again, by the same digest, and create once more.
            // Loaded from a preload file: the image is known by its id only.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) if preloaded.is_some() => {
                let mut body = body;
                body.image = preloaded.map(str::to_string);
                self.docker.create_container(Some(options), body).await
            }
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                tracing::warn!(image = spec.image, "the image is gone: pulling it again");
                self.pull(&spec.image).await?;
                self.docker.create_container(Some(options), body).await
            }
            other => other,
        }
        .map_err(call("creating its container"))?;
        Ok(created.id)
    }

    /// Whether a container runs and has not been restarted by the engine
    /// since it was started (a crash loop looks "running" between crashes).
    async fn settled(&self, id: &str) -> bool {
        match self
            .docker
            .inspect_container(
                id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
        {
            Ok(found) => {
                let state = found.state.unwrap_or_default();
                state.running == Some(true)
                    && state.restarting != Some(true)
                    && found.restart_count.unwrap_or(0) == 0
            }
            Err(_) => false,
        }
    }

    async fn start(&self, id: &str, service: &str) -> Result<(), AgentEngineError> {
        self.docker
            .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
            .await
            .map_err(|source| AgentEngineError::Call {
                what: "starting its container",
                service: service.to_string(),
                source,
            })
    }

    /// Stops a container (10 s to exit cleanly); one already stopped or
    /// gone is what a repeated step finds.
    async fn stop(&self, id: &str) {
        let _ = self
            .docker
            .stop_container(
                id,
                Some(StopContainerOptions {
                    t: Some(10),
                    ..Default::default()
                }),
            )
            .await;
    }

    /// Stops and removes a container.
    async fn remove(&self, id: &str, service: &str) -> Result<(), AgentEngineError> {
        self.stop(id).await;
        match self
            .docker
            .remove_container(
                id,
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await
        {
            Ok(()) => Ok(()),
            // Gone already: what a repeated step finds.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(source) => Err(AgentEngineError::Call {
                what: "removing its container",
                service: service.to_string(),
                source,
            }),
        }
    }

    /// Runs `command` in a one-off container of `image`; its exit code.
    async fn run_once(
        &self,
        image: &str,
        command: &[String],
        service: &str,
    ) -> Result<i64, AgentEngineError> {
        let call = |what| {
            let service = service.to_string();
            move |source| AgentEngineError::Call {
                what,
                service,
                source,
            }
        };
        let labels = HashMap::from([(LABEL_DEVICE.to_string(), format!("{}-hook", self.device))]);
        let created = self
            .docker
            .create_container(
                None::<CreateContainerOptions>,
                ContainerCreateBody {
                    image: Some(image.to_string()),
                    cmd: Some(command.to_vec()),
                    entrypoint: Some(Vec::new()),
                    labels: Some(labels),
                    ..Default::default()
                },
            )
            .await
            .map_err(call("creating a hook container"))?;
        self.start(&created.id, service).await?;
        let mut waited = self.docker.wait_container(
            &created.id,
            None::<bollard::query_parameters::WaitContainerOptions>,
        );
        let mut code = 0;
        while let Some(result) = waited.next().await {
            match result {
                Ok(response) => code = response.status_code,
                Err(bollard::errors::Error::DockerContainerWaitError { code: c, .. }) => code = c,
                Err(source) => return Err(call("waiting for a hook")(source)),
            }
        }
        let _ = self
            .docker
            .remove_container(
                &created.id,
                Some(RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await;
        Ok(code)
    }
}
