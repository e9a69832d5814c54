//go:build !linux

package ui_test

import (
	"os"
	"testing"
)

func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	if os.Getenv("LINKDESK_REQUIRE_TMPFS") == "1" {
		t.Fatal("the full-disk tests mount a tmpfs, which needs Linux, and LINKDESK_REQUIRE_TMPFS=1 requires them")
	}
	t.Skip("the full-disk tests mount a tmpfs, which needs Linux")
	return ""
}
