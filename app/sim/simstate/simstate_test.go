package simstate_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/app/internal/wait"
	"linkdesk/app/sim/simstate"
)

// box is a state a test changes and saves.
type box struct {
	mu sync.Mutex
	N  int `json:"n"`
}

func (b *box) snapshot() any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return map[string]int{"n": b.N}
}

func (b *box) set(n int) {
	b.mu.Lock()
	b.N = n
	b.mu.Unlock()
}

func open(t *testing.T, path string, b *box, log *slog.Logger) (*simstate.Store, simstate.Opened, error) {
	t.Helper()
	return simstate.Open(simstate.Options{Path: path, Version: 1, Debounce: 20 * time.Millisecond, Snapshot: b.snapshot, Log: log},
		func(raw json.RawMessage) error {
			var in struct{ N *int }
			if err := json.Unmarshal(raw, &in); err != nil {
				return err
			}
			if in.N == nil {
				return errors.New("no n")
			}
			b.set(*in.N)
			return nil
		})
}

// savedN is n as the file holds it now (-1 when unreadable).
func savedN(path string) int {
	var doc struct{ State struct{ N *int } }
	raw, _ := os.ReadFile(path)
	if json.Unmarshal(raw, &doc) != nil || doc.State.N == nil {
		return -1
	}
	return *doc.State.N
}

func TestCommittedAndDebouncedChangesAreThereAtTheNextOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "sim-state.json")
	b := &box{}
	s, found, err := open(t, path, b, nil)
	if err != nil || found.Loaded || found.Note != "" {
		t.Fatalf("a first open: %+v, %v", found, err)
	}
	b.set(7)
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || savedN(path) != 7 {
		t.Fatalf("after Commit the file is %v, %v; want mode 0600", fi, err)
	}
	b.set(8)
	s.Changed()
	wait.True(t, 5*time.Second, "the debounced save", func() bool {
		return savedN(path) == 8
	})
	b.set(9)
	s.Changed()
	if err := s.Close(); err != nil { // saves what the debounce has not yet
		t.Fatal(err)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.tmp-*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}

	again := &box{}
	s2, found, err := open(t, path, again, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if !found.Loaded || again.N != 9 || found.SavedAt.IsZero() {
		t.Errorf("reopened: %+v, n = %d; want the state saved at Close (9)", found, again.N)
	}
}

func TestASecondHolderIsRefusedAndTouchesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sim-state.json")
	b := &box{N: 1}
	s, _, err := open(t, path, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Commit()
	before, _ := os.ReadFile(path)
	other := &box{}
	if _, _, err := open(t, path, other, nil); !errors.Is(err, simstate.ErrBusy) {
		t.Fatalf("a second open: %v, want ErrBusy", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) || other.N != 0 {
		t.Errorf("the refused open changed the file or loaded it")
	}
	s.Close()
	s2, found, err := open(t, path, other, nil)
	if err != nil || !found.Loaded || other.N != 1 {
		t.Fatalf("after the first closed: %+v, %v, n = %d", found, err, other.N)
	}
	s2.Close()
}

func TestAFileThatCannotBeUsedIsSetAsideWithALogLine(t *testing.T) {
	for _, tc := range []struct{ name, content, why string }{
		{"cut short", `{"format":"linkdesk-sim-state","version":1,"state":{"n":`, "not a whole JSON document"},
		{"another program's", `{"hello":"world"}`, "not a linkdesk simulator state"},
		{"another version's", `{"format":"linkdesk-sim-state","version":99,"state":{"n":3}}`, "another version of linkdesk (state format 99; this linkdesk reads 1)"},
		{"refused by the simulator", `{"format":"linkdesk-sim-state","version":1,"state":{"m":3}}`, "its state is not usable (no n)"},
		{"binary", "\x00\x01\x02", "not a whole JSON document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "sim-state.json")
			os.WriteFile(path, []byte(tc.content), 0o600)
			var logged bytes.Buffer
			b := &box{}
			s, found, err := open(t, path, b, slog.New(slog.NewTextHandler(&logged, nil)))
			if err != nil {
				t.Fatalf("open: %v (a bad file must never stop the simulator)", err)
			}
			defer s.Close()
			if found.Loaded || b.N != 0 || !strings.Contains(found.Note, tc.why) || !strings.Contains(found.Note, "starts afresh") {
				t.Errorf("found %+v", found)
			}
			kept, err := os.ReadFile(found.SetAside)
			if err != nil || string(kept) != tc.content || !strings.HasPrefix(filepath.Base(found.SetAside), "sim-state.json.set-aside-") {
				t.Errorf("the file as found is not kept aside: %q, %v", found.SetAside, err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the bad file is still in place: %v", err)
			}
			if l := logged.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "set aside") || !strings.Contains(l, found.SetAside) {
				t.Errorf("log: %s", l)
			}
			// The simulator starts afresh and saves over nothing it found.
			b.set(5)
			if err := s.Commit(); err != nil {
				t.Fatal(err)
			}
			if kept2, _ := os.ReadFile(found.SetAside); string(kept2) != tc.content {
				t.Error("the set-aside file changed")
			}
		})
	}
}

func TestAFailedSaveIsLoggedOnceAndTriedAgain(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "sim-state.json")
	var logged bytes.Buffer
	b := &box{N: 1}
	s, _, err := open(t, path, b, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	os.RemoveAll(dir) // the folder is gone (root could write in a read-only one)
	if s.Commit() == nil || s.Commit() == nil {
		t.Fatal("a save into a missing folder succeeded")
	}
	if n := strings.Count(logged.String(), "could not be saved"); n != 1 {
		t.Errorf("logged %d times:\n%s", n, logged.String())
	}
	os.MkdirAll(dir, 0o700)
	if err := s.Commit(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logged.String(), "saved again") {
		t.Errorf("log: %s", logged.String())
	}
}
