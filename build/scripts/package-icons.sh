#!/bin/sh
# Renders build/icons/linkdesk.svg into the PNGs every package uses:
# build/icons/linkdesk-<N>.png, N = 16 … 1024 (hicolor sizes for the .deb,
# the Windows icon group, and the macOS .icns). The PNGs are committed, so
# packaging needs no ImageMagick; run this (go tool task package:icons) after
# editing the SVG.
set -eu
cd "$(dirname "$0")/../icons"
command -v convert >/dev/null 2>&1 || { echo "package-icons: ImageMagick's convert is missing: apt-get install imagemagick" >&2; exit 1; }
for n in 16 24 32 48 64 128 256 512 1024; do
  # ImageMagick's SVG renderer works at 96 dpi: render at 4× the size (at most
  # 4096 px) and scale down, which anti-aliases the small sizes.
  s=$((n * 4)); [ $s -gt 4096 ] && s=4096
  convert -background none -density $((96 * s / 256)) linkdesk.svg -resize "${n}x${n}" -depth 8 -strip "PNG32:linkdesk-$n.png"
done
echo "package-icons: rendered $(ls linkdesk-*.png | wc -l) PNGs into build/icons/"
