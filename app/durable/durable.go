// Package durable replaces files so that a crash or a full disk leaves
// either the old content or the new one, never a mix: the one rule of
// linkdesk's state files (the crash journal's compaction, the simulator's
// state, the banks' names).
//
// Replace writes a temporary file in the same folder (mode 0600), fsyncs
// it, renames it over the path and fsyncs the folder; on any failure the
// path is left as it was and the temporary file removed.
package durable

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Replace replaces path with what write writes to w (which it need not
// buffer more than it wants; w is the temporary file itself).
func Replace(path string, write func(w io.Writer) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w", dir, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(0o600); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return fail(err)
	}
	if err := write(f); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	SyncDir(dir)
	return nil
}

// WriteFile replaces path with data (see Replace).
func WriteFile(path string, data []byte) error {
	return Replace(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// SyncDir fsyncs a folder so that a rename in it is durable; best effort
// (a no-op where folders cannot be opened or synced, as on Windows).
func SyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
