// Package filelock takes an exclusive lock on a file for as long as one
// process holds it, so that two linkdesks never write the same state: the
// second one is told at once (ErrHeld) and can run on without it.
//
// The lock is advisory and belongs to the open file: flock on Unix, an
// unshared handle on Windows; elsewhere there is none (Lock always
// succeeds). The kernel releases it when the holder exits, however it
// exits (SIGKILL included), so a crash never leaves a stale lock behind.
// Two Locks of one path in one process exclude each other as two processes
// do.
package filelock

import (
	"errors"
	"time"
)

// ErrHeld is wrapped by Lock's error when another holder has the lock.
var ErrHeld = errors.New("the lock is held by another process")

// Wait is how long Lock waits for a lock held a moment too long: a process
// linkdesk starts (a browser, a file manager) can share the lock's open file
// between fork and exec, so a lock released and taken again at once (an
// environment switch) can find itself still held for that moment.
const Wait = 500 * time.Millisecond

// Lock takes the exclusive lock on path (the file is created, mode 0600,
// and left in place), waiting at most Wait. The returned func releases it;
// calling it again does nothing.
func Lock(path string) (unlock func() error, err error) {
	return lock(path)
}
