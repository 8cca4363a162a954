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
    let out = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("builtins.rs");
    fs::write(out, code).expect("writing builtins.rs");
}
