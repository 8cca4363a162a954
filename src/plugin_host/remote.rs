//! Plugins a policy names by registry source: fetched once, checked against
//! the pinned digest before a byte is compiled, and cached by digest.

use std::path::{Path, PathBuf};

use tracing::Instrument;

use super::error::LoadError;
use super::policy::Policy;
use crate::registry::artifact::{sha256_digest, Client, Reference};

/// The largest component fetched from a registry.
pub const MAX_COMPONENT_BYTES: usize = 32 << 20;

/// One fetched component, checked, with the policy entry that named it.
pub struct Fetched {
    pub name: String,
    pub reference: String,
    pub bytes: Vec<u8>,
}

/// The cached copy of a manifest digest's component: `DIR/<manifest hex>.wasm`
/// beside `<manifest hex>.layer` (the component's digest, re-checked on use).
fn cached(dir: &Path, reference: &Reference) -> Option<Vec<u8>> {
    let key = reference.digest.as_deref()?.strip_prefix("sha256:")?;
    let layer = std::fs::read_to_string(dir.join(format!("{key}.layer"))).ok()?;
    let bytes = std::fs::read(dir.join(format!("{key}.wasm"))).ok()?;
    (sha256_digest(&bytes) == layer.trim()).then_some(bytes)
}

fn remember(dir: &Path, reference: &Reference, layer: &str, bytes: &[u8]) -> std::io::Result<()> {
    let Some(key) = reference
        .digest
        .as_deref()
        .and_then(|d| d.strip_prefix("sha256:"))
    else {
        return Ok(());
    };
    std::fs::create_dir_all(dir)?;
    // Component first, digest last: a reader never sees a digest without its bytes.
    let write = |name: String, bytes: &[u8]| {
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, dir.join(name))
    };
    write(format!("{key}.wasm"), bytes)?;
    write(format!("{key}.layer"), layer.as_bytes())
}

/// Fetches every `source` of `policy` (from `cache_dir` when it holds a
/// checked copy). Each entry succeeds or fails on its own.
pub async fn fetch_sources(
    policy: &Policy,
    cache_dir: Option<&Path>,
) -> Vec<Result<Fetched, LoadError>> {
    let client = Client::new();
    let mut fetched = Vec::new();
    for (name, reference) in policy.sources() {
        let text = reference.to_string();
        if let Some(bytes) = cache_dir.and_then(|dir| cached(dir, &reference)) {
            fetched.push(Ok(Fetched {
                name,
                reference: text,
                bytes,
            }));
            continue;
        }
        // Instrumented, not entered: an entered span must not live across an await.
        let span = tracing::info_span!("plugin_fetch", plugin = %name, reference = %text);
        match client
            .fetch_wasm(&reference, MAX_COMPONENT_BYTES)
            .instrument(span)
            .await
        {
            Ok((layer, bytes)) => {
                if let Some(dir) = cache_dir {
                    if let Err(e) = remember(dir, &reference, &layer, &bytes) {
                        tracing::warn!("caching {text} in {}: {e}", dir.display());
                    }
                }
                fetched.push(Ok(Fetched {
                    name,
                    reference: text,
                    bytes,
                }));
            }
            Err(source) => fetched.push(Err(LoadError::Fetch {
                policy: policy.path.display().to_string(),
                name,
                source: Box::new(source),
            })),
        }
    }
    fetched
}

/// Where fetched components are cached, beside the compiled ones.
pub fn cache_dir(components: Option<&Path>) -> Option<PathBuf> {
    components
        .and_then(Path::parent)
        .map(|root| root.join("oci"))
}
