//go:build windows

package filelock

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
)

// errorSharingViolation is ERROR_SHARING_VIOLATION (not in package syscall).
const errorSharingViolation syscall.Errno = 32

func lock(path string) (func() error, error) {
	p, err := syscall.UTF16PtrFromString(path)
	if err != nil {
		return nil, fmt.Errorf("lock file %s: %w", path, err)
	}
	h, err := syscall.CreateFile(p, syscall.GENERIC_READ|syscall.GENERIC_WRITE, 0, nil,
		syscall.OPEN_ALWAYS, syscall.FILE_ATTRIBUTE_NORMAL, 0)
	if err != nil {
		if errors.Is(err, errorSharingViolation) {
			return nil, fmt.Errorf("%w (%s)", ErrHeld, path)
		}
		return nil, fmt.Errorf("cannot lock %s: %w", path, err)
	}
	var once sync.Once
	return func() error {
		var err error
		once.Do(func() { err = syscall.CloseHandle(h) })
		return err
	}, nil
}
