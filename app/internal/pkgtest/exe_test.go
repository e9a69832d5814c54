package pkgtest

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"image/png"
	"os"
	"slices"
	"strings"
	"testing"
)

// packageFile returns the file named by the environment variable, or skips.
func packageFile(t *testing.T, env string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		t.Skipf("%s is not set: this test checks a built package; run `go tool task test:package`", env)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s=%s: %v", env, p, err)
	}
	return p
}

func wantVersion(t *testing.T) string {
	t.Helper()
	v := os.Getenv("LINKDESK_PACKAGE_VERSION")
	if v == "" {
		t.Fatal("LINKDESK_PACKAGE_VERSION is not set: give the version the package was stamped with")
	}
	return v
}

// TestWindowsExe checks what Windows reads from linkdesk.exe before it runs
// a line of it: a 64-bit GUI program (no console window), no DLLs beyond the
// system's, the icon Explorer and the window show, the version Explorer's
// Properties show, and the manifest (visual styles, per-monitor DPI).
func TestWindowsExe(t *testing.T) {
	path := packageFile(t, "LINKDESK_PACKAGE_EXE")
	version := wantVersion(t)
	f, err := pe.Open(path)
	if err != nil {
		t.Fatalf("%s is not a PE file: %v", path, err)
	}
	defer f.Close()

	t.Run("headers", func(t *testing.T) {
		if f.Machine != pe.IMAGE_FILE_MACHINE_AMD64 {
			t.Errorf("machine %#x, want AMD64 (%#x)", f.Machine, pe.IMAGE_FILE_MACHINE_AMD64)
		}
		h, ok := f.OptionalHeader.(*pe.OptionalHeader64)
		if !ok {
			t.Fatalf("optional header %T, want PE32+ (OptionalHeader64)", f.OptionalHeader)
		}
		if h.Subsystem != pe.IMAGE_SUBSYSTEM_WINDOWS_GUI {
			t.Errorf("subsystem %d, want %d (Windows GUI: linked with -H windowsgui, so no console window opens)", h.Subsystem, pe.IMAGE_SUBSYSTEM_WINDOWS_GUI)
		}
	})

	t.Run("imports", func(t *testing.T) {
		// debug/pe's ImportedLibraries is not implemented for PE; the
		// imported symbols are "name:dll".
		syms, err := f.ImportedSymbols()
		if err != nil {
			t.Fatal(err)
		}
		var libs []string
		for _, s := range syms {
			if _, dll, ok := strings.Cut(s, ":"); ok && !slices.Contains(libs, dll) {
				libs = append(libs, dll)
			}
		}
		if len(libs) == 0 {
			t.Fatal("imports no DLL at all: this is not the linked program")
		}
		for _, l := range libs {
			ll := strings.ToLower(l)
			// MinGW's runtime DLLs (libstdc++-6, libgcc_s_seh-1, libwinpthread-1)
			// are not on a user's machine: they must be linked statically.
			// WebView2Loader.dll neither: webview's built-in loader is used.
			if strings.HasPrefix(ll, "lib") || ll == "webview2loader.dll" {
				t.Errorf("imports %s, which a stock Windows does not have (all imports: %v)", l, libs)
			}
		}
		t.Logf("imports: %v", libs)
	})

	res, err := ReadResources(f)
	if err != nil {
		t.Fatalf("resources: %v", err)
	}

	t.Run("icons", func(t *testing.T) {
		groups := res[ID(rtGroupIcon)]
		// "APP" sorts first, so Explorer shows it; 32512 (IDI_APPLICATION)
		// is what webview's window loads for its title bar and taskbar.
		for _, name := range []string{"APP", ID(32512)} {
			langs := groups[name]
			if len(langs) == 0 {
				t.Errorf("no icon group %q (groups: %v)", name, keys(groups))
				continue
			}
			for lang, data := range langs {
				imgs, err := ParseIconGroup(data)
				if err != nil {
					t.Errorf("icon group %q/%d: %v", name, lang, err)
					continue
				}
				var sizes []int
				for _, im := range imgs {
					sizes = append(sizes, im.Width)
					checkIconImage(t, name, im, res[ID(rtIcon)][ID(im.ID)])
				}
				for _, want := range []int{16, 32, 48, 256} {
					if !slices.Contains(sizes, want) {
						t.Errorf("icon group %q has sizes %v, lacks %dx%d", name, sizes, want, want)
					}
				}
				t.Logf("icon group %q: sizes %v", name, sizes)
			}
		}
	})

	t.Run("version", func(t *testing.T) {
		data := res[ID(rtVersion)][ID(1)]
		if len(data) != 1 {
			t.Fatalf("want one version resource #1, got %v", keys(res[ID(rtVersion)]))
		}
		for _, b := range data {
			vi, err := ParseVersion(b)
			if err != nil {
				t.Fatal(err)
			}
			if vi.Key != "VS_VERSION_INFO" {
				t.Errorf("root key %q, want VS_VERSION_INFO", vi.Key)
			}
			fixed, err := vi.Fixed()
			if err != nil {
				t.Fatal(err)
			}
			if fixed.FileType != 1 {
				t.Errorf("file type %d, want 1 (VFT_APP)", fixed.FileType)
			}
			if want := os.Getenv("LINKDESK_PACKAGE_NUMERIC_VERSION"); want != "" {
				got := fmt.Sprintf("%d.%d.%d.%d", fixed.FileVersion[0], fixed.FileVersion[1], fixed.FileVersion[2], fixed.FileVersion[3])
				if got != want {
					t.Errorf("fixed file version %s, want %s", got, want)
				}
			}
			tables := vi.Strings()
			if len(tables) == 0 {
				t.Fatal("no StringFileInfo string table: Explorer's Details tab would be empty")
			}
			for key, s := range tables {
				for name, want := range map[string]string{
					"ProductName": "linkdesk", "FileDescription": "linkdesk", "OriginalFilename": "linkdesk.exe",
					"ProductVersion": version, "FileVersion": version,
				} {
					if s[name] != want {
						t.Errorf("string table %s: %s = %q, want %q", key, name, s[name], want)
					}
				}
				t.Logf("string table %s: %v", key, s)
			}
		}
	})

	t.Run("manifest", func(t *testing.T) {
		langs := res[ID(rtManifest)][ID(1)]
		if len(langs) == 0 {
			t.Fatalf("no manifest #1 (manifests: %v)", keys(res[ID(rtManifest)]))
		}
		for _, b := range langs {
			m, err := parseManifest(b)
			if err != nil {
				t.Fatal(err)
			}
			if !m.commonControls6 {
				t.Errorf("manifest has no dependency on Microsoft.Windows.Common-Controls 6.0.0.0 (visual styles):\n%s", b)
			}
			if !strings.Contains(strings.ToLower(m.dpiAwareness), "permonitorv2") {
				t.Errorf("manifest dpiAwareness %q, want PerMonitorV2:\n%s", m.dpiAwareness, b)
			}
			if !slices.Contains(m.supportedOS, "{8e0f7a12-bfb3-4fe8-b9a5-48fd50a15a9a}") {
				t.Errorf("manifest does not declare Windows 10/11 support (supportedOS %v)", m.supportedOS)
			}
		}
	})
}

