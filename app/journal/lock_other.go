//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || windows)

package journal

import "os"

// lockFile is a no-op where no file lock is available: two linkdesks on one
// environment would each reconcile the other's running attempts.
func lockFile(path string) (func() error, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return f.Close, nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
