package userdirs_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"linkdesk/app/internal/testneeds"
	"linkdesk/app/userdirs"
)

func TestStateFollowsXDG(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("XDG applies to Linux and other Unix systems")
	}
	t.Setenv("XDG_STATE_HOME", "/tmp/xdg-state")
	if d, _ := userdirs.State(); d != "/tmp/xdg-state/linkdesk" {
		t.Errorf("with XDG_STATE_HOME: %s", d)
	}
	t.Setenv("XDG_STATE_HOME", "relative/ignored")
	t.Setenv("HOME", "/home/op")
	if d, _ := userdirs.State(); d != "/home/op/.local/state/linkdesk" {
		t.Errorf("without a usable XDG_STATE_HOME: %s", d)
	}
}

func TestExportsIsTheDownloadFolder(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		t.Skip("the XDG rules apply to Linux and the BSDs")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("XDG_STATE_HOME", filepath.Join(home, "state"))
	t.Setenv("XDG_DOWNLOAD_DIR", "")

	// No download folder at all: the state folder, created 0700.
	d, err := userdirs.Exports()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(home, "state", "linkdesk", "exports"); d != want {
		t.Errorf("dir = %s, want %s", d, want)
	}
	if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state export folder: %v %v", fi.Mode(), err)
	}

	// ~/Downloads exists.
	os.Mkdir(filepath.Join(home, "Downloads"), 0o755)
	if d, _ := userdirs.Exports(); d != filepath.Join(home, "Downloads") {
		t.Errorf("dir = %s, want ~/Downloads", d)
	}

	// A configured XDG download folder wins (read by the real xdg-user-dir).
	testneeds.Tool(t, testneeds.Tools, "xdg-user-dir", "xdg-user-dirs")
	os.MkdirAll(filepath.Join(home, ".config"), 0o755)
	os.Mkdir(filepath.Join(home, "Téléchargements"), 0o755)
	os.WriteFile(filepath.Join(home, ".config", "user-dirs.dirs"), []byte(`XDG_DOWNLOAD_DIR="$HOME/Téléchargements"`+"\n"), 0o644)
	if d, _ := userdirs.Exports(); d != filepath.Join(home, "Téléchargements") {
		t.Errorf("dir = %s, want the XDG download folder", d)
	}
	// And the environment variable wins over the file.
	os.Mkdir(filepath.Join(home, "dl"), 0o755)
	t.Setenv("XDG_DOWNLOAD_DIR", filepath.Join(home, "dl"))
	if d, _ := userdirs.Exports(); d != filepath.Join(home, "dl") {
		t.Errorf("dir = %s, want $XDG_DOWNLOAD_DIR", d)
	}
}

// An export never overwrites another: the same name gets -2, -3…; files
// are 0600.
func TestWriteNewNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	var names []string
	for i := 0; i < 3; i++ {
		p, err := userdirs.WriteNew(dir, "linkdesk-audit", "csv", []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, filepath.Base(p))
		if fi, err := os.Stat(p); err != nil || (runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600) {
			t.Errorf("%s: %v %v", p, fi.Mode(), err)
		}
	}
	if got := strings.Join(names, " "); got != "linkdesk-audit.csv linkdesk-audit-2.csv linkdesk-audit-3.csv" {
		t.Errorf("names = %s", got)
	}
	if _, err := userdirs.WriteNew(filepath.Join(dir, "missing"), "x", "csv", nil); err == nil || !strings.Contains(err.Error(), "writable") {
		t.Errorf("a missing folder: %v", err)
	}
}
