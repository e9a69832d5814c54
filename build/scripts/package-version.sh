#!/bin/sh
# Prints linkdesk's version: `git describe --tags --always --dirty` (a tag
# like v1.2.3, v1.2.3-4-gabc1234, or a bare commit abc1234, each maybe
# "-dirty"), or "dev" where there is no git or no repository.
#
#   package-version.sh          the version, as `linkdesk version` prints it
#   package-version.sh --deb [VERSION]
#                               that version (or VERSION) as a Debian version,
#                               which must start with a digit and sort sensibly:
#                               v1.2.3 → 1.2.3, v1.2.3-4-gabc1234-dirty →
#                               1.2.3+4.gabc1234.dirty, abc1234 → 0.0.0+abc1234,
#                               dev → 0.0.0+dev
set -eu
cd "$(dirname "$0")/../.."
if [ "${1:-}" = --deb ] && [ -n "${2:-}" ]; then
  v=$2
else
  v=$(git describe --tags --always --dirty 2>/dev/null) || v=dev
  [ -n "$v" ] || v=dev
fi
if [ "${1:-}" = --deb ]; then
  v=${v#v}
  # A tag like 1.2 or 1.2.3 leads; anything else (a commit, "dev", another
  # tag) follows 0.0.0. A commit id may start with a digit: it has no dot.
  printf '%s' "$v" | grep -Eq '^[0-9]+\.[0-9]+' || v="0.0.0-$v"
  # The first "-" starts the build metadata ("+"), the others separate it
  # ("."); anything else outside Debian's upstream-version alphabet becomes ".".
  v=$(printf '%s' "$v" | sed -e 's/-/+/' -e 's/-/./g' -e 's/[^A-Za-z0-9.+~]/./g')
fi
printf '%s\n' "$v"
