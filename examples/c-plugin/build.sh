#!/usr/bin/env bash
# Builds the C plugin to a WebAssembly component: clang for wasm32 with
# wasi-libc's string and malloc functions (no WASI imports: no stdio), linked
# by the same component linker as the Rust plugins. The bindings in gen/ come
# from `wit-bindgen c ../../wit/plugin.wit --world detector --out-dir gen` (0.63) and are
# committed, so building needs only the Debian packages below.
#
#   bash examples/c-plugin/build.sh [OUT.wasm]
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/make-c.wasm}
need=()
command -v clang-22 >/dev/null 2>&1 || need+=(clang-22)
[ -d /usr/lib/llvm-22/lib/clang/22/lib/wasi ] || need+=(libclang-rt-22-dev-wasm32)
[ -d /usr/include/wasm32-wasi ] || need+=(wasi-libc)
if [ ${#need[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
linker=/usr/lib/rustlib/x86_64-unknown-linux-gnu/bin/wasm-component-ld
[ -x "$linker" ] || bash "$here/../../scripts/install-wasm-toolchain.sh"
cd "$here"
clang-22 --target=wasm32-wasi -Wno-deprecated -O2 -mexec-model=reactor -s \
    -fuse-ld="$linker" \
    -o "$out" plugin.c gen/detector.c gen/detector_component_type.o
echo "$out"
