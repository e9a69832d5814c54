#!/bin/sh
# Installs what the web SDK end-to-end test (app/sim/websdk) needs besides
# Chromium: node and npm, then the pinned node modules (Cybrid's web SDK and
# puppeteer-core) from app/sim/websdk/testdata/package-lock.json with npm ci.
# npm ci runs only when node_modules is missing or older than package.json or
# package-lock.json (the test applies the same rule). Node from NodeSource
# bundles npm: Debian's npm package is installed only when npm is missing.
set -eu
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="$root/app/sim/websdk/testdata"
command -v node >/dev/null 2>&1 || "$root/build/scripts/install-packages.sh" nodejs
command -v npm >/dev/null 2>&1 || "$root/build/scripts/install-packages.sh" npm
stamp="$dir/node_modules/.package-lock.json"
if [ -f "$stamp" ] && [ ! "$dir/package-lock.json" -nt "$stamp" ] && [ ! "$dir/package.json" -nt "$stamp" ]; then
  exit 0
fi
echo "linkdesk: installing the web SDK test's node modules (npm ci in app/sim/websdk/testdata)"
cd "$dir"
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
