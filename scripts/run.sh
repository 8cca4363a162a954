#!/usr/bin/env bash
# The main job: builds Slipway, sets up a local Docker engine with emulation
# (idempotent), builds an example project for a 64-bit ARM device and an x86
# one in one release, and prints that release. Run as root on Debian.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/setup-docker.sh
cargo build --release --locked --quiet
slipway=target/release/slipway

echo "== slipway detect examples/multiarch-template --device-type raspberrypi4-64"
"$slipway" detect examples/multiarch-template --device-type raspberrypi4-64
echo
echo "== slipway build examples/multiarch-template --device-type raspberrypi4-64 --device-type intel-nuc"
"$slipway" build examples/multiarch-template --device-type raspberrypi4-64 --device-type intel-nuc
echo
release=$("$slipway" releases --app multiarch-template --limit 1 --json | sed -n 's/^    "id": \([0-9]*\),$/\1/p' | head -n 1)
echo "== slipway release show $release"
"$slipway" release show "$release"
echo
echo "== what each image recorded while it was built (uname -m, device type)"
for tag in $("$slipway" release show "$release" --json | sed -n 's/^ *"reference": "\(.*\)",$/\1/p'); do
    printf '%s: ' "$tag"
    docker run --rm "$tag" 2>/dev/null | tr '\n' ' '
    echo
done
echo
"$slipway" releases
