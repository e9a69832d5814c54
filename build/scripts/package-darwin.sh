#!/bin/sh
# Lays out linkdesk's macOS app bundle:
#
#   OUT/linkdesk.app/Contents/Info.plist            build/darwin/Info.plist, versions filled in
#   OUT/linkdesk.app/Contents/MacOS/linkdesk        the binary
#   OUT/linkdesk.app/Contents/Resources/linkdesk.icns  from build/icons (build/darwin/icns)
#
#   package-darwin.sh VERSION                  on macOS: build the binary (cgo, WebKit), lay
#                                              out dist/darwin-<arch>/linkdesk.app and zip it
#                                              into dist/linkdesk-<version>-darwin-<arch>.zip
#                                              (go tool task package:darwin)
#   package-darwin.sh VERSION BINARY OUT       any OS: lay out OUT/linkdesk.app around BINARY
#                                              (what the package test does on Linux)
#
# Prints the path of the .app. The bundle is not signed or notarised.
set -eu
cd "$(dirname "$0")/../.."
version=${1:?usage: package-darwin.sh VERSION [BINARY OUT]}
bin=${2:-}
out=${3:-}
arch=$(go env GOARCH)
if [ -z "$bin" ]; then
  if [ "$(uname -s)" != Darwin ]; then
    echo "package-darwin: the macOS build needs a Mac (cgo against WebKit.framework); on $(uname -s) only the layout around a given binary works: package-darwin.sh VERSION BINARY OUT" >&2
    exit 1
  fi
  out=dist/darwin-$arch
  bin=$out/linkdesk
  mkdir -p "$out"
  CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$bin" .
fi
[ -n "$out" ] || { echo "package-darwin: give OUT with BINARY" >&2; exit 2; }
[ -f "$bin" ] || { echo "package-darwin: no binary at $bin" >&2; exit 1; }

app=$out/linkdesk.app
short=$(build/scripts/package-version.sh --numeric "$version" | cut -d. -f1-3)
rm -rf "$app"
mkdir -p "$app/Contents/MacOS" "$app/Contents/Resources"
# The version goes into XML: keep to characters git describe can print.
safe=$(printf '%s' "$version" | tr -cd 'A-Za-z0-9.+~_-')
sed -e "s|@SHORT_VERSION@|$short|g" -e "s|@VERSION@|$safe|g" build/darwin/Info.plist >"$app/Contents/Info.plist"
cp "$bin" "$app/Contents/MacOS/linkdesk"
chmod 755 "$app/Contents/MacOS/linkdesk"
go run ./build/darwin/icns -o "$app/Contents/Resources/linkdesk.icns" \
  build/icons/linkdesk-16.png build/icons/linkdesk-32.png build/icons/linkdesk-64.png \
  build/icons/linkdesk-128.png build/icons/linkdesk-256.png build/icons/linkdesk-512.png \
  build/icons/linkdesk-1024.png
printf 'APPL????' >"$app/Contents/PkgInfo"
if [ -z "${2:-}" ] && command -v ditto >/dev/null 2>&1; then
  zip=dist/linkdesk-$version-darwin-$arch.zip
  rm -f "$zip"
  ditto -c -k --keepParent "$app" "$zip"
  echo "package-darwin: $zip" >&2
fi
echo "$app"
