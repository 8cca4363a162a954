//! Checking that a built image is for the platform it was built for.

/// `os/architecture[/variant]`, as Docker writes platforms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(text: &str) -> Platform {
        let mut parts = text.split('/');
        Platform {
            os: parts.next().unwrap_or_default().to_string(),
            architecture: parts.next().unwrap_or_default().to_string(),
            variant: parts.next().map(str::to_string).filter(|v| !v.is_empty()),
        }
    }

    /// The platform an engine reports for an image.
    pub fn of_image(image: &bollard::models::ImageInspect) -> Platform {
        Platform {
            os: image.os.clone().unwrap_or_default(),
            architecture: image.architecture.clone().unwrap_or_default(),
            variant: image.variant.clone().filter(|v| !v.is_empty()),
        }
    }

    /// Whether an image reporting `found` satisfies this platform. An arm64
    /// image may or may not spell out its only variant, `v8`.
    pub fn accepts(&self, found: &Platform) -> bool {
        if self.os != found.os || self.architecture != found.architecture {
            return false;
        }
        let implied = |p: &Platform| match (p.architecture.as_str(), p.variant.as_deref()) {
            ("arm64", None) => Some("v8".to_string()),
            (_, v) => v.map(str::to_string),
        };
        match &self.variant {
            None if self.architecture != "arm64" => true,
            _ => implied(self) == implied(found),
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Platform;

    #[test]
    fn variants() {
        let arm64 = Platform::parse("linux/arm64");
        assert!(arm64.accepts(&Platform::parse("linux/arm64")));
        assert!(arm64.accepts(&Platform::parse("linux/arm64/v8")));
        assert!(!arm64.accepts(&Platform::parse("linux/amd64")));
        let v7 = Platform::parse("linux/arm/v7");
        assert!(v7.accepts(&Platform::parse("linux/arm/v7")));
        assert!(!v7.accepts(&Platform::parse("linux/arm/v6")));
        assert!(!v7.accepts(&Platform::parse("linux/arm")));
        assert!(Platform::parse("linux/amd64").accepts(&Platform::parse("linux/amd64")));
    }
}
