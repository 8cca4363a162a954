//! The base-image catalogue plugins choose from (`base-images.toml`).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

const BASE_IMAGES: &str = include_str!("base-images.toml");

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseImage {
    pub version: String,
    pub image: String,
    pub is_default: bool,
}

#[derive(Deserialize)]
struct Catalogue {
    runtimes: BTreeMap<String, Runtime>,
}

#[derive(Deserialize)]
struct Runtime {
    default: String,
    repositories: BTreeMap<String, String>,
    versions: Vec<VersionEntry>,
}

#[derive(Deserialize)]
struct VersionEntry {
    version: String,
    tag: String,
}

/// Parsed once per process. The catalogue is compiled in and checked by a
/// unit test, so a parse failure cannot come from user input.
fn catalogue() -> Option<&'static Catalogue> {
    static CATALOGUE: OnceLock<Option<Catalogue>> = OnceLock::new();
    CATALOGUE
        .get_or_init(|| toml::from_str(BASE_IMAGES).ok())
        .as_ref()
}

/// The images of `runtime` for `arch`, newest first; empty when nothing is offered.
pub fn base_images(runtime: &str, arch: &str) -> Vec<BaseImage> {
    let Some(catalogue) = catalogue() else {
        return Vec::new();
    };
    let Some(runtime) = catalogue.runtimes.get(runtime) else {
        return Vec::new();
    };
    let Some(repository) = runtime.repositories.get(arch) else {
        return Vec::new();
    };
    runtime
        .versions
        .iter()
        .map(|v| BaseImage {
            version: v.version.clone(),
            image: format!("{repository}:{}", v.tag),
            is_default: v.version == runtime.default,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_parses_and_has_one_default_node() {
        toml::from_str::<Catalogue>(BASE_IMAGES).expect("base-images.toml parses");
        let images = base_images("node", "aarch64");
        assert!(images.len() >= 3);
        assert_eq!(images.iter().filter(|i| i.is_default).count(), 1);
        assert!(images.iter().all(|i| i.image.starts_with("arm64v8/node:")));
        assert!(base_images("node", "sparc").is_empty());
        assert!(base_images("cobol", "amd64").is_empty());
    }
}
