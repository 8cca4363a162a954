//! Embeds the committed built-in plugin components (plugins/dist/*.wasm) in
//! the binary, with their sha256 computed once here rather than at every run.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use sha2::{Digest, Sha256};

/// In the order the host loads them.
const BUILTINS: [&str; 10] = [
    "compose",
    "arch-dockerfile",
    "dockerfile-template",
    "dockerfile",
    "node",
    "python",
    "go",
    "rust",
    "static",
    "procfile",
];

fn main() {
    pack_relative_relocations();
    let root = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let mut code = String::from("pub(crate) const BUILTINS: &[Builtin] = &[\n");
    for name in BUILTINS {
        let path = Path::new(&root)
            .join("plugins/dist")
            .join(format!("{name}.wasm"));
        println!("cargo:rerun-if-changed={}", path.display());
        let bytes = fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; build the plugins with scripts/build-plugins.sh",
                path.display()
            )
        });
        let digest = Sha256::digest(&bytes);
        let mut hex = String::new();
        for b in digest {
            write!(hex, "{b:02x}").expect("writing to a String");
        }
        writeln!(
            code,
            "    Builtin {{ name: {name:?}, sha256: {hex:?}, bytes: include_bytes!({:?}) }},",
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    code.push_str("];\n");
    let out_dir = env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    fs::write(Path::new(&out_dir).join("builtins.rs"), code).expect("writing builtins.rs");
    fs::write(Path::new(&out_dir).join("sdk_files.rs"), sdk_files(&root))
        .expect("writing sdk_files.rs");
    fs::write(
        Path::new(&out_dir).join("device_types.rs"),
        device_types(&root),
    )
    .expect("writing device_types.rs");
}

/// The device-type table (`src/target/device-types.toml`) as Rust data, so
/// no run parses TOML to look a slug up: `(slug, name, arch, platform)`,
/// by slug. A device type naming an arch the table lacks fails the build.
fn device_types(root: &str) -> String {
    let path = Path::new(root).join("src/target/device-types.toml");
    println!("cargo:rerun-if-changed={}", path.display());
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let table: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let section = |name: &str| {
        table
            .get(name)
            .and_then(toml::Value::as_table)
            .unwrap_or_else(|| panic!("{}: no [{name}] table", path.display()))
    };
    let text_of = |entry: &toml::Value, key: &str, what: &str| -> String {
        entry
            .get(key)
            .and_then(toml::Value::as_str)
            .unwrap_or_else(|| panic!("{}: {what} has no `{key}` string", path.display()))
            .to_string()
    };
    let arches = section("arch");
    let mut code =
        String::from("pub(super) const DEVICE_TYPES: &[(&str, &str, &str, &str)] = &[\n");
    let mut slugs: Vec<_> = section("device-types").iter().collect();
    slugs.sort_by(|a, b| a.0.cmp(b.0));
    for (slug, entry) in slugs {
        let arch = text_of(entry, "arch", slug);
        let platform = arches
            .get(&arch)
            .map(|a| text_of(a, "platform", &arch))
            .unwrap_or_else(|| panic!("{}: {slug} names unknown arch {arch}", path.display()));
        let name = text_of(entry, "name", slug);
        writeln!(code, "    ({slug:?}, {name:?}, {arch:?}, {platform:?}),")
            .expect("writing to a String");
    }
    code.push_str("];\n");
    code
}

/// The plugin SDK and contract this binary speaks, embedded so that
/// `slipway plugin new` works from an installed binary, far from any checkout:
/// (path in the repository, text) for the SDK crate, its workspace manifest
/// and lockfile, and the WIT contract.
fn sdk_files(root: &str) -> String {
    let mut files = vec![
        "plugins/Cargo.toml".to_string(),
        "plugins/Cargo.lock".to_string(),
        "plugins/sdk/Cargo.toml".to_string(),
        "wit/plugin.wit".to_string(),
    ];
    let src = Path::new(root).join("plugins/sdk/src");
    println!("cargo:rerun-if-changed={}", src.display());
    let mut sources: Vec<String> = fs::read_dir(&src)
        .unwrap_or_else(|e| panic!("{}: {e}", src.display()))
        .map(|entry| entry.expect("listing plugins/sdk/src").file_name())
        .map(|name| format!("plugins/sdk/src/{}", name.to_string_lossy()))
        .filter(|path| path.ends_with(".rs"))
        .collect();
    sources.sort();
    files.extend(sources);
    let mut code = String::from("pub(crate) const SDK_FILES: &[(&str, &str)] = &[\n");
    for file in files {
        let path = Path::new(root).join(&file);
        println!("cargo:rerun-if-changed={}", path.display());
        writeln!(
            code,
            "    ({file:?}, include_str!({:?})),",
            path.display().to_string()
        )
        .expect("writing to a String");
    }
    code.push_str("];\n");
    code
}

/// Start-up: the dynamic loader applies every relative relocation of this
/// position-independent binary (about 45,000 pointers in static tables).
/// In packed form (DT_RELR: glibc 2.36, GNU ld 2.38) the table is a few KB
/// instead of a megabyte read and walked at each start. Linux GNU targets
/// only; elsewhere the default table is kept.
fn pack_relative_relocations() {
    let target = env::var("TARGET").unwrap_or_default();
    if target.ends_with("-linux-gnu") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
