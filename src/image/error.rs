//! Why an image was not built.

use super::context::ContextError;
use super::engine_api::ApiError;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error("engine {endpoint}: {message}")]
    Engine { endpoint: String, message: String },
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("step {step} failed: {message}{hint}")]
    Step {
        step: String,
        message: String,
        /// What the user can do about it, when Slipway knows (starts with a newline).
        hint: String,
    },
    #[error(
        "step {step}: the engine cannot run {platform} programs (exec format error): no emulation \
         for that architecture is registered. Run `bash scripts/setup-docker.sh` to register \
         qemu with binfmt_misc, or map the arch to a native engine with `--engine ARCH=ENDPOINT`"
    )]
    NoEmulation { step: String, platform: String },
    #[error("the image was built for {found}, not {expected}: the base image is probably for another architecture")]
    PlatformMismatch { expected: String, found: String },
    #[error(
        "step {step}: the base image `{image}` is on the engine for {found} only, not {expected} \
         (BuildKit then asked its registry, which failed: {message}); use a base image built for \
         {expected}"
    )]
    BaseImagePlatform {
        step: String,
        image: String,
        expected: String,
        found: String,
        message: String,
    },
    #[error("cancelled")]
    Cancelled,
    /// Another service's build of the same layers failed.
    #[error("shares its image build with service `{service}`, which failed: {message}")]
    SharedBuild { service: String, message: String },
    /// The build task ended without a result (it panicked): a bug, recorded as a failure.
    #[error("the build task of this image stopped unexpectedly: {0}")]
    Aborted(String),
}

impl ImageError {
    pub fn step(&self) -> Option<&str> {
        match self {
            ImageError::Step { step, .. }
            | ImageError::NoEmulation { step, .. }
            | ImageError::BaseImagePlatform { step, .. } => Some(step),
            _ => None,
        }
    }
}

/// What to tell the user about a failed step whose Dockerfile uses
/// something the engine's built-in Dockerfile frontend cannot do.
pub fn frontend_hint(dockerfile: &str, message: &str) -> String {
    let syntax_directive = dockerfile
        .lines()
        .take_while(|line| line.trim_start().starts_with('#'))
        .any(|line| {
            line.trim_start_matches('#')
                .trim()
                .to_ascii_lowercase()
                .starts_with("syntax")
        });
    let heredoc = dockerfile.lines().any(|line| {
        let upper = line.trim_start().to_ascii_uppercase();
        (upper.starts_with("RUN") || upper.starts_with("COPY")) && line.contains("<<")
    });
    if syntax_directive
        && (message.contains("docker.io")
            || message.contains("resolve")
            || message.contains("pull")
            || message.contains("frontend"))
    {
        "\nhint: the Dockerfile's `# syntax=` line asks the engine to pull a Dockerfile frontend \
         image from a registry, which this engine cannot reach; remove the line to build with \
         the engine's built-in frontend"
            .to_string()
    } else if heredoc {
        "\nhint: heredocs (`RUN <<EOF`) need Dockerfile frontend 1.4 or newer; this engine's \
         built-in frontend does not parse them and a newer one (`# syntax=`) must be pulled from \
         a registry: write the script to a file and COPY it, or use `RUN` with `&&`"
            .to_string()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::frontend_hint;

    #[test]
    fn hints_name_the_unsupported_feature() {
        let syntax = "# syntax=docker/dockerfile:1\nFROM busybox\n";
        assert!(
            frontend_hint(syntax, "failed to resolve docker.io/docker/dockerfile:1")
                .contains("`# syntax=`")
        );
        let heredoc = "FROM busybox\nRUN <<EOF\necho hi\nEOF\n";
        assert!(frontend_hint(heredoc, "unknown instruction: ECHO").contains("heredocs"));
        assert_eq!(
            frontend_hint("FROM busybox\nRUN false\n", "exit code: 1"),
            ""
        );
    }
}
