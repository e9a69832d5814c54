#!/bin/sh
# Installs the given Debian/Ubuntu packages when any is missing. Uses sudo when
# not root. Prints what it installs; does nothing when all are present.
set -eu
missing=""
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "linkdesk: missing system packages:$missing" >&2
  echo "linkdesk: this machine has no apt-get; install their equivalents with your package manager." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "linkdesk: missing system packages:$missing — run as root or install sudo." >&2; exit 1
  fi
fi
echo "linkdesk: installing system packages:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
