//! Preload files: a release's images for one device type and its target
//! state, for devices that must run before they ever reach the server
//! (factory images, offline installs). `slipway preload` writes one; `slipway
//! agent --preload FILE` loads and starts it with no network.
//!
//! The file is a tar of two entries: `preload.json` (format, target state,
//! and each image reference's image id) and then `images.tar` (the engine's
//! own image export). `docker load` does not keep digest references, so the
//! agent creates a preloaded service from its image id when its digest
//! reference is absent.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::engine::AgentEngine;
use super::ports::DeviceEngine;
use super::target::TargetState;

const FORMAT: u32 = 1;
const MANIFEST: &str = "preload.json";
const IMAGES: &str = "images.tar";
/// The largest `preload.json` read.
const MAX_MANIFEST: u64 = 1 << 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub device_type: String,
    pub target: TargetState,
    /// Image reference (as in the target) -> image id.
    pub images: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PreloadError {
    #[error("preload file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("preload file {path}: {reason}")]
    Invalid { path: String, reason: String },
    #[error("the engine: {0}")]
    Engine(String),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> PreloadError + '_ {
    move |source| PreloadError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Pulls the target's images on `engine`, exports them and writes `out`.
pub async fn write(
    engine: &AgentEngine,
    target: TargetState,
    device_type: &str,
    out: &Path,
) -> Result<Manifest, PreloadError> {
    let mut images = BTreeMap::new();
    for spec in target.services.values() {
        engine
            .pull(&spec.image)
            .await
            .map_err(|e| PreloadError::Engine(e.to_string()))?;
        let inspected = engine
            .docker
            .inspect_image(&spec.image)
            .await
            .map_err(|e| PreloadError::Engine(format!("{}: {e}", spec.image)))?;
        let id = inspected
            .id
            .ok_or_else(|| PreloadError::Engine(format!("{}: no image id", spec.image)))?;
        images.insert(spec.image.clone(), id);
    }
    let manifest = Manifest {
        format: FORMAT,
        device_type: device_type.to_string(),
        target,
        images,
    };
    // The export streams to a file beside the output, then goes in whole.
    let exported = out.with_extension("images.partial");
    {
        let mut file = tokio::fs::File::create(&exported)
            .await
            .map_err(io(&exported))?;
        let names: Vec<&str> = manifest.images.keys().map(String::as_str).collect();
        let mut stream = engine.docker.export_images(&names);
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| PreloadError::Engine(format!("exporting images: {e}")))?;
            tokio::io::AsyncWriteExt::write_all(&mut file, &chunk)
                .await
                .map_err(io(&exported))?;
        }
        tokio::io::AsyncWriteExt::flush(&mut file)
            .await
            .map_err(io(&exported))?;
    }
    let json = serde_json::to_vec_pretty(&manifest).expect("a manifest serialises");
    let (out_path, exported_path) = (out.to_path_buf(), exported.clone());
    tokio::task::spawn_blocking(move || -> Result<(), PreloadError> {
        let partial = out_path.with_extension("partial");
        let file = std::fs::File::create(&partial).map_err(io(&partial))?;
        let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
        let mut header = tar::Header::new_gnu();
        header.set_size(json.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, MANIFEST, json.as_slice())
            .map_err(io(&partial))?;
        let mut images = std::fs::File::open(&exported_path).map_err(io(&exported_path))?;
        tar.append_file(IMAGES, &mut images).map_err(io(&partial))?;
        let mut writer = tar.into_inner().map_err(io(&partial))?;
        writer.flush().map_err(io(&partial))?;
        writer.get_ref().sync_all().map_err(io(&partial))?;
        std::fs::rename(&partial, &out_path).map_err(io(&out_path))?;
        let _ = std::fs::remove_file(&exported_path);
        Ok(())
    })
    .await
    .map_err(|e| PreloadError::Engine(e.to_string()))??;
    Ok(manifest)
}

/// Reads the manifest and where `images.tar` lies in the file.
fn locate(path: &Path) -> Result<(Manifest, u64, u64), PreloadError> {
    let invalid = |reason: &str| PreloadError::Invalid {
        path: path.display().to_string(),
        reason: reason.to_string(),
    };
    let file = std::fs::File::open(path).map_err(io(path))?;
    let mut archive = tar::Archive::new(file);
    let mut manifest: Option<Manifest> = None;
    for entry in archive.entries().map_err(io(path))? {
        let mut entry = entry.map_err(io(path))?;
        let name = entry
            .path()
            .map_err(io(path))?
            .to_string_lossy()
            .into_owned();
        match name.as_str() {
            MANIFEST => {
                if entry.size() > MAX_MANIFEST {
                    return Err(invalid("preload.json is over 1 MiB"));
                }
                let mut text = Vec::new();
                entry.read_to_end(&mut text).map_err(io(path))?;
                let parsed: Manifest = serde_json::from_slice(&text)
                    .map_err(|e| invalid(&format!("preload.json: {e}")))?;
                if parsed.format != FORMAT {
                    return Err(invalid(&format!(
                        "format {} (this agent reads format {FORMAT})",
                        parsed.format
                    )));
                }
                manifest = Some(parsed);
            }
            IMAGES => {
                let manifest = manifest.ok_or_else(|| invalid("images.tar before preload.json"))?;
                return Ok((manifest, entry.raw_file_position(), entry.size()));
            }
            other => return Err(invalid(&format!("unexpected entry `{other}`"))),
        }
    }
    Err(invalid("no images.tar"))
}

/// Loads the file's images into `engine` (streamed from the file) and
/// returns its manifest.
pub async fn load(engine: &AgentEngine, path: &Path) -> Result<Manifest, PreloadError> {
    let owned = path.to_path_buf();
    let (manifest, offset, size) = tokio::task::spawn_blocking(move || locate(&owned))
        .await
        .map_err(|e| PreloadError::Engine(e.to_string()))??;
    let mut file = std::fs::File::open(path).map_err(io(path))?;
    file.seek(SeekFrom::Start(offset)).map_err(io(path))?;
    let reader = tokio::io::AsyncReadExt::take(tokio::fs::File::from_std(file), size);
    let stream = tokio_util::io::ReaderStream::new(reader);
    let mut progress = engine.docker.import_image_stream(
        bollard::query_parameters::ImportImageOptions {
            quiet: true,
            ..Default::default()
        },
        stream,
        None,
    );
    while let Some(item) = progress.next().await {
        let item = item.map_err(|e| PreloadError::Engine(format!("loading images: {e}")))?;
        if let Some(error) = item.error_detail.and_then(|d| d.message) {
            return Err(PreloadError::Engine(format!("loading images: {error}")));
        }
    }
    Ok(manifest)
}
