package session_test

import (
	"fmt"
	"strings"
	"time"

	"linkdesk/app/session"
)

// The start-up landmark app/bench times: once the customers list is
// rendered the page says it is ready, and the app logs "page interactive"
// once. Nothing is bound into the page for it.
//
// (The first test of TestTheDeskOnTheSimulator: the app has just started,
// and its page has not been reloaded.)
func pageInteractiveIsLoggedOnce(a *app) {
	t := a.t
	// startApp returns once body[data-ready=true].
	a.until(5*time.Second, fmt.Sprintf("a %q line logged once the page is interactive", session.BenchReadyMessage), func() (bool, error) {
		return strings.Contains(a.logs.String(), `msg="`+session.BenchReadyMessage+`"`), nil
	})
	var rows int
	a.js(`document.querySelectorAll('[data-testid="customer-row"]').length`, &rows)
	if rows == 0 {
		t.Errorf("%q was logged but the customer list is empty", session.BenchReadyMessage)
	}
	if n := strings.Count(a.logs.String(), session.BenchReadyMessage); n != 1 {
		t.Errorf("logged %q %d times, want once", session.BenchReadyMessage, n)
	}
}