// checkIconImage checks that an icon group's entry points at an RT_ICON
// holding an image of the size it claims (a PNG, or a DIB of twice the height
// for the colour and mask bitmaps).
func checkIconImage(t *testing.T, group string, im IconImage, langs map[uint16][]byte) {
	t.Helper()
	if len(langs) == 0 {
		t.Errorf("icon group %q: image %d (%dx%d) names RT_ICON %d, which does not exist", group, im.ID, im.Width, im.Height, im.ID)
		return
	}
	for _, data := range langs {
		if len(data) != im.Size {
			t.Errorf("icon group %q: RT_ICON %d has %d bytes, the group says %d", group, im.ID, len(data), im.Size)
		}
		var w, h int
		switch {
		case bytes.HasPrefix(data, []byte("\x89PNG")):
			cfg, err := png.DecodeConfig(bytes.NewReader(data))
			if err != nil {
				t.Errorf("icon group %q: RT_ICON %d: bad PNG: %v", group, im.ID, err)
				return
			}
			w, h = cfg.Width, cfg.Height
		case len(data) >= 40 && binary.LittleEndian.Uint32(data) == 40:
			w, h = int(int32(binary.LittleEndian.Uint32(data[4:]))), int(int32(binary.LittleEndian.Uint32(data[8:])))/2
		default:
			t.Errorf("icon group %q: RT_ICON %d is neither a PNG nor a BITMAPINFOHEADER DIB", group, im.ID)
			return
		}
		if w != im.Width || h != im.Height {
			t.Errorf("icon group %q: RT_ICON %d is %dx%d, the group says %dx%d", group, im.ID, w, h, im.Width, im.Height)
		}
	}
}

type manifest struct {
	commonControls6 bool
	dpiAwareness    string
	supportedOS     []string
}

// parseManifest reads the parts of an application manifest that matter
// here, by local element name (the manifest mixes several namespaces).
func parseManifest(b []byte) (manifest, error) {
	var m manifest
	d := xml.NewDecoder(bytes.NewReader(b))
	var stack []string
	for {
		tok, err := d.Token()
		if err != nil {
			if err.Error() == "EOF" {
				break
			}
			return m, fmt.Errorf("manifest is not well-formed XML: %w\n%s", err, b)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			stack = append(stack, e.Name.Local)
			attr := func(name string) string {
				for _, a := range e.Attr {
					if a.Name.Local == name {
						return a.Value
					}
				}
				return ""
			}
			switch e.Name.Local {
			case "assemblyIdentity":
				if slices.Contains(stack, "dependentAssembly") && attr("name") == "Microsoft.Windows.Common-Controls" && attr("version") == "6.0.0.0" {
					m.commonControls6 = true
				}
			case "supportedOS":
				m.supportedOS = append(m.supportedOS, strings.ToLower(attr("Id")))
			}
		case xml.CharData:
			if len(stack) > 0 && stack[len(stack)-1] == "dpiAwareness" {
				m.dpiAwareness += strings.TrimSpace(string(e))
			}
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) != 0 {
		return m, fmt.Errorf("manifest ends inside <%s>", stack[len(stack)-1])
	}
	return m, nil
}

func keys[M ~map[K]V, K comparable, V any](m M) []K {
	var out []K
	for k := range m {
		out = append(out, k)
	}
	return out
}
