//! Pushing built images to an OCI registry and naming them by digest.
//!
//! Each arch's image is pushed from the engine that built it, tagged
//! `HOST/APP/SERVICE:<release hash>-<arch>`; devices pull it by digest,
//! `HOST/APP/SERVICE@sha256:...`, which no later push can move.

pub mod artifact;

use bollard::query_parameters::{PushImageOptionsBuilder, TagImageOptionsBuilder};
use futures_util::StreamExt;

use crate::image::Engine;

/// Where releases' images go: `HOST:PORT` of a registry the engines reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    pub host: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry `{0}`: expected HOST:PORT (no scheme, no path)")]
    BadHost(String),
    #[error("tagging {image} as {name}: {source}")]
    Tag {
        image: String,
        name: String,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("pushing {name}: {message}")]
    Push { name: String, message: String },
    #[error("pushing {name}: the registry answered without a digest")]
    NoDigest { name: String },
}

/// What one push left in the registry.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// `HOST/APP/SERVICE:TAG`.
    pub tagged: String,
    /// `HOST/APP/SERVICE@sha256:...`.
    pub reference: String,
}

impl Registry {
    pub fn parse(host: &str) -> Result<Registry, RegistryError> {
        let ok = !host.is_empty()
            && !host.contains("://")
            && !host.contains('/')
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
        if ok {
            Ok(Registry {
                host: host.to_string(),
            })
        } else {
            Err(RegistryError::BadHost(host.to_string()))
        }
    }

    /// The repository of a service: `HOST/APP/SERVICE`.
    pub fn repository(&self, app: &str, service: &str) -> String {
        format!("{}/{app}/{service}", self.host)
    }

    /// Tags `image` (an id or tag on `engine`) and pushes it.
    pub async fn push(
        &self,
        engine: &Engine,
        image: &str,
        app: &str,
        service: &str,
        tag: &str,
    ) -> Result<Pushed, RegistryError> {
        let repository = self.repository(app, service);
        let tagged = format!("{repository}:{tag}");
        engine
            .docker
            .tag_image(
                image,
                Some(
                    TagImageOptionsBuilder::new()
                        .repo(&repository)
                        .tag(tag)
                        .build(),
                ),
            )
            .await
            .map_err(|source| RegistryError::Tag {
                image: image.to_string(),
                name: tagged.clone(),
                source,
            })?;
        let mut progress = engine.docker.push_image(
            &repository,
            Some(PushImageOptionsBuilder::new().tag(tag).build()),
            None,
        );
        let mut digest = None;
        while let Some(item) = progress.next().await {
            let info = item.map_err(|e| RegistryError::Push {
                name: tagged.clone(),
                message: push_message(&e),
            })?;
            if let Some(found) = info.status.as_deref().and_then(digest_of) {
                digest = Some(found);
            }
        }
        let digest = digest.ok_or_else(|| RegistryError::NoDigest {
            name: tagged.clone(),
        })?;
        Ok(Pushed {
            reference: format!("{repository}@{digest}"),
            tagged,
        })
    }
}

/// The registry's own words where the engine passed them on.
fn push_message(error: &bollard::errors::Error) -> String {
    match error {
        bollard::errors::Error::DockerStreamError { error } => error.clone(),
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// `TAG: digest: sha256:<64 hex> size: N` -> `sha256:<64 hex>`.
fn digest_of(status: &str) -> Option<String> {
    let at = status.find("digest: sha256:")? + "digest: ".len();
    let digest: String = status[at..]
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        let hex = "a".repeat(64);
        assert_eq!(
            digest_of(&format!("abc-x64: digest: sha256:{hex} size: 527")),
            Some(format!("sha256:{hex}"))
        );
        assert_eq!(digest_of("Pushed"), None);
        assert_eq!(digest_of("digest: sha256:abc size: 1"), None);
    }

    #[test]
    fn hosts() {
        assert!(Registry::parse("127.0.0.1:5000").is_ok());
        assert!(Registry::parse("registry.local").is_ok());
        for bad in ["", "http://x:5000", "x/y", "x y", "x;rm"] {
            assert!(Registry::parse(bad).is_err(), "{bad}");
        }
    }
}
