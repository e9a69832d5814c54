//go:build linux

package testneeds

import (
	"fmt"
	"syscall"
	"testing"
)

// MountTmpfs mounts a tmpfs of size bytes (mode 0700) on a new directory and
// unmounts it when the test ends: a real disk that fills up, for full-disk
// tests. Mounting needs root (CAP_SYS_ADMIN); without it the test ends
// through Missing (LINKDESK_REQUIRE_TMPFS).
func MountTmpfs(t testing.TB, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		Missing(t, Tmpfs, "cannot mount a %d-byte tmpfs on %s (%v): the full-disk tests need root", size, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			if err2 := syscall.Unmount(dir, syscall.MNT_DETACH); err2 != nil {
				t.Errorf("unmounting the tmpfs on %s: %v, %v", dir, err, err2)
			}
		}
	})
	return dir
}
