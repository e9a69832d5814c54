//go:build windows

package journal

import (
	"errors"
	"fmt"
	"syscall"
)

// errorSharingViolation is ERROR_SHARING_VIOLATION (not in package syscall).
const errorSharingViolation syscall.Errno = 32

// lockFile opens path with no sharing: a second opener gets
// ERROR_SHARING_VIOLATION until the handle is closed or the process ends.
func lockFile(path string) (func() error, error) {
	p, err := syscall.UTF16PtrFromString(path)
	if err != nil {
		return nil, fmt.Errorf("journal: lock file %s: %w", path, err)
	}
	h, err := syscall.CreateFile(p, syscall.GENERIC_READ|syscall.GENERIC_WRITE, 0, nil,
		syscall.OPEN_ALWAYS, syscall.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		if errors.Is(err, errorSharingViolation) {
			return nil, fmt.Errorf("%w (%s is in use): close the other linkdesk for this environment, or use it", ErrBusy, path)
		}
		return nil, fmt.Errorf("journal: cannot lock %s: %w", path, err)
	}
	return func() error { return syscall.CloseHandle(h) }, nil
}

// syncDir is a no-op: Windows has no directory fsync; MoveFileEx's
// replacement is durable enough for a journal.
func syncDir(string) {}
