#!/usr/bin/env bash
# The test command: installs what the tests need (idempotently), then runs
# formatting, lint and every test. Run as root on Debian.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# The wasm toolchain rebuilds the plugins from source to check the committed components.
bash scripts/install-wasm-toolchain.sh
# A real Docker engine with qemu emulation and the local base images the
# engine-backed tests build from.
bash scripts/setup-docker.sh
# The OCI registry the service tests push to (Debian's docker-registry).
bash scripts/setup-registry.sh 5055 "$root/target/tmp/registry"
# PostgreSQL for the scale-out tests (the store suite on both backends, replicas).
SLIPWAY_TEST_POSTGRES=$(bash scripts/setup-postgres.sh | tail -n 1)
case $SLIPWAY_TEST_POSTGRES in
postgres://*) export SLIPWAY_TEST_POSTGRES ;;
*) echo "test: setup-postgres.sh printed no URL: '$SLIPWAY_TEST_POSTGRES'" >&2; exit 1 ;;
esac
# Chromium and chromedriver for the dashboard's browser tests.
bash scripts/setup-browser.sh
# clang for the C plugin example (its build script installs what is missing).
command -v clang-22 >/dev/null 2>&1 && [ -d /usr/include/wasm32-wasi ] ||
    bash examples/c-plugin/build.sh "$(mktemp -d)/make-c.wasm" >/dev/null

# No engine-backed or toolchain-backed test may skip here.
export SLIPWAY_REQUIRE_DOCKER=1
export SLIPWAY_REQUIRE_TOOLCHAIN=1
export SLIPWAY_REQUIRE_POSTGRES=1

cargo fmt --check
# Unit tests of plugin logic that runs inside the sandbox (compose rules), on the host.
(cd plugins && cargo test --quiet --locked --target x86_64-unknown-linux-gnu -p slipway-plugin-compose)
cargo clippy --all-targets --locked -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --locked --no-fail-fast 2>&1 | tee "$log"
# One closing line for the whole run, summed over every test binary.
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
