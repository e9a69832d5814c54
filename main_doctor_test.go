package main

import (
	"runtime"
	"strings"
	"testing"
)

// `linkdesk doctor` in sim starts the simulator in-process and passes every
// check that applies; piped output uses the plain marks.
func TestDoctorInSim(t *testing.T) {
	code, out, errOut := linkdesk(t, []string{"LINKDESK_ENVIRONMENT=sim", "LINKDESK_REDIRECT_URI="}, "doctor")
	t.Logf("linkdesk doctor:\n%s%s", out, errOut)
	if code != 0 {
		t.Fatalf("exit %d, want 0", code)
	}
	for _, want := range []string{"linkdesk doctor: environment sim\n", "ok   simulator ", "ok   token ", "ok   scopes ", "ok   bank API ", "No problems found"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "FAIL") || strings.Contains(out, "✓") {
		t.Error("a failure, or terminal marks on a pipe")
	}
}

// Without a reachable keychain, doctor says so with the keychain's own
// advice and exits 1 (a dead D-Bus address, for real, in a child process).
func TestDoctorWithoutKeychain(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("a dead D-Bus address makes the keychain unreachable only on Linux")
	}
	code, out, _ := linkdesk(t, []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent", "LINKDESK_REDIRECT_URI="}, "doctor", "--env", "sandbox", "--timeout", "3s")
	t.Logf("linkdesk doctor --env sandbox:\n%s", out)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{"FAIL keychain       no OS keychain is reachable", "gnome-keyring", "skip credentials    needs the keychain"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
