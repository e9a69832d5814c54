// Package simstate keeps the built-in simulator's state in one file, so that
// what a tester did in the simulator survives linkdesk: its crash journal can
// then be reconciled against the simulator after a crash, as against Cybrid.
//
// The file holds one JSON document: a marker of its format, the format's
// version, when it was saved and the state itself, which this package does
// not interpret (the simulator's packages say what it holds):
//
//	{"format": "linkdesk-sim-state", "version": 1, "saved_at": "…", "state": {…}}
//
// Contracts:
//
//   - One holder. Open takes an exclusive lock on "<file>.lock" (package
//     filelock) until Close; a second Open on the same file fails with
//     ErrBusy and touches nothing, so two linkdesks never overwrite each
//     other's simulator.
//   - Never a crash over a bad file. A file that cannot be read as the
//     format and version Open expects — damaged, cut short, of another
//     program or of another version of linkdesk — or whose state the caller
//     refuses, is renamed "<file>.set-aside-<UTC time>" with one log line
//     that says why and where it went; the caller starts afresh (Opened.Note
//     says so too). Only a folder that cannot be written fails Open.
//   - Atomic saves. A save writes a temporary file in the same folder
//     (mode 0600), fsyncs it, renames it over the file and fsyncs the
//     folder: the file is always the old state or the new one, whole.
//   - When. Changed saves soon after a change (at most Options.Debounce
//     later, however many changes come meanwhile); Commit saves at once
//     what changed (for a change whose answer must not be sent before it is
//     on disk); Close saves what is left. A save that fails is logged and
//     tried again at the next change, commit or Close.
package simstate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"linkdesk/app/durable"
	"linkdesk/app/internal/filelock"
)

// Format is the marker every state file carries.
const Format = "linkdesk-sim-state"

// DefaultDebounce is Options.Debounce when zero.
const DefaultDebounce = 200 * time.Millisecond

// ErrBusy is wrapped by Open's error when another process holds the file.
var ErrBusy = errors.New("another linkdesk keeps its simulator's state in this file")

// Options configure Open.
type Options struct {
	// Path is the state file (its folder is created, mode 0700, if needed).
	Path string
	// Version is the version of the state's format: a file of another
	// version is set aside.
	Version int
	// Debounce bounds how long a change waits to be saved (DefaultDebounce
	// when zero).
	Debounce time.Duration
	// Snapshot returns the state to save (encoded with encoding/json). It
	// is called from the saving goroutine, never with the Store's locks
	// held by a caller of Changed or Commit, so it may take the simulator's
	// own locks.
	Snapshot func() any
	// Log receives the lines about set-aside files and failed saves;
	// discarded when nil.
	Log *slog.Logger
	// Now names set-aside files (time.Now when nil).
	Now func() time.Time
}

// Opened says what Open found.
type Opened struct {
	// Loaded is set when a saved state was handed to load and accepted.
	Loaded bool
	// SavedAt is when that state was saved.
	SavedAt time.Time
	// Note says, for people, what became of a file that could not be used
	// ("" when there was none or it was loaded).
	Note string
	// SetAside is where such a file went ("" when none was set aside).
	SetAside string
}

// Store is an open state file. Its methods are safe for concurrent use.
type Store struct {
	o      Options
	log    *slog.Logger
	unlock func() error

	writeMu sync.Mutex // one save at a time; held while Snapshot runs

	mu      sync.Mutex // guards what follows; never held while Snapshot runs
	dirty   bool
	timer   *time.Timer
	closed  bool
	lastErr string // the last failed save's error ("" after a success)
}

// envelope is the file's document.
type envelope struct {
	Format  string          `json:"format"`
	Version int             `json:"version"`
	SavedAt time.Time       `json:"saved_at"`
	State   json.RawMessage `json:"state"`
}

