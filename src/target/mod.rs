//! Device types: which architecture and Docker platform a device slug builds for.
//!
//! The table is data (`device-types.toml`), compiled into the binary.

use std::sync::OnceLock;

use crate::plan::Target;

// `DEVICE_TYPES`: `device-types.toml` turned into data by build.rs.
include!(concat!(env!("OUT_DIR"), "/device_types.rs"));

#[derive(Debug, thiserror::Error)]
pub enum DeviceTypeError {
    #[error("unknown device type `{slug}`{}", suggestion(.near))]
    Unknown { slug: String, near: Vec<String> },
}

fn suggestion(near: &[String]) -> String {
    if near.is_empty() {
        " (see `slipway device-types`)".to_string()
    } else {
        format!("; did you mean {}?", near.join(", "))
    }
}

/// A known device type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceType {
    pub slug: String,
    pub name: String,
    pub arch: String,
    pub platform: String,
}

impl DeviceType {
    pub fn target(&self) -> Target {
        Target {
            device_type: self.slug.clone(),
            arch: self.arch.clone(),
            platform: self.platform.clone(),
        }
    }
}

/// The device types this build of Slipway knows, by slug.
pub fn all() -> &'static [DeviceType] {
    static ALL: OnceLock<Vec<DeviceType>> = OnceLock::new();
    ALL.get_or_init(|| {
        DEVICE_TYPES
            .iter()
            .map(|(slug, name, arch, platform)| DeviceType {
                slug: slug.to_string(),
                name: name.to_string(),
                arch: arch.to_string(),
                platform: platform.to_string(),
            })
            .collect()
    })
}

/// Looks a slug up; an unknown one gets the closest known slugs as suggestions.
pub fn lookup(slug: &str) -> Result<DeviceType, DeviceTypeError> {
    let known = all();
    if let Some(found) = known.iter().find(|d| d.slug == slug) {
        return Ok(found.clone());
    }
    let mut scored: Vec<(f64, &str)> = known
        .iter()
        .map(|d| {
            // A slug the user typed the start of is the likeliest meaning.
            let score = if d.slug.starts_with(slug) {
                2.0
            } else {
                strsim::jaro_winkler(slug, &d.slug)
            };
            (score, d.slug.as_str())
        })
        .filter(|(score, _)| *score >= 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    Err(DeviceTypeError::Unknown {
        slug: slug.to_string(),
        near: scored
            .into_iter()
            .take(3)
            .map(|(_, s)| s.to_string())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_slugs_to_arch_and_platform() {
        let pi4 = lookup("raspberrypi4-64").unwrap();
        assert_eq!(
            (pi4.arch.as_str(), pi4.platform.as_str()),
            ("aarch64", "linux/arm64")
        );
        let pi1 = lookup("raspberry-pi").unwrap();
        assert_eq!(
            (pi1.arch.as_str(), pi1.platform.as_str()),
            ("rpi", "linux/arm/v6")
        );
        let x86 = lookup("qemux86").unwrap();
        assert_eq!(
            (x86.arch.as_str(), x86.platform.as_str()),
            ("i386", "linux/386")
        );
        assert_eq!(all().len(), 14);
    }

    #[test]
    fn unknown_slug_suggests_near_matches() {
        let err = lookup("raspberrypi4").unwrap_err().to_string();
        assert!(err.contains("unknown device type `raspberrypi4`"), "{err}");
        assert!(err.contains("raspberrypi4-64"), "{err}");
    }
}
