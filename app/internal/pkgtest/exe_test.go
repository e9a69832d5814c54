package pkgtest

import (
	"bytes"
	"cmp"
	"debug/pe"
	"encoding"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/tc-hib/winres"
	"github.com/tc-hib/winres/version"
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
	wantVer := wantVersion(t)
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

	exe, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer exe.Close()
	rs, err := winres.LoadFromEXE(exe)
	if err != nil {
		t.Fatalf("resources: %v", err)
	}

	t.Run("icons", func(t *testing.T) {
		// "APP" sorts first, so Explorer shows it; 32512 (IDI_APPLICATION)
		// is what webview's window loads for its title bar and taskbar.
		for _, name := range []winres.Identifier{winres.Name("APP"), winres.ID(32512)} {
			langs := translations(rs, winres.RT_GROUP_ICON, name)
			if len(langs) == 0 {
				t.Errorf("no icon group %s (groups: %v)", resName(name), resNames(rs, winres.RT_GROUP_ICON))
				continue
			}
			for lang, data := range langs {
				// winres reads the group and finds every RT_ICON it names.
				if _, err := rs.GetIconTranslation(name, lang); err != nil {
					t.Errorf("icon group %s/%04x: %v", resName(name), lang, err)
				}
				entries, err := iconGroupEntries(data)
				if err != nil {
					t.Errorf("icon group %s/%04x: %v", resName(name), lang, err)
					continue
				}
				var sizes []int
				for _, e := range entries {
					sizes = append(sizes, e.width())
					checkIconImage(t, resName(name), e, translations(rs, winres.RT_ICON, winres.ID(e.ID)))
				}
				for _, want := range []int{16, 32, 48, 256} {
					if !slices.Contains(sizes, want) {
						t.Errorf("icon group %s has sizes %v, lacks %dx%d", resName(name), sizes, want, want)
					}
				}
				t.Logf("icon group %s: sizes %v", resName(name), sizes)
			}
		}
	})

	t.Run("version", func(t *testing.T) {
		langs := translations(rs, winres.RT_VERSION, winres.ID(1))
		if len(langs) != 1 {
			t.Fatalf("want one version resource #1, got %v", resNames(rs, winres.RT_VERSION))
		}
		for _, b := range langs {
			var head versionHead
			if err := binary.Read(bytes.NewReader(b), binary.LittleEndian, &head); err != nil {
				t.Fatalf("version resource of %d bytes: %v", len(b), err)
			}
			if key := string(utf16.Decode(head.Key[:])); key != "VS_VERSION_INFO\x00" {
				t.Errorf("root key %q, want VS_VERSION_INFO", strings.TrimRight(key, "\x00"))
			}
			if head.ValueLength < 52 || head.Signature != 0xFEEF04BD {
				t.Fatalf("no VS_FIXEDFILEINFO (52 bytes, signature 0xFEEF04BD): %d bytes, signature %#x", head.ValueLength, head.Signature)
			}
			vi, err := version.FromBytes(b)
			if err != nil {
				t.Fatal(err)
			}
			if vi.Type != version.App {
				kind := "VFT_DLL (2)"
				if vi.Type != version.DLL {
					kind = "neither VFT_APP nor VFT_DLL"
				}
				t.Errorf("file type %s, want VFT_APP (1)", kind)
			}
			if want := os.Getenv("LINKDESK_PACKAGE_NUMERIC_VERSION"); want != "" {
				got := fmt.Sprintf("%d.%d.%d.%d", vi.FileVersion[0], vi.FileVersion[1], vi.FileVersion[2], vi.FileVersion[3])
				if got != want {
					t.Errorf("fixed file version %s, want %s", got, want)
				}
			}
			tables, err := stringTables(vi)
			if err != nil {
				t.Fatal(err)
			}
			if len(tables) == 0 {
				t.Fatal("no StringFileInfo string table: Explorer's Details tab would be empty")
			}
			for lang, s := range tables {
				for name, want := range map[string]string{
					version.ProductName: "linkdesk", version.FileDescription: "linkdesk", version.OriginalFilename: "linkdesk.exe",
					version.ProductVersion: wantVer, version.FileVersion: wantVer,
				} {
					if s[name] != want {
						t.Errorf("string table %s: %s = %q, want %q", lang, name, s[name], want)
					}
				}
				t.Logf("string table %s: %v", lang, s)
			}
		}
	})

	t.Run("manifest", func(t *testing.T) {
		langs := translations(rs, winres.RT_MANIFEST, winres.ID(1))
		if len(langs) == 0 {
			t.Fatalf("no manifest #1 (manifests: %v)", resNames(rs, winres.RT_MANIFEST))
		}
		for _, b := range langs {
			m, err := winres.AppManifestFromXML(b)
			if err != nil {
				t.Fatalf("manifest is not well-formed XML: %v\n%s", err, b)
			}
			if !m.UseCommonControlsV6 {
				t.Errorf("manifest has no dependency on Microsoft.Windows.Common-Controls 6 (visual styles):\n%s", b)
			}
			if m.DPIAwareness != winres.DPIPerMonitorV2 {
				t.Errorf("manifest's DPI awareness is %s, want PerMonitorV2:\n%s", text(m.DPIAwareness), b)
			}
			if m.Compatibility != winres.Win10AndAbove {
				t.Errorf("manifest's supportedOS say %s, want Windows 10 (and not older) as the minimum:\n%s", text(m.Compatibility), b)
			}
		}
	})
}

