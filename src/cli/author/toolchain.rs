//! Finding a Rust toolchain that builds plugins to WebAssembly components,
//! on any Debian-like machine: Debian's own Rust (build-std from its source
//! package), or a rustup toolchain with the wasm32 target installed.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The wasm target plugins are built for: no WASI, only the contract.
pub(super) const TARGET: &str = "wasm32-unknown-unknown";

/// How to run cargo for a plugin build.
#[derive(Debug)]
pub(super) struct Toolchain {
    pub cargo: PathBuf,
    pub rustc: PathBuf,
    /// Links the wasm output into a component.
    pub linker: PathBuf,
    /// The standard library is built from source (Debian ships no wasm32 std).
    pub build_std: bool,
    pub description: String,
}

/// Why no toolchain was found, with what each way is missing.
#[derive(Debug)]
pub(super) struct Missing {
    pub debian: Vec<(String, &'static str)>,
    pub rustup: String,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let paths: Vec<&str> = self.debian.iter().map(|(p, _)| p.as_str()).collect();
        let mut packages: Vec<&str> = self.debian.iter().map(|(_, p)| *p).collect();
        packages.dedup();
        write!(
            f,
            "no toolchain builds WebAssembly plugins here.\n  Debian's Rust: missing {}\n    install: apt-get install {}\n  rustup: {}\n    install: rustup target add {TARGET} (wasm-component-ld ships with Rust 1.82 and later)",
            paths.join(", "),
            packages.join(" "),
            self.rustup
        )
    }
}

fn host_triple() -> String {
    format!("{}-unknown-linux-gnu", std::env::consts::ARCH)
}

/// Debian's packages: rustc-web and friends, std built from rust-web-src.
fn debian() -> Result<Toolchain, Vec<(String, &'static str)>> {
    let linker = format!("/usr/lib/rustlib/{}/bin/wasm-component-ld", host_triple());
    let needed: [(&str, &'static str); 5] = [
        ("/usr/bin/rustc", "rustc-web"),
        ("/usr/bin/cargo", "cargo-web"),
        ("/usr/lib/rustlib/src/rust/library", "rust-web-src"),
        (&linker, "rust-web-llvm"),
        // rust-web-llvm links rust-lld to it without depending on it.
        ("/usr/bin/ld.lld-22", "lld-22"),
    ];
    let missing: Vec<(String, &'static str)> = needed
        .iter()
        .filter(|(path, _)| !Path::new(path).exists())
        .map(|(path, package)| (path.to_string(), *package))
        .collect();
    if !missing.is_empty() {
        return Err(missing);
    }
    Ok(Toolchain {
        cargo: "/usr/bin/cargo".into(),
        rustc: "/usr/bin/rustc".into(),
        linker: linker.into(),
        build_std: true,
        description: "Debian's Rust (rustc-web), std built from source".into(),
    })
}

/// A rustup (or any) toolchain on PATH whose sysroot has the wasm32 std and
/// wasm-component-ld.
fn on_path() -> Result<Toolchain, String> {
    let output = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map_err(|e| format!("no `rustc` on PATH ({e})"))?;
    if !output.status.success() {
        return Err("`rustc --print sysroot` failed".into());
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let std = sysroot.join("lib/rustlib").join(TARGET).join("lib");
    if !std.is_dir() {
        return Err(format!(
            "{} has no {TARGET} standard library ({} is missing)",
            sysroot.display(),
            std.display()
        ));
    }
    let linker = sysroot
        .join("lib/rustlib")
        .join(host_triple())
        .join("bin/wasm-component-ld");
    if !linker.is_file() {
        return Err(format!(
            "{} is missing (Rust 1.82 or later ships it)",
            linker.display()
        ));
    }
    Ok(Toolchain {
        cargo: "cargo".into(),
        rustc: sysroot.join("bin/rustc"),
        linker,
        build_std: false,
        description: format!("the Rust toolchain at {}", sysroot.display()),
    })
}

/// Debian's toolchain first (what Slipway's own plugins build with), else
/// the one on PATH.
pub(super) fn find() -> Result<Toolchain, Missing> {
    let debian = match debian() {
        Ok(found) => return Ok(found),
        Err(missing) => missing,
    };
    on_path().map_err(|rustup| Missing { debian, rustup })
}

impl Toolchain {
    /// `cargo build --release` for the wasm target, configured on the
    /// command line so the plugin crate needs no machine-specific paths.
    pub fn build_command(&self, dir: &Path) -> Command {
        let mut command = Command::new(&self.cargo);
        command
            .arg("build")
            .arg("--release")
            .arg("--config")
            .arg(format!(
                "build.rustc={:?}",
                self.rustc.display().to_string()
            ))
            .arg("--config")
            .arg(format!("build.target={TARGET:?}"))
            .arg("--config")
            .arg(format!(
                "target.{TARGET}.linker={:?}",
                self.linker.display().to_string()
            ))
            .current_dir(dir)
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("RUSTC");
        if self.build_std {
            command
                .args(["-Z", "build-std=std,panic_abort"])
                // Debian's rustc is a stable compiler; build-std needs -Z.
                .env("RUSTC_BOOTSTRAP", "1");
        }
        command
    }
}
