#!/usr/bin/env bash
# Debian's Chromium and its matching chromedriver, for the dashboard's
# browser tests and benchmarks. Idempotent; a partial `apt-get update`
# failure is tolerated (the install says whether it worked).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
echo "setup-browser: installing chromium and chromium-driver" >&2
apt-get update -qq >/dev/null 2>&1 || echo "setup-browser: apt-get update reported errors; trying the install anyway" >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
command -v chromedriver >/dev/null
