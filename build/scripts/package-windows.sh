#!/bin/sh
# Cross-builds dist/linkdesk-<version>-windows-amd64.exe with Debian's
# mingw-w64 (g++-mingw-w64-x86-64-posix): a GUI program (-H windowsgui) with
# the icon, the manifest and the version information of
# build/windows/winres.json (go-winres, a tool of build/tools/go.mod). Prints the path
# of the .exe.
#
#   package-windows.sh VERSION     (go tool task package:windows)
set -eu
cd "$(dirname "$0")/../.."
version=${1:?usage: package-windows.sh VERSION (see build/scripts/package-version.sh)}
for t in x86_64-w64-mingw32-gcc-posix x86_64-w64-mingw32-g++-posix; do
  command -v $t >/dev/null 2>&1 || { echo "package-windows: $t is missing: apt-get install g++-mingw-w64-x86-64-posix (go tool task deps:package)" >&2; exit 1; }
done
out=dist/linkdesk-$version-windows-amd64.exe
work=dist/windows-amd64
mkdir -p "$work"

# The numeric a.b.c.d version of the fixed part (v1.2.3-4-g… → 1.2.3.4).
numeric=$(build/scripts/package-version.sh --numeric "$version")

# go-winres reads file names relative to the JSON file.
sed -e "s|@ICONS@|../../build/icons|g" -e "s|@VERSION@|$version|g" -e "s|@FILE_VERSION@|$numeric|g" \
  build/windows/winres.json >"$work/winres.json"
syso=rsrc_windows_amd64.syso
trap 'rm -f "$syso"' EXIT INT TERM
go tool -modfile=build/tools/go.mod go-winres make --in "$work/winres.json" --arch amd64 --out rsrc
[ -f "$syso" ] || { echo "package-windows: go-winres made no $syso" >&2; exit 1; }

rm -f "$out"
GOOS=windows GOARCH=amd64 CGO_ENABLED=1 \
  CC=x86_64-w64-mingw32-gcc-posix CXX=x86_64-w64-mingw32-g++-posix \
  CGO_CXXFLAGS="-I$PWD/build/windows/include ${CGO_CXXFLAGS:-}" \
  go build -trimpath -ldflags "-s -w -H windowsgui -X main.version=$version" -o "$out" .
echo "$out"
