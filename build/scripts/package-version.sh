#!/bin/sh
# Prints linkdesk's version: `git describe --tags --always --dirty` (a tag
# like v1.2.3, v1.2.3-4-gabc1234, or a bare commit abc1234, each maybe with
# "-dirty"), or "dev" where there is no git or no repository.
#
#   package-version.sh                     the version, as `linkdesk version` prints it
#   package-version.sh --deb [VERSION]     that version (or VERSION) as a Debian
#       version, which must start with a digit and sort sensibly: v1.2.3 → 1.2.3,
#       v1.2.3-4-gabc1234-dirty → 1.2.3+4.gabc1234.dirty, abc1234 → 0.0.0+abc1234,
#       dev → 0.0.0+dev
#   package-version.sh --numeric [VERSION] as the a.b.c.d numbers of a Windows
#       version resource: v1.2.3 → 1.2.3.0, v1.2-4-gabc1234 → 1.2.0.4,
#       anything without a tag → 0.0.0.0
set -eu
cd "$(dirname "$0")/../.."
mode=${1:-}
if [ -n "$mode" ] && [ -n "${2:-}" ]; then
  v=$2
else
  v=$(git describe --tags --always --dirty 2>/dev/null) || v=dev
  [ -n "$v" ] || v=dev
fi
v0=$v
v=${v#v}
# A tag like 1.2 or 1.2.3 leads; anything else (a commit, "dev", another
# tag) does not count as a version. A commit id may start with a digit: it
# has no dot.
tagged=false
printf '%s' "$v" | grep -Eq '^[0-9]+\.[0-9]+' && tagged=true
case $mode in
  "") v=$v0 ;;
  --deb)
    $tagged || v="0.0.0-$v"
    # The first "-" starts the build metadata ("+"), the others separate it
    # ("."); anything outside Debian's upstream-version alphabet becomes ".".
    v=$(printf '%s' "$v" | sed -e 's/-/+/' -e 's/-/./g' -e 's/[^A-Za-z0-9.+~]/./g')
    ;;
  --numeric)
    if $tagged; then
      base=$(printf '%s' "$v" | sed -E 's/^([0-9]+(\.[0-9]+){0,2}).*/\1/')
      commits=$(printf '%s' "$v" | sed -n -E 's/^[0-9.]+-([0-9]+)-g[0-9a-f]+.*/\1/p')
      v="$(printf '%s.0.0' "$base" | cut -d. -f1-3).${commits:-0}"
    else
      v=0.0.0.0
    fi
    ;;
  *) echo "usage: package-version.sh [--deb|--numeric] [VERSION]" >&2; exit 2 ;;
esac
printf '%s\n' "$v"
