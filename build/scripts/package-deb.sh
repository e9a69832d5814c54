#!/bin/sh
# Builds dist/linkdesk_<debian version>_<arch>.deb with nfpm (a go tool of
# build/tools/go.mod, kept out of the app's go.mod): the stripped binary, the .desktop entry and the hicolor icons
# (build/linux/nfpm.yaml). Prints the path of the .deb.
#
#   package-deb.sh VERSION     (go tool task package:deb)
set -eu
cd "$(dirname "$0")/../.."
version=${1:?usage: package-deb.sh VERSION (see build/scripts/package-version.sh)}
arch=$(go env GOARCH)
debver=$(build/scripts/package-version.sh --deb "$version")
bin=dist/linux-$arch/linkdesk
out=dist/linkdesk_${debver}_${arch}.deb
mkdir -p "dist/linux-$arch"
export CGO_ENABLED=1
export PKG_CONFIG_PATH="$PWD/build/linux/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$bin" .
# The newest glibc symbol version the binary uses, for "libc6 (>= …)".
glibc=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' | sort -uV | tail -n 1)
[ -n "$glibc" ] || { echo "package-deb: found no GLIBC_ symbol versions in $bin (objdump -T)" >&2; exit 1; }
rm -f "$out"
LINKDESK_BINARY=$bin LINKDESK_DEB_VERSION=$debver LINKDESK_ARCH=$arch LINKDESK_GLIBC=$glibc \
  go tool -modfile=build/tools/go.mod nfpm package --config build/linux/nfpm.yaml --packager deb --target "$out" >&2
echo "$out"
