//! OCI artifacts of one file (a Wasm component) over the registry's HTTP
//! API: pushed as config + one layer + manifest, fetched by manifest digest
//! and checked against it before anything else sees the bytes. Follows the
//! CNCF Wasm OCI artifact layout other Wasm runtimes publish with.
//!
//! Plain HTTP only: this build has no TLS (like its git); registries are on
//! loopback or behind a TLS-terminating proxy on the same host.

use reqwest::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const WASM_CONFIG_MEDIA_TYPE: &str = "application/vnd.wasm.config.v0+json";
pub const WASM_LAYER_MEDIA_TYPE: &str = "application/wasm";

/// The largest manifest read from a registry.
const MAX_MANIFEST_BYTES: usize = 64 * 1024;

/// `HOST[:PORT]/REPO` plus a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("`{reference}`: {reason}")]
    BadReference { reference: String, reason: String },
    #[error("registry {registry}: {source}")]
    Http {
        registry: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("registry {registry}: {what} answered {status}: {body}")]
    Refused {
        registry: String,
        what: String,
        status: StatusCode,
        body: String,
    },
    #[error("{reference}: {what} has digest {actual}, not the pinned {expected}: the registry's bytes differ; nothing was used")]
    DigestMismatch {
        reference: String,
        what: &'static str,
        expected: String,
        actual: String,
    },
    #[error("{reference}: {reason}")]
    BadManifest { reference: String, reason: String },
    #[error("{reference}: the {what} is larger than {limit} bytes")]
    TooLarge {
        reference: String,
        what: &'static str,
        limit: usize,
    },
}

pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

fn is_digest(text: &str) -> bool {
    text.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    })
}

