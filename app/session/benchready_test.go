package session_test

import (
	"strings"
	"testing"
	"time"

	"linkdesk/app/session"
	"linkdesk/app/sim"
)

// The benchmark's hook: with LINKDESK_BENCH_READY=1 the app logs "page
// interactive" once the customers list is rendered (app/bench times
// start-up by it); without it nothing extra is bound in the page.
func TestBenchReadyHook(t *testing.T) {
	t.Run("on", func(t *testing.T) {
		t.Setenv(session.BenchReadyEnv, "1")
		a := startApp(t, sim.Options{}) // returns once body[data-ready=true]
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(a.logs.String(), `msg="`+session.BenchReadyMessage+`"`) {
			if time.Now().After(deadline) {
				t.Fatalf("the page is interactive but no %q line was logged within 5 s; logs:\n%s", session.BenchReadyMessage, a.logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		var rows int
		a.js(`document.querySelectorAll('[data-testid="customer-list"] li').length`, &rows)
		if rows == 0 {
			t.Errorf("%q was logged but the customer list is empty", session.BenchReadyMessage)
		}
		if n := strings.Count(a.logs.String(), session.BenchReadyMessage); n != 1 {
			t.Errorf("logged %q %d times, want once", session.BenchReadyMessage, n)
		}
	})
	t.Run("off", func(t *testing.T) {
		t.Setenv(session.BenchReadyEnv, "")
		a := startApp(t, sim.Options{})
		var kind string
		a.js(`typeof window.linkdeskBenchReady`, &kind)
		if kind != "undefined" {
			t.Errorf("without %s the page has linkdeskBenchReady (%s); want nothing bound", session.BenchReadyEnv, kind)
		}
		if strings.Contains(a.logs.String(), session.BenchReadyMessage) {
			t.Errorf("without %s the app logged %q", session.BenchReadyEnv, session.BenchReadyMessage)
		}
	})
}
