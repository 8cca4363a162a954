#!/usr/bin/env bash
# The main job: builds Slipway and shows what it makes of the example
# projects, for a 64-bit ARM device and an x86 one. Run as root on Debian.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

cargo build --release --locked --quiet
slipway=target/release/slipway

for project in examples/compose-five-services examples/node-hello examples/multiarch-template; do
    for device in raspberrypi4-64 intel-nuc; do
        echo "== slipway detect $project --device-type $device"
        "$slipway" detect "$project" --device-type "$device"
        echo
    done
done
"$slipway" plugin list
