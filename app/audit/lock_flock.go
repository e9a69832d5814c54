//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package audit

import (
	"fmt"
	"os"
	"syscall"
)

// fileLock is an flock on the audit log's lock file, shared with every other
// linkdesk using the same state directory.
type fileLock struct{ f *os.File }

func openLock(path string) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return &fileLock{f}, nil
}

// acquire waits for the exclusive lock; the returned func releases it. It is
// held only for one append or one read of the files, so the wait is short.
func (l *fileLock) acquire() (func(), error) {
	for {
		err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_EX)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("locking %s: %w", l.f.Name(), err)
		}
		return func() { syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN) }, nil
	}
}

func (l *fileLock) close() { l.f.Close() }