impl Reference {
    /// Parses `HOST[:PORT]/REPO[:TAG][@sha256:HEX]`.
    pub fn parse(text: &str) -> Result<Reference, ArtifactError> {
        let bad = |reason: &str| ArtifactError::BadReference {
            reference: text.to_string(),
            reason: reason.to_string(),
        };
        let (name, digest) = match text.split_once('@') {
            Some((name, digest)) => {
                if !is_digest(digest) {
                    return Err(bad("a digest is sha256: and 64 lowercase hex digits"));
                }
                (name, Some(digest.to_string()))
            }
            None => (text, None),
        };
        let (registry, path) = name
            .split_once('/')
            .ok_or_else(|| bad("name the registry: HOST[:PORT]/REPOSITORY"))?;
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) => (repo, Some(tag.to_string())),
            None => (path, None),
        };
        let valid_repo = !repository.is_empty()
            && repository.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            });
        if !valid_repo {
            return Err(bad(
                "a repository is lowercase letters, digits, `.`, `_`, `-` and `/`",
            ));
        }
        if let Some(tag) = &tag {
            let valid = !tag.is_empty()
                && tag.len() <= 128
                && tag
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if !valid {
                return Err(bad("a tag is up to 128 letters, digits, `.`, `_`, `-`"));
            }
        }
        if registry.is_empty() || registry.chars().any(|c| c.is_whitespace() || c == '@') {
            return Err(bad("no registry host"));
        }
        Ok(Reference {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag,
            digest,
        })
    }

    fn url(&self, rest: &str) -> String {
        format!("http://{}/v2/{}/{rest}", self.registry, self.repository)
    }

    pub fn with_digest(&self, digest: &str) -> String {
        format!("{}/{}@{digest}", self.registry, self.repository)
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

pub struct Client {
    http: reqwest::Client,
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl Client {
    pub fn new() -> Client {
        Client {
            http: reqwest::Client::new(),
        }
    }

    fn http_error(reference: &Reference) -> impl Fn(reqwest::Error) -> ArtifactError + '_ {
        move |source| ArtifactError::Http {
            registry: reference.registry.clone(),
            source,
        }
    }

    async fn refused(
        reference: &Reference,
        what: &str,
        response: reqwest::Response,
    ) -> ArtifactError {
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        ArtifactError::Refused {
            registry: reference.registry.clone(),
            what: what.to_string(),
            status,
            body: body.chars().take(300).collect(),
        }
    }

    /// Uploads one blob unless the registry has it.
    async fn put_blob(
        &self,
        reference: &Reference,
        bytes: Vec<u8>,
    ) -> Result<String, ArtifactError> {
        let digest = sha256_digest(&bytes);
        let err = Self::http_error(reference);
        let head = self
            .http
            .head(reference.url(&format!("blobs/{digest}")))
            .send()
            .await
            .map_err(&err)?;
        if head.status() == StatusCode::OK {
            return Ok(digest);
        }
        let start = self
            .http
            .post(reference.url("blobs/uploads/"))
            .send()
            .await
            .map_err(&err)?;
        if start.status() != StatusCode::ACCEPTED {
            return Err(Self::refused(reference, "starting an upload", start).await);
        }
        let location = start
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let location = if location.starts_with('/') {
            format!("http://{}{location}", reference.registry)
        } else {
            location
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let done = self
            .http
            .put(format!("{location}{separator}digest={digest}"))
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .map_err(&err)?;
        if done.status() != StatusCode::CREATED {
            return Err(Self::refused(reference, "a blob upload", done).await);
        }
        Ok(digest)
    }

    /// Pushes `wasm` as a Wasm component artifact tagged `reference`'s tag;
    /// returns the manifest's digest.
    pub async fn push_wasm(
        &self,
        reference: &Reference,
        wasm: Vec<u8>,
    ) -> Result<String, ArtifactError> {
        let tag = reference.tag.clone().unwrap_or_else(|| "latest".into());
        let layer_size = wasm.len();
        let layer = self.put_blob(reference, wasm).await?;
        // No time in the config: pushing the same component twice gives the
        // same manifest digest.
        let config = serde_json::to_vec(&json!({
            "architecture": "wasm",
            "os": "wasip2",
            "layerDigests": [layer],
        }))
        .expect("a JSON value serialises");
        let config_size = config.len();
        let config_digest = self.put_blob(reference, config).await?;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "artifactType": WASM_CONFIG_MEDIA_TYPE,
            "config": {"mediaType": WASM_CONFIG_MEDIA_TYPE, "digest": config_digest, "size": config_size},
            "layers": [{"mediaType": WASM_LAYER_MEDIA_TYPE, "digest": layer, "size": layer_size}],
        }))
        .expect("a JSON value serialises");
        let digest = sha256_digest(&manifest);
        let put = self
            .http
            .put(reference.url(&format!("manifests/{tag}")))
            .header(CONTENT_TYPE, MANIFEST_MEDIA_TYPE)
            .body(manifest)
            .send()
            .await
            .map_err(Self::http_error(reference))?;
        if put.status() != StatusCode::CREATED {
            return Err(Self::refused(reference, "the manifest upload", put).await);
        }
        Ok(digest)
    }

    async fn get_capped(
        &self,
        reference: &Reference,
        url: String,
        accept: &str,
        what: &'static str,
        limit: usize,
    ) -> Result<Vec<u8>, ArtifactError> {
        let mut response = self
            .http
            .get(url)
            .header(ACCEPT, accept)
            .send()
            .await
            .map_err(Self::http_error(reference))?;
        if response.status() != StatusCode::OK {
            return Err(Self::refused(reference, what, response).await);
        }
        let too_large = || ArtifactError::TooLarge {
            reference: reference.to_string(),
            what,
            limit,
        };
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(Self::http_error(reference))?
        {
            if bytes.len() + chunk.len() > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// Fetches the Wasm layer of the artifact pinned by `reference`'s digest:
    /// the manifest must hash to that digest, and the layer to the digest the
    /// manifest names. Returns (layer digest, bytes).
    pub async fn fetch_wasm(
        &self,
        reference: &Reference,
        max_bytes: usize,
    ) -> Result<(String, Vec<u8>), ArtifactError> {
        let Some(pinned) = &reference.digest else {
            return Err(ArtifactError::BadReference {
                reference: reference.to_string(),
                reason: "a tag can move: pin the artifact by digest (REPO@sha256:...)".into(),
            });
        };
        let manifest = self
            .get_capped(
                reference,
                reference.url(&format!("manifests/{pinned}")),
                MANIFEST_MEDIA_TYPE,
                "manifest",
                MAX_MANIFEST_BYTES,
            )
            .await?;
        let actual = sha256_digest(&manifest);
        if &actual != pinned {
            return Err(ArtifactError::DigestMismatch {
                reference: reference.to_string(),
                what: "the manifest",
                expected: pinned.clone(),
                actual,
            });
        }
        let bad = |reason: &str| ArtifactError::BadManifest {
            reference: reference.to_string(),
            reason: reason.to_string(),
        };
        let manifest: serde_json::Value = serde_json::from_slice(&manifest)
            .map_err(|e| bad(&format!("not a JSON manifest: {e}")))?;
        let layers: Vec<&serde_json::Value> = manifest["layers"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter(|d| d["mediaType"] == WASM_LAYER_MEDIA_TYPE)
                    .collect()
            })
            .unwrap_or_default();
        let [layer] = layers.as_slice() else {
            return Err(bad(&format!("not one `{WASM_LAYER_MEDIA_TYPE}` layer: a Wasm component artifact has exactly one")));
        };
        let digest = layer["digest"]
            .as_str()
            .filter(|d| is_digest(d))
            .ok_or_else(|| bad("the layer has no sha256 digest"))?;
        let bytes = self
            .get_capped(
                reference,
                reference.url(&format!("blobs/{digest}")),
                "application/octet-stream",
                "component",
                max_bytes,
            )
            .await?;
        let actual = sha256_digest(&bytes);
        if actual != digest {
            return Err(ArtifactError::DigestMismatch {
                reference: reference.to_string(),
                what: "the component",
                expected: digest.to_string(),
                actual,
            });
        }
        Ok((digest.to_string(), bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_and_refuse() {
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("127.0.0.1:5055/plugins/deno@{d}")).unwrap();
        assert_eq!(r.registry, "127.0.0.1:5055");
        assert_eq!(r.repository, "plugins/deno");
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        let t = Reference::parse("localhost:5000/deno:0.3.1").unwrap();
        assert_eq!(t.tag.as_deref(), Some("0.3.1"));
        assert_eq!(t.to_string(), "localhost:5000/deno:0.3.1");
        for bad in [
            "deno",
            "host/Deno:1",
            "host/deno@sha256:abc",
            "host/deno:bad tag",
            "/deno",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }
}