// checkIconImage checks that an icon group's entry points at an RT_ICON
// holding an image of the size it claims (a PNG, or a DIB of twice the height
// for the colour and mask bitmaps).
func checkIconImage(t *testing.T, group string, e iconGroupEntry, langs map[uint16][]byte) {
	t.Helper()
	if len(langs) == 0 {
		t.Errorf("icon group %s: an image (%dx%d) names RT_ICON %d, which does not exist", group, e.width(), e.height(), e.ID)
		return
	}
	for _, data := range langs {
		if len(data) != int(e.BytesInRes) {
			t.Errorf("icon group %s: RT_ICON %d has %d bytes, the group says %d", group, e.ID, len(data), e.BytesInRes)
		}
		var w, h int
		switch {
		case bytes.HasPrefix(data, []byte("\x89PNG")):
			cfg, err := png.DecodeConfig(bytes.NewReader(data))
			if err != nil {
				t.Errorf("icon group %s: RT_ICON %d: bad PNG: %v", group, e.ID, err)
				return
			}
			w, h = cfg.Width, cfg.Height
		case len(data) >= 40 && binary.LittleEndian.Uint32(data) == 40:
			w, h = int(int32(binary.LittleEndian.Uint32(data[4:]))), int(int32(binary.LittleEndian.Uint32(data[8:])))/2
		default:
			t.Errorf("icon group %s: RT_ICON %d is neither a PNG nor a BITMAPINFOHEADER DIB", group, e.ID)
			return
		}
		if w != e.width() || h != e.height() {
			t.Errorf("icon group %s: RT_ICON %d is %dx%d, the group says %dx%d", group, e.ID, w, h, e.width(), e.height())
		}
	}
}

// translations returns the data of resource name of type typ by language.
func translations(rs *winres.ResourceSet, typ, name winres.Identifier) map[uint16][]byte {
	out := map[uint16][]byte{}
	rs.WalkType(typ, func(id winres.Identifier, lang uint16, data []byte) bool {
		if id == name {
			out[lang] = data
		}
		return true
	})
	return out
}

// resNames lists the resources of type typ as name/language, for messages.
func resNames(rs *winres.ResourceSet, typ winres.Identifier) []string {
	var out []string
	rs.WalkType(typ, func(id winres.Identifier, lang uint16, _ []byte) bool {
		out = append(out, fmt.Sprintf("%s/%04x", resName(id), lang))
		return true
	})
	return out
}

// resName spells a resource name as resource scripts do: "#32512" for a
// numeric ID, the string for a named resource ("APP").
func resName(id winres.Identifier) string {
	if n, ok := id.(winres.ID); ok {
		return fmt.Sprintf("#%d", n)
	}
	return fmt.Sprint(id)
}

// iconGroupEntry is one image of an RT_GROUP_ICON resource (GRPICONDIRENTRY).
// winres reads these (ResourceSet.GetIcon) but keeps them to itself, so
// iconGroupEntries decodes them, after the 6-byte GRPICONDIR header.
type iconGroupEntry struct {
	Width, Height, ColorCount, Reserved uint8 // 0 is 256
	Planes, BitCount                    uint16
	BytesInRes                          uint32 // bytes of the RT_ICON resource
	ID                                  uint16 // the RT_ICON resource holding the image
}

func (e iconGroupEntry) width() int  { return cmp.Or(int(e.Width), 256) }
func (e iconGroupEntry) height() int { return cmp.Or(int(e.Height), 256) }

func iconGroupEntries(b []byte) ([]iconGroupEntry, error) {
	r := bytes.NewReader(b)
	var dir struct{ Reserved, Type, Count uint16 }
	if err := binary.Read(r, binary.LittleEndian, &dir); err != nil || dir.Type != 1 {
		return nil, fmt.Errorf("not an icon group (GRPICONDIR type 1)")
	}
	entries := make([]iconGroupEntry, dir.Count)
	if err := binary.Read(r, binary.LittleEndian, entries); err != nil {
		return nil, fmt.Errorf("icon group of %d images truncated at %d bytes", dir.Count, len(b))
	}
	return entries, nil
}

// versionHead is how an RT_VERSION resource (VS_VERSIONINFO) begins: its
// node header, its key "VS_VERSION_INFO" (UTF-16 with its NUL, padded to 32
// bits) and the signature of the VS_FIXEDFILEINFO that is its value.
// version.FromBytes reads the rest, but takes a resource with another root
// key for an empty one, and one without a VS_FIXEDFILEINFO for version
// 0.0.0.0 of an application, so these two are checked on their own.
type versionHead struct {
	Length, ValueLength, Type uint16
	Key                       [16]uint16
	_                         uint16
	Signature                 uint32
}

// stringTables returns the StringFileInfo of vi: language (as "0409") →
// name → value. version.Info keeps its strings to itself and shows them in
// its JSON form, the one go-winres reads.
func stringTables(vi *version.Info) (map[string]map[string]string, error) {
	j, err := vi.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var v struct {
		Info map[string]map[string]string `json:"info"`
	}
	err = json.Unmarshal(j, &v)
	return v.Info, err
}

// text is the manifest value v stands for (as "per monitor v2").
func text(v encoding.TextMarshaler) string {
	b, err := v.MarshalText()
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
