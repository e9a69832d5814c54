#!/bin/sh
# Installs the npm packages the tests use: each folder given holds a
# package.json and package-lock.json, and `npm ci` installs exactly the
# locked versions (scripts off). It runs only when the folder's node_modules
# is missing or older than its package.json or package-lock.json (the web
# SDK test, app/sim/websdk, applies the same rule). Node from NodeSource
# bundles npm: Debian's nodejs and npm are installed only when missing.
set -eu
root="$(cd "$(dirname "$0")/../.." && pwd)"
command -v node >/dev/null 2>&1 || "$root/build/scripts/install-packages.sh" nodejs
command -v npm >/dev/null 2>&1 || "$root/build/scripts/install-packages.sh" npm
for d in "$@"; do
  dir="$root/$d"
  stamp="$dir/node_modules/.package-lock.json"
  if [ -f "$stamp" ] && [ ! "$dir/package-lock.json" -nt "$stamp" ] && [ ! "$dir/package.json" -nt "$stamp" ]; then
    continue
  fi
  echo "linkdesk: installing the node modules of $d (npm ci)"
  (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
done
