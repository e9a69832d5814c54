// Command icns packs PNG images into an Apple icon file (.icns), the
// Contents/Resources icon of linkdesk's macOS .app bundle. It does what
// macOS's iconutil does with an .iconset, in pure Go, so the bundle can be
// laid out (and checked) on any OS:
//
//	go run ./build/darwin/icns -o linkdesk.icns build/icons/linkdesk-*.png
//
// Each PNG must be square, with a side of 16, 32, 64, 128, 256, 512 or 1024
// pixels; each becomes every icns entry of its size (32 px is both "32x32"
// and "16x16@2x"). Sizes without a PNG are left out.
package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"image/png"
	"io"
	"os"
	"sort"
)

// entryTypes maps a PNG's side to the icns entry types that hold a PNG of
// that many pixels (Apple's OSType codes, as iconutil writes them).
var entryTypes = map[int][]string{
	16:   {"icp4"},         // 16x16
	32:   {"icp5", "ic11"}, // 32x32, 16x16@2x
	64:   {"icp6", "ic12"}, // 64x64, 32x32@2x
	128:  {"ic07"},         // 128x128
	256:  {"ic08", "ic13"}, // 256x256, 128x128@2x
	512:  {"ic09", "ic14"}, // 512x512, 256x256@2x
	1024: {"ic10"},         // 512x512@2x
}

func main() {
	out := flag.String("o", "", "the .icns file to write")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: icns -o FILE.icns IMAGE.png…")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	data, err := build(flag.Args())
	if err == nil {
		err = os.WriteFile(*out, data, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "icns:", err)
		os.Exit(1)
	}
}

// build returns the .icns bytes holding the given PNG files.
func build(files []string) ([]byte, error) {
	type entry struct {
		kind string
		data []byte
	}
	var entries []entry
	seen := map[int]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%s: not a PNG image: %w", f, err)
		}
		kinds := entryTypes[cfg.Width]
		if cfg.Width != cfg.Height || kinds == nil {
			return nil, fmt.Errorf("%s: is %dx%d; an icns image must be square with a side of 16, 32, 64, 128, 256, 512 or 1024 pixels", f, cfg.Width, cfg.Height)
		}
		if prev, dup := seen[cfg.Width]; dup {
			return nil, fmt.Errorf("%s and %s are both %dx%d: give one PNG per size", prev, f, cfg.Width, cfg.Height)
		}
		seen[cfg.Width] = f
		for _, k := range kinds {
			entries = append(entries, entry{k, data})
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].kind < entries[j].kind })
	var body bytes.Buffer
	for _, e := range entries {
		body.WriteString(e.kind)
		binary.Write(&body, binary.BigEndian, uint32(8+len(e.data)))
		body.Write(e.data)
	}
	var out bytes.Buffer
	out.WriteString("icns")
	binary.Write(&out, binary.BigEndian, uint32(8+body.Len()))
	io.Copy(&out, &body)
	return out.Bytes(), nil
}
