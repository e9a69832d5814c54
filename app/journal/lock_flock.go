//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package journal

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockWait is how long lockFile waits for a lock held a moment too long: a
// process linkdesk starts (a browser, a file manager) shares the lock's
// open file from fork to exec, so a journal closed and opened again (an
// environment switch) can find its own old lock still held for that moment.
const lockWait = 500 * time.Millisecond

// lockFile takes an exclusive flock on path (created 0600), waiting at
// most lockWait for it. The kernel releases it when the process ends,
// however it ends.
func lockFile(path string) (func() error, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("journal: cannot create the lock file %s: %w", path, err)
	}
	deadline := time.Now().Add(lockWait)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (%s is locked): close the other linkdesk for this environment, or use it", ErrBusy, path)
		}
		return nil, fmt.Errorf("journal: cannot lock %s: %w", path, err)
	}
	return f.Close, nil
}

// syncDir fsyncs a directory so a rename in it is durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
