//go:build !linux

package testneeds

import "testing"

// MountTmpfs mounts a tmpfs for full-disk tests; only Linux has one, so here
// the test ends through Missing (LINKDESK_REQUIRE_TMPFS).
func MountTmpfs(t testing.TB, size int) string {
	t.Helper()
	Missing(t, Tmpfs, "the full-disk tests mount a tmpfs, which needs Linux")
	return ""
}
