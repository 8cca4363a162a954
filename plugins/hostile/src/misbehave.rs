//! Each feature does its harm in `detect`, the call every plugin gets.

use slipway_plugin_sdk::{
    export_plugin, BuildPlan, Detection, Plugin, PluginError, PluginInfo, Scope, Target,
    CONTRACT_VERSION,
};

const NAME: &str = if cfg!(feature = "infinite-loop") {
    "hostile-infinite-loop"
} else if cfg!(feature = "memory-hog") {
    "hostile-memory-hog"
} else if cfg!(feature = "parent-path") {
    "hostile-parent-path"
} else if cfg!(feature = "absolute-path") {
    "hostile-absolute-path"
} else if cfg!(feature = "symlink-escape") {
    "hostile-symlink-escape"
} else if cfg!(feature = "huge-read") {
    "hostile-huge-read"
} else if cfg!(feature = "huge-output") {
    "hostile-huge-output"
} else {
    "hostile-panic"
};

fn harm() -> Result<Option<Detection>, PluginError> {
    #[cfg(feature = "infinite-loop")]
    {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }
    #[cfg(feature = "memory-hog")]
    {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(std::hint::black_box(vec![7u8; 1 << 20]));
        }
    }
    #[cfg(any(
        feature = "parent-path",
        feature = "absolute-path",
        feature = "symlink-escape",
        feature = "huge-read"
    ))]
    {
        let path = if cfg!(feature = "parent-path") {
            "../outside/secret.txt"
        } else if cfg!(feature = "absolute-path") {
            "/etc/passwd"
        } else if cfg!(feature = "symlink-escape") {
            "escape/secret.txt"
        } else {
            "huge.bin"
        };
        // What was read becomes the project type, so a leak would show in the output.
        let bytes = slipway_plugin_sdk::fs::read_bytes(path)?.unwrap_or_default();
        return Ok(Some(Detection {
            project_type: String::from_utf8_lossy(&bytes).into_owned(),
            evidence: Vec::new(),
        }));
    }
    #[cfg(feature = "huge-output")]
    {
        return Ok(Some(Detection {
            project_type: "x".repeat(32 << 20),
            evidence: Vec::new(),
        }));
    }
    #[cfg(feature = "panic")]
    {
        let items: Vec<u32> = std::hint::black_box(Vec::new());
        panic!("hostile plugin panics on purpose: {}", items[3]);
    }
    #[allow(unreachable_code)]
    Ok(None)
}

struct Hostile;

impl Plugin for Hostile {
    fn info() -> PluginInfo {
        PluginInfo {
            name: NAME.into(),
            version: "0.1.0".into(),
            contract_version: CONTRACT_VERSION.into(),
            priority: 50,
            scope: Scope::Service,
            description: "misbehaves on purpose, for the sandbox tests".into(),
            // Always asked, so that every harm is tried.
            looks_for: Vec::new(),
        }
    }

    fn detect(_target: Target) -> Result<Option<Detection>, PluginError> {
        harm()
    }

    fn plan(_target: Target) -> Result<BuildPlan, PluginError> {
        Err(PluginError::Failed("hostile plugins plan nothing".into()))
    }
}

export_plugin!(Hostile);
