//! An app: a named fleet project with the device types it builds for.
//! Its name ends up in paths (the git repo), image names and URLs, so only
//! a safe alphabet is accepted.

use serde::Serialize;

use crate::target::{self, DeviceType};

/// The longest app name (fits a registry path component with room to spare).
pub const MAX_NAME: usize = 63;

#[derive(Debug, Clone, Serialize)]
pub struct App {
    pub name: String,
    pub device_types: Vec<String>,
    pub created_at_ms: i64,
    /// The fleet's target release (devices without a pin or rollout run it).
    pub target_release: Option<i64>,
    /// Each new successful release becomes the target (the default).
    pub track_latest: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AppError {
    #[error("name `{0}`: use 1 to 63 lowercase letters, digits and dashes, starting with a letter or digit")]
    BadName(String),
    #[error("device_types: give at least one device type")]
    NoDeviceType,
    #[error("device_types: {0}")]
    DeviceType(String),
}

/// Checks an app name: `[a-z0-9][a-z0-9-]{0,62}`.
pub fn check_name(name: &str) -> Result<(), AppError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(AppError::BadName(name.chars().take(80).collect()))
    }
}

impl App {
    /// A new app, checked.
    pub fn new(name: &str, device_types: &[String], now_ms: i64) -> Result<App, AppError> {
        check_name(name)?;
        if device_types.is_empty() {
            return Err(AppError::NoDeviceType);
        }
        for slug in device_types {
            target::lookup(slug).map_err(|e| AppError::DeviceType(e.to_string()))?;
        }
        let mut unique: Vec<String> = Vec::new();
        for slug in device_types {
            if !unique.contains(slug) {
                unique.push(slug.clone());
            }
        }
        Ok(App {
            name: name.to_string(),
            device_types: unique,
            created_at_ms: now_ms,
            target_release: None,
            track_latest: true,
        })
    }

    /// The app's device types, resolved (unknown ones, from a newer writer, skipped).
    pub fn targets(&self) -> Vec<DeviceType> {
        self.device_types
            .iter()
            .filter_map(|slug| target::lookup(slug).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["a", "my-app", "app2", &"a".repeat(63)] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "-a",
            "A",
            "a/b",
            "..",
            "a b",
            "a_b",
            &"a".repeat(64),
            "ä",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn device_types_are_checked() {
        assert!(App::new("a", &["raspberrypi4-64".into()], 0).is_ok());
        let error = App::new("a", &["toaster".into()], 0).unwrap_err();
        assert!(error.to_string().starts_with("device_types: "), "{error}");
        assert_eq!(App::new("a", &[], 0).unwrap_err(), AppError::NoDeviceType);
    }
}