// Open locks the state file and reads it: a state of the expected format
// and version is handed to load (which restores it, or returns an error to
// have the file set aside). It fails with ErrBusy when another process
// holds the file, or when the folder cannot be created or locked.
func Open(o Options, load func(state json.RawMessage) error) (*Store, Opened, error) {
	if o.Debounce <= 0 {
		o.Debounce = DefaultDebounce
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Snapshot == nil {
		return nil, Opened{}, errors.New("simstate: Options.Snapshot is required")
	}
	dir := filepath.Dir(o.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, Opened{}, fmt.Errorf("cannot create the folder of the simulator's state %s: %w", dir, err)
	}
	unlock, err := filelock.Lock(o.Path + ".lock")
	if errors.Is(err, filelock.ErrHeld) {
		return nil, Opened{}, fmt.Errorf("%w (%s is locked)", ErrBusy, o.Path)
	}
	if err != nil {
		return nil, Opened{}, err
	}
	s := &Store{o: o, log: log, unlock: unlock}
	found, err := s.read(load)
	if err != nil {
		unlock()
		return nil, Opened{}, err
	}
	return s, found, nil
}

// read loads the file; a file it cannot use is set aside.
func (s *Store) read(load func(json.RawMessage) error) (Opened, error) {
	raw, err := os.ReadFile(s.o.Path)
	if errors.Is(err, os.ErrNotExist) {
		return Opened{}, nil
	}
	if err != nil {
		return s.setAside(fmt.Sprintf("it could not be read (%v)", err))
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(raw))
	switch err := dec.Decode(&env); {
	case err != nil:
		return s.setAside(fmt.Sprintf("it is not a whole JSON document (%v)", cut(err.Error())))
	case dec.More():
		return s.setAside("it holds more than one JSON document")
	case env.Format != Format:
		return s.setAside(fmt.Sprintf("it is not a linkdesk simulator state (format %q, want %q)", cut(env.Format), Format))
	case env.Version != s.o.Version:
		return s.setAside(fmt.Sprintf("it was written by another version of linkdesk (state format %d; this linkdesk reads %d)", env.Version, s.o.Version))
	case len(env.State) == 0 || string(env.State) == "null":
		return s.setAside("it holds no state")
	}
	if err := load(env.State); err != nil {
		return s.setAside(fmt.Sprintf("its state is not usable (%s)", cut(err.Error())))
	}
	return Opened{Loaded: true, SavedAt: env.SavedAt}, nil
}

// setAside renames the file out of the way and says so.
func (s *Store) setAside(why string) (Opened, error) {
	to := s.o.Path + ".set-aside-" + s.o.Now().UTC().Format("20060102T150405Z")
	for n := 2; ; n++ {
		if _, err := os.Lstat(to); errors.Is(err, os.ErrNotExist) {
			break
		}
		to = fmt.Sprintf("%s.set-aside-%s-%d", s.o.Path, s.o.Now().UTC().Format("20060102T150405Z"), n)
	}
	if err := os.Rename(s.o.Path, to); err != nil {
		return Opened{}, fmt.Errorf("the simulator's state file %s cannot be used (%s) nor set aside: %w; move it away", s.o.Path, why, err)
	}
	durable.SyncDir(filepath.Dir(s.o.Path))
	note := fmt.Sprintf("The simulator's saved state could not be used: %s. It was set aside as %s and the simulator starts afresh.", why, to)
	s.log.Warn("simulator state set aside; the simulator starts afresh", "file", s.o.Path, "set_aside_as", to, "why", why)
	return Opened{Note: note, SetAside: to}, nil
}

// Path is the state file.
func (s *Store) Path() string { return s.o.Path }

// Changed records that the state changed: it is saved at most
// Options.Debounce later.
func (s *Store) Changed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.dirty = true
	if s.timer == nil {
		s.timer = time.AfterFunc(s.o.Debounce, func() {
			s.mu.Lock()
			s.timer = nil
			s.mu.Unlock()
			s.flush()
		})
	}
}

// Commit records a change and saves the state at once; it returns when the
// change is on disk (or the save failed). Call it after the change, without
// holding the locks Snapshot takes.
func (s *Store) Commit() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.dirty = true
	s.mu.Unlock()
	return s.flush()
}

// Close saves what changed, stops saving and releases the lock. Calling it
// again does nothing.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.mu.Unlock()
	err := s.flush()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.writeMu.Lock() // a save in flight ends first
	defer s.writeMu.Unlock()
	if uerr := s.unlock(); err == nil {
		err = uerr
	}
	return err
}

// flush writes the state if it is dirty.
func (s *Store) flush() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	dirty, closed := s.dirty, s.closed
	s.dirty = false
	s.mu.Unlock()
	if !dirty || closed {
		return nil
	}
	err := s.write()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.dirty = true
		if s.lastErr == "" { // once per run of failures
			s.log.Error("the simulator's state could not be saved; it is tried again at the next change", "file", s.o.Path, "error", err)
		}
		s.lastErr = err.Error()
		return err
	}
	if s.lastErr != "" {
		s.log.Info("the simulator's state is saved again", "file", s.o.Path)
		s.lastErr = ""
	}
	return nil
}

// write saves the snapshot atomically (caller holds writeMu).
func (s *Store) write() error {
	state, err := json.Marshal(s.o.Snapshot())
	if err != nil {
		return fmt.Errorf("encoding the simulator's state: %w", err)
	}
	b, err := json.MarshalIndent(envelope{Format: Format, Version: s.o.Version, SavedAt: s.o.Now().UTC(), State: state}, "", " ")
	if err != nil {
		return fmt.Errorf("encoding the simulator's state: %w", err)
	}
	return durable.WriteFile(s.o.Path, append(b, '\n'))
}

func cut(s string) string {
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}
