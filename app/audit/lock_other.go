//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package audit

import "os"

// fileLock only creates the lock file where no flock is available (Windows
// and the rest): appends are serialised within one process (Log.mu), and two
// processes appending at once rely on O_APPEND; a rotation racing another
// process's append may put that one record into the rotated file.
type fileLock struct{ f *os.File }

func openLock(path string) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return &fileLock{f}, nil
}

func (l *fileLock) acquire() (func(), error) { return func() {}, nil }

func (l *fileLock) close() { l.f.Close() }
