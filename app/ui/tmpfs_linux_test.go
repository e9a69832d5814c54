//go:build linux

package ui_test

import (
	"fmt"
	"os"
	"syscall"
	"testing"
)

// mountTmpfs mounts a tmpfs of size bytes (mode 0700) on a new directory
// and unmounts it when the test ends. Mounting needs root (CAP_SYS_ADMIN):
// without it the test is skipped — or fails, when LINKDESK_REQUIRE_TMPFS=1
// (set by the Taskfile's test task).
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		msg := fmt.Sprintf("cannot mount a %d-byte tmpfs on %s (%v): the full-disk tests need root", size, dir, err)
		if os.Getenv("LINKDESK_REQUIRE_TMPFS") == "1" {
			t.Fatal(msg + ", and LINKDESK_REQUIRE_TMPFS=1 requires them")
		}
		t.Skip(msg + "; LINKDESK_REQUIRE_TMPFS=1 makes this a failure")
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
