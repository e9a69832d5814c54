package flowrig

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"linkdesk/app/linkflow"
	"linkdesk/app/sim"
)

// fatalRecorder stands in for the test in a call expected to fail it: it
// keeps the message and ends the calling goroutine, as Fatalf does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestUntilReadsEachAttemptsOwnStatesInOrder: Until finds a state an
// attempt has already passed through, never consumes another attempt's
// snapshots, and fails — naming both states — when the attempt ended in
// another one.
func TestUntilReadsEachAttemptsOwnStatesInOrder(t *testing.T) {
	r := New(t, Options{Sim: sim.Options{WorkflowDelay: Brief, AccountDelay: Brief}})
	a := r.ToSuccess(r.Customer())
	b, err := r.Flow.StartLink(r.Customer())
	if err != nil {
		t.Fatal(err)
	}
	r.Eventually("attempt a done", func() (bool, error) {
		got, _ := r.Flow.Get(a.ID)
		return got.State == linkflow.Done, fmt.Errorf("it is %s", got.State)
	})
	if got := r.Until(a.ID, linkflow.CreatingAccount); got.State != linkflow.CreatingAccount || got.ID != a.ID {
		t.Errorf("Until(creating_account) after the attempt was done = %s %s", got.ID, got.State)
	}
	done := r.Until(a.ID, linkflow.Done)
	if done.AccountGUID == "" {
		t.Errorf("the done snapshot has no account: %+v", done)
	}
	// b's early states are still there, however far a was read.
	if got := r.Until(b.ID, linkflow.WaitingForToken); got.ID != b.ID {
		t.Errorf("Until for b returned attempt %s", got.ID)
	}
	open := r.Until(b.ID, linkflow.LinkOpen)
	if err := r.Flow.Cancel(b.ID); err != nil {
		t.Fatal(err)
	}

	// An attempt that ends otherwise fails the wait at once.
	rec := &fatalRecorder{TB: t}
	r.t = rec
	finished := make(chan struct{})
	go func() { defer close(finished); r.Until(open.ID, linkflow.Done) }()
	<-finished
	r.t = t
	if !strings.Contains(rec.msg, "ended exited") || !strings.Contains(rec.msg, "Cancelled") || !strings.Contains(rec.msg, "want done") {
		t.Errorf("Until(done) of a cancelled attempt failed with %q, want it to say how the attempt ended", rec.msg)
	}
	r.CheckContract()
}
