#!/usr/bin/env bash
# Installs the toolchain that builds plugins to WebAssembly components:
# Debian's Rust 1.96 with its std sources (build-std) and the component linker.
# Idempotent: does nothing when everything is already there.
set -euo pipefail

have_toolchain() {
    [ -x /usr/bin/rustc ] &&
        [ -x /usr/lib/rustlib/x86_64-unknown-linux-gnu/bin/wasm-component-ld ] &&
        [ -d /usr/lib/rustlib/src/rust/library ] &&
        command -v ld.lld-22 >/dev/null 2>&1
}

if have_toolchain; then
    exit 0
fi

echo "installing the wasm plugin toolchain (Debian rustc-web, rust-web-src, lld-22)..." >&2
export DEBIAN_FRONTEND=noninteractive
# A mirror mid-sync can fail one index (after foreign architectures were
# added, say); the packages come from main, so go on and let install decide.
apt-get update -qq || echo "install-wasm-toolchain: apt-get update reported errors; trying the install anyway" >&2
# lld-22 is named explicitly: rust-web-llvm links rust-lld to it without depending on it.
apt-get install -y -qq --no-install-recommends \
    rustc-web cargo-web rust-web-src rust-web-llvm lld-22 >/dev/null
have_toolchain || { echo "wasm toolchain still incomplete after install" >&2; exit 1; }
