#!/bin/sh
# Installs the npm packages the tests use (each folder given holds a
# package.json and package-lock.json; `npm ci` installs exactly the locked
# versions). Installs Debian's nodejs and npm first when npm is missing (a
# machine that already has Node.js from elsewhere keeps it).
set -eu
cd "$(dirname "$0")/../.."
if ! command -v npm >/dev/null 2>&1; then
  build/scripts/install-packages.sh nodejs npm
fi
for d in "$@"; do
  npm ci --prefix "$d" --no-audit --no-fund --silent
done
