package testneeds

import (
	"fmt"
	"runtime"
	"testing"
)

// recorder is a testing.TB that records how a test ended instead of ending.
type recorder struct {
	testing.TB
	ended string // "fatal: …" or "skip: …"
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.ended = "fatal: " + fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Skipf(format string, args ...any) {
	r.ended = "skip: " + fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func end(f func(t testing.TB)) string {
	r := &recorder{}
	done := make(chan struct{})
	go func() { defer close(done); f(r) }()
	<-done
	return r.ended
}

func TestMissingSkipsUnlessRequired(t *testing.T) {
	t.Setenv(Specs, "")
	if got := end(func(t testing.TB) { Missing(t, Specs, "no specs in %s", "/x") }); got != "skip: no specs in /x (set LINKDESK_REQUIRE_SPECS=1 to make this a failure)" {
		t.Errorf("without the variable: %q", got)
	}
	t.Setenv(Specs, "1")
	if got := end(func(t testing.TB) { Missing(t, Specs, "no specs in %s", "/x") }); got != "fatal: LINKDESK_REQUIRE_SPECS=1 but no specs in /x" {
		t.Errorf("with the variable: %q", got)
	}
}

func TestToolFindsOrNamesThePackage(t *testing.T) {
	t.Setenv(Tools, "1")
	if got := end(func(t testing.TB) { Tool(t, Tools, "linkdesk-no-such-tool", "no-such-package") }); got != "fatal: LINKDESK_REQUIRE_TOOLS=1 but linkdesk-no-such-tool is not installed (apt-get install no-such-package)" {
		t.Errorf("missing tool: %q", got)
	}
	if got := end(func(t testing.TB) {
		if Tool(t, Tools, "sh", "dash") == "" {
			t.Fatalf("no path")
		}
	}); got != "" {
		t.Errorf("sh: %q", got)
	}
}
