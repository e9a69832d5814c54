package session_test

import (
	"strings"
	"testing"
	"time"

	"linkdesk/app/session"
	"linkdesk/app/sim"
)

// The start-up landmark app/bench times: once the customers list is
// rendered the page says it is ready, and the app logs "page interactive"
// once. Nothing is bound into the page for it.
func TestPageInteractiveIsLoggedOnce(t *testing.T) {
	a := startApp(t, sim.Options{}) // returns once body[data-ready=true]
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(a.logs.String(), `msg="`+session.BenchReadyMessage+`"`) {
		if time.Now().After(deadline) {
			t.Fatalf("the page is interactive but no %q line was logged within 5 s; logs:\n%s", session.BenchReadyMessage, a.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	var rows int
	a.js(`document.querySelectorAll('[data-testid="customer-row"]').length`, &rows)
	if rows == 0 {
		t.Errorf("%q was logged but the customer list is empty", session.BenchReadyMessage)
	}
	if n := strings.Count(a.logs.String(), session.BenchReadyMessage); n != 1 {
		t.Errorf("logged %q %d times, want once", session.BenchReadyMessage, n)
	}
}
