package timeline_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

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
