package timeline_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"linkdesk/app/linkflow"
	"linkdesk/app/timeline"
)

func call(t *testing.T, rec *timeline.Recorder, name, params string) (any, error) {
	t.Helper()
	m, ok := rec.Methods()[name]
	if !ok {
		t.Fatalf("no method %q", name)
	}
	return m(context.Background(), json.RawMessage(params))
}

func TestMethodsValidateTheirParameters(t *testing.T) {
	rec := timeline.New(timeline.Options{Environment: "sandbox", Dir: t.TempDir()})
	now := time.Now()
	rec.ObserveAttempt(linkflow.Attempt{ID: "0123456789abcdef", Kind: linkflow.KindLink, CustomerGUID: strings.Repeat("c", 32), State: linkflow.CreatingWorkflow, StartedAt: now, UpdatedAt: now, StateSince: now},
		linkflow.Event{Type: "state", Message: "Creating a Plaid link token"})
	bad := []struct{ method, params, want string }{
		{"timeline", `{"attempt":"x"}`, "unknown field"},
		{"timeline", `{"since":-1}`, "since -1 is not valid"},
		{"timeline", `{"since":"x"}`, "do not fit"},
		{"timeline", `{"attempt_id":"eyJhbGciOi.J9.x"}`, "is not an attempt id"},
		{"timeline", `{"attempt_id":"feedfeedfeedfeed"}`, "no attempt"},
		{"timeline", `{`, "not valid JSON"},
		{"timeline", `{} {}`, "more than one JSON value"},
		{"exportAttempt", `{}`, "attempt_id is missing"},
		{"exportAttempt", `{"attempt_id":"0123456789abcdef","format":"pdf"}`, `format "pdf" is not known`},
		{"exportAttempt", `{"attempt_id":"feedfeedfeedfeed","format":"html"}`, "no attempt"},
		{"exportSession", `{"format":"csv"}`, "is not known"},
		{"exportSession", `{"attempt_id":"0123456789abcdef"}`, "unknown field"},
		{"openExportFolder", `{"dir":"/etc"}`, "unknown field"},
		{"timeline", `{"attempt_id":"` + strings.Repeat("a", 5000) + `"}`, "at most"},
	}
	for _, c := range bad {
		_, err := call(t, rec, c.method, c.params)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %.60s: error %v, want one containing %q", c.method, c.params, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "eyJhbGciOi") {
			t.Errorf("%s: the error echoes a token-shaped value: %v", c.method, err)
		}
	}

	res, err := call(t, rec, "timeline", `{}`)
	if err != nil {
		t.Fatal(err)
	}
	tl := res.(timeline.TimelineResult)
	if len(tl.Entries) != 1 || tl.LastSeq != 1 || len(tl.Attempts) != 1 || tl.Attempts[0].ID != "0123456789abcdef" {
		t.Errorf("timeline = %+v", tl)
	}
	res, _ = call(t, rec, "timeline", `{"attempt_id":"0123456789abcdef","since":1}`)
	if tl := res.(timeline.TimelineResult); len(tl.Entries) != 0 || tl.LastSeq != 1 {
		t.Errorf("timeline since 1 = %+v", tl)
	}
	// The result is what the page receives: JSON.
	b, _ := json.Marshal(res)
	if !strings.Contains(string(b), `"last_seq":1`) || !strings.Contains(string(b), `"attempts":[{"id":"0123456789abcdef"`) {
		t.Errorf("timeline JSON = %s", b)
	}

	res, err = call(t, rec, "exportAttempt", `{"attempt_id":"0123456789abcdef","format":"html"}`)
	if err != nil {
		t.Fatal(err)
	}
	ex := res.(timeline.ExportResult)
	if len(ex.Files) != 1 || ex.Files[0].Format != timeline.HTML || filepath.Dir(ex.Files[0].Path) != ex.Dir ||
		!strings.HasPrefix(filepath.Base(ex.Files[0].Path), "linkdesk-sandbox-attempt-0123456789abcdef-") {
		t.Errorf("exportAttempt = %+v", ex)
	}
	res, err = call(t, rec, "exportSession", `null`)
	if err != nil {
		t.Fatal(err)
	}
	if ex := res.(timeline.ExportResult); len(ex.Files) != 2 || ex.Files[0].Format != timeline.JSONL || ex.Files[1].Format != timeline.HTML ||
		len(ex.Paths) != 2 || ex.JSONL != ex.Files[0].Path || ex.HTML != ex.Files[1].Path || ex.Paths[1] != ex.HTML {
		t.Errorf("exportSession (default both) = %+v", ex)
	}
}

func TestMethodsWithoutAnEnvironmentSaySo(t *testing.T) {
	ms := timeline.Methods(func() *timeline.Recorder { return nil })
	for name, m := range ms {
		if _, err := m(context.Background(), json.RawMessage(`{}`)); err != timeline.ErrNoTimeline && name != "exportAttempt" {
			t.Errorf("%s without a recorder: %v", name, err)
		}
	}
}

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
	if _, err := exec.LookPath("xdg-user-dir"); err != nil {
		t.Skip("xdg-user-dir is not installed (xdg-user-dirs); the rest needs it")
	}
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
	for i := 0; i < 100 && len(got) == 0; i++ {
		time.Sleep(20 * time.Millisecond)
		got, _ = os.ReadFile(out)
	}
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
