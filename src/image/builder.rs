//! The two ways an engine builds: BuildKit (the default where the engine has
//! it) and the classic builder. Both take the same request and report into
//! the same [`Output`]; what differs is how progress arrives.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::engine::Engine;
use super::error::ImageError;
use super::output::Output;
use super::{buildkit, classic};

/// Which builder an image is built with; recorded per image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Builder {
    Buildkit,
    Classic,
}

impl Builder {
    pub fn as_str(self) -> &'static str {
        match self {
            Builder::Buildkit => "buildkit",
            Builder::Classic => "classic",
        }
    }

    pub fn parse(text: &str) -> Option<Builder> {
        [Builder::Buildkit, Builder::Classic]
            .into_iter()
            .find(|b| b.as_str() == text)
    }
}

impl std::fmt::Display for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One build request, whichever builder serves it.
pub(crate) struct EngineBuild<'a> {
    pub platform: &'a str,
    /// The Dockerfile's name inside the context.
    pub dockerfile: &'a str,
    pub build_args: &'a BTreeMap<String, String>,
    /// Set on the image's config (BuildKit: no layer, no container).
    pub labels: &'a BTreeMap<String, String>,
    pub target: Option<&'a str>,
    pub no_cache: bool,
    pub pull: bool,
    /// The BuildKit session serving secrets.
    pub session: Option<&'a str>,
}

/// The build context's chunks as the request body reads them.
pub(crate) type ContextChunks = tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>;

/// The chunks as a stream, the shape both builders' request bodies take.
pub(crate) fn chunk_stream(
    chunks: ContextChunks,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + Sync + 'static {
    futures_util::stream::unfold(chunks, |mut chunks| async move {
        chunks.recv().await.map(|chunk| (chunk, chunks))
    })
}

/// Builds and returns the image id; the context is read from `chunks`.
pub(crate) async fn build(
    builder: Builder,
    engine: &Engine,
    request: &EngineBuild<'_>,
    chunks: ContextChunks,
    out: &mut Output<'_>,
    cancel: &CancellationToken,
) -> Result<String, ImageError> {
    match builder {
        Builder::Buildkit => buildkit::build(engine, request, chunks, out, cancel).await,
        Builder::Classic => classic::build(engine, request, chunks, out, cancel).await,
    }
}
