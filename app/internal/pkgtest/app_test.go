package pkgtest

import (
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestDarwinBundle checks the layout of linkdesk.app the way Finder and
// LaunchServices read it: Info.plist names an executable and an icon that
// exist, carries the bundle id, the versions and the Retina flag, and the
// .icns holds PNGs of every size a Mac shows.
func TestDarwinBundle(t *testing.T) {
	app := packageFile(t, "LINKDESK_PACKAGE_APP")
	version := wantVersion(t)
	raw, err := os.ReadFile(filepath.Join(app, "Contents", "Info.plist"))
	if err != nil {
		t.Fatal(err)
	}
	plist, err := parsePlistDict(raw)
	if err != nil {
		t.Fatalf("Info.plist: %v", err)
	}
	for key, want := range map[string]string{
		"CFBundleIdentifier":      "app.linkdesk",
		"CFBundleExecutable":      "linkdesk",
		"CFBundleIconFile":        "linkdesk.icns",
		"CFBundlePackageType":     "APPL",
		"NSHighResolutionCapable": "true",
		"LinkdeskVersion":         version,
	} {
		if plist[key] != want {
			t.Errorf("Info.plist %s = %q, want %q", key, plist[key], want)
		}
	}
	// The linkdesk:// scheme (the hosted OAuth return page) is registered.
	if _, ok := plist["CFBundleURLTypes"]; !ok || !regexp.MustCompile(`(?s)<key>CFBundleURLSchemes</key>\s*<array>\s*<string>linkdesk</string>`).Match(raw) {
		t.Error("Info.plist does not register the linkdesk URL scheme (CFBundleURLTypes → CFBundleURLSchemes → linkdesk)")
	}
	// Apple wants one to three period-separated integers here.
	triple := regexp.MustCompile(`^[0-9]+(\.[0-9]+){0,2}$`)
	for _, key := range []string{"CFBundleShortVersionString", "CFBundleVersion", "LSMinimumSystemVersion"} {
		if !triple.MatchString(plist[key]) {
			t.Errorf("Info.plist %s = %q, want up to three period-separated integers", key, plist[key])
		}
	}

	exe := filepath.Join(app, "Contents", "MacOS", plist["CFBundleExecutable"])
	if st, err := os.Stat(exe); err != nil {
		t.Errorf("CFBundleExecutable: %v", err)
	} else if st.Mode()&0o111 == 0 {
		t.Errorf("%s is not executable (mode %v)", exe, st.Mode())
	}

	icns, err := os.ReadFile(filepath.Join(app, "Contents", "Resources", plist["CFBundleIconFile"]))
	if err != nil {
		t.Fatalf("CFBundleIconFile: %v", err)
	}
	entries, err := parseICNS(icns)
	if err != nil {
		t.Fatalf("%s: %v", plist["CFBundleIconFile"], err)
	}
	// Apple's PNG entry types and their pixel sizes.
	for kind, side := range map[string]int{
		"icp4": 16, "icp5": 32, "ic11": 32, "icp6": 64, "ic12": 64, "ic07": 128,
		"ic08": 256, "ic13": 256, "ic09": 512, "ic14": 512, "ic10": 1024,
	} {
		data, ok := entries[kind]
		if !ok {
			t.Errorf("icns has no %s entry (%dx%d)", kind, side, side)
			continue
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			t.Errorf("icns %s: not a PNG: %v", kind, err)
			continue
		}
		if cfg.Width != side || cfg.Height != side {
			t.Errorf("icns %s is %dx%d, want %dx%d", kind, cfg.Width, cfg.Height, side, side)
		}
	}
}

// parsePlistDict reads the top-level <dict> of an XML property list into
// key → value, with <true/> and <false/> as "true" and "false".
func parsePlistDict(b []byte) (map[string]string, error) {
	var doc struct {
		Dict struct {
			Items []struct {
				XMLName xml.Name
				Text    string `xml:",chardata"`
			} `xml:",any"`
		} `xml:"dict"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("not well-formed XML: %w", err)
	}
	out := map[string]string{}
	items := doc.Dict.Items
	if len(items) == 0 {
		return nil, fmt.Errorf("no top-level <dict>")
	}
	for i := 0; i < len(items); i += 2 {
		if items[i].XMLName.Local != "key" || i+1 >= len(items) {
			return nil, fmt.Errorf("dict item %d is <%s>, want a <key> followed by a value", i, items[i].XMLName.Local)
		}
		v := items[i+1]
		switch v.XMLName.Local {
		case "true", "false":
			out[items[i].Text] = v.XMLName.Local
		default:
			out[items[i].Text] = v.Text
		}
	}
	return out, nil
}

// parseICNS splits an .icns file into its entries (type → data).
func parseICNS(b []byte) (map[string][]byte, error) {
	if len(b) < 8 || string(b[:4]) != "icns" {
		return nil, fmt.Errorf("not an icns file (no 'icns' magic)")
	}
	if n := binary.BigEndian.Uint32(b[4:]); int(n) != len(b) {
		return nil, fmt.Errorf("header says %d bytes, the file has %d", n, len(b))
	}
	out := map[string][]byte{}
	for p := 8; p < len(b); {
		if p+8 > len(b) {
			return nil, io.ErrUnexpectedEOF
		}
		n := int(binary.BigEndian.Uint32(b[p+4:]))
		if n < 8 || p+n > len(b) {
			return nil, fmt.Errorf("entry %q at %d claims %d bytes", b[p:p+4], p, n)
		}
		out[string(b[p:p+4])] = b[p+8 : p+n]
		p += n
	}
	return out, nil
}
