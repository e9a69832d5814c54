package timeline_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"linkdesk/app/internal/testneeds"
	"linkdesk/app/internal/wait"
	"linkdesk/app/timeline"
)

// Exports made in the same second do not overwrite each other.
func TestExportsNeverOverwrite(t *testing.T) {
	fixed := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	dir := t.TempDir()
	rec := timeline.New(timeline.Options{Environment: "production", Dir: dir, Now: func() time.Time { return fixed }})
	rec.Note("", "hello", nil)
	var paths []string
	for i := 0; i < 3; i++ {
		f, err := rec.Export("", timeline.JSONL)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, filepath.Base(f[0].Path))
	}
	want := "linkdesk-production-session-20250304T050607Z.jsonl linkdesk-production-session-20250304T050607Z-2.jsonl linkdesk-production-session-20250304T050607Z-3.jsonl"
	if strings.Join(paths, " ") != want {
		t.Errorf("paths = %v", paths)
	}
}

func TestDefaultExportDir(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		t.Skip("the XDG rules apply to Linux and the BSDs")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	t.Setenv("XDG_STATE_HOME", filepath.Join(home, "state"))
	t.Setenv("XDG_DOWNLOAD_DIR", "")

	// No download folder at all: the state folder, created 0700.
	d, err := timeline.DefaultExportDir()
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
	if d, _ := timeline.DefaultExportDir(); d != filepath.Join(home, "Downloads") {
		t.Errorf("dir = %s, want ~/Downloads", d)
	}

	// A configured XDG download folder wins (read by the real xdg-user-dir).
	testneeds.Tool(t, testneeds.Tools, "xdg-user-dir", "xdg-user-dirs")
	os.MkdirAll(filepath.Join(home, ".config"), 0o755)
	os.Mkdir(filepath.Join(home, "Téléchargements"), 0o755)
	os.WriteFile(filepath.Join(home, ".config", "user-dirs.dirs"), []byte(`XDG_DOWNLOAD_DIR="$HOME/Téléchargements"`+"\n"), 0o644)
	if d, _ := timeline.DefaultExportDir(); d != filepath.Join(home, "Téléchargements") {
		t.Errorf("dir = %s, want the XDG download folder", d)
	}
	// And the environment variable wins over the file.
	os.Mkdir(filepath.Join(home, "dl"), 0o755)
	t.Setenv("XDG_DOWNLOAD_DIR", filepath.Join(home, "dl"))
	if d, _ := timeline.DefaultExportDir(); d != filepath.Join(home, "dl") {
		t.Errorf("dir = %s, want $XDG_DOWNLOAD_DIR", d)
	}
}

func TestOpenFolderPassesThePathAsOneArgument(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" {
		t.Skip("checks the xdg-open path")
	}
	// xdg-open itself would start a file manager; a stand-in with the same
	// name records its arguments instead.
	bin := t.TempDir()
	out := filepath.Join(bin, "argv")
	os.WriteFile(filepath.Join(bin, "xdg-open"), []byte("#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > "+out+"\n"), 0o755)
	t.Setenv("PATH", bin)
	dir := filepath.Join(t.TempDir(), "my exports; $(touch pwned) & more")
	os.Mkdir(dir, 0o700)
	if err := timeline.OpenFolder(dir); err != nil {
		t.Fatal(err)
	}
	var got []byte
	wait.True(t, 5*time.Second, "xdg-open to run", func() bool { got, _ = os.ReadFile(out); return len(got) > 0 })
	if string(got) != dir+"\n" {
		t.Errorf("xdg-open got %q, want the one argument %q", got, dir)
	}
	for _, bad := range []string{"relative/dir", filepath.Join(dir, "missing"), out} {
		if err := timeline.OpenFolder(bad); err == nil {
			t.Errorf("OpenFolder(%q) accepted", bad)
		}
	}
	t.Setenv("PATH", t.TempDir())
	if err := timeline.OpenFolder(dir); err == nil || !strings.Contains(err.Error(), "open "+dir+" in your file manager yourself") {
		t.Errorf("without xdg-open: %v", err)
	}
}
