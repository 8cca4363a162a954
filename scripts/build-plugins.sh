#!/usr/bin/env bash
# Builds the built-in plugins (plugins/dist/) and the hostile test plugins
# (tests/fixtures/hostile-plugins/) to WebAssembly components, reproducibly.
#
#   scripts/build-plugins.sh           build and refresh the committed components
#   scripts/build-plugins.sh --check   build elsewhere and fail if the committed ones differ
#
# The toolchain is Debian's Rust with build-std (see scripts/install-wasm-toolchain.sh);
# paths are remapped so the bytes do not depend on where the repository lives.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
check=false
[ "${1:-}" = "--check" ] && check=true

bash "$root/scripts/install-wasm-toolchain.sh"

builtins=(dockerfile arch-dockerfile dockerfile-template node compose python go rust static procfile)
hostile=(infinite-loop memory-hog parent-path absolute-path symlink-escape huge-read huge-output panic wasi-import future-contract)

cargo_home=${CARGO_HOME:-$HOME/.cargo}
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${SLIPWAY_PLUGIN_TARGET_DIR:-$root/plugins/target}
export RUSTFLAGS="--remap-path-prefix=$root=/slipway --remap-path-prefix=$cargo_home=/cargo"
unset CARGO_BUILD_TARGET CARGO_ENCODED_RUSTFLAGS
built=$CARGO_TARGET_DIR/wasm32-unknown-unknown/release

if $check; then
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
else
    out=$root
fi
mkdir -p "$out/plugins/dist" "$out/tests/fixtures/hostile-plugins"

# cargo reads plugins/.cargo/config.toml only when run from plugins/.
cd "$root/plugins"
packages=()
for name in "${builtins[@]}"; do packages+=(-p "slipway-plugin-$name"); done
/usr/bin/cargo build --quiet --release --locked "${packages[@]}"
for name in "${builtins[@]}"; do
    cp "$built/slipway_plugin_${name//-/_}.wasm" "$out/plugins/dist/$name.wasm"
done
for feature in "${hostile[@]}"; do
    /usr/bin/cargo build --quiet --release --locked -p slipway-hostile-plugin --features "$feature"
    cp "$built/slipway_hostile_plugin.wasm" "$out/tests/fixtures/hostile-plugins/$feature.wasm"
done
mkdir -p "$out/tests/fixtures/custom-plugins"
/usr/bin/cargo build --quiet --release --locked -p slipway-hostile-plugin --features custom-language
cp "$built/slipway_hostile_plugin.wasm" "$out/tests/fixtures/custom-plugins/deno.wasm"
mkdir -p "$out/tests/fixtures/legacy-plugins"
/usr/bin/cargo build --quiet --release --locked -p slipway-hostile-plugin --features legacy-contract
cp "$built/slipway_hostile_plugin.wasm" "$out/tests/fixtures/legacy-plugins/legacy-ini.wasm"

if $check; then
    status=0
    for f in "$out"/plugins/dist/*.wasm "$out"/tests/fixtures/hostile-plugins/*.wasm "$out"/tests/fixtures/custom-plugins/*.wasm "$out"/tests/fixtures/legacy-plugins/*.wasm; do
        rel=${f#"$out"/}
        if ! cmp -s "$f" "$root/$rel"; then
            echo "MISMATCH: $rel differs from a build of its sources (run scripts/build-plugins.sh and commit)" >&2
            status=1
        fi
    done
    [ $status -eq 0 ] && echo "plugin components match their sources (${#builtins[@]} built-in, ${#hostile[@]} hostile, 1 custom, 1 legacy)"
    exit $status
fi
ls -l "$root"/plugins/dist/*.wasm
