package session

import "testing"

// KillSimLinkdesk runs a linkdesk on the built-in simulator with state
// folder dir in a child process until it reaches until ("link_open" or
// "account_created", see simCrashJob), SIGKILLs it, and returns what it
// said there: the attempt id, the customer GUID and, after the account was
// created, its GUID. For the window tests (package session_test).
func KillSimLinkdesk(t *testing.T, dir, until string) []string {
	t.Helper()
	_, said := killedAt(t, simCrashJob{StateDir: dir, RuntimeDir: t.TempDir(), Until: until})
	return said
}
