package linkflow_test

import (
	"testing"
	"time"

	"linkdesk/app/linkflow"
	"linkdesk/app/sim"
)

// Issue 14, as found: PollInitial = PollMax = 1ns (what config once
// accepted) and a 3 s workflow made 4,549 GET /api/workflows/{guid} in
// 3.3 s. The real flow against the real simulator now stays within
// MaxPollsPerSecond, counted by the simulator itself.
func TestNanosecondPollSettingsDoNotFloodCybrid(t *testing.T) {
	t.Parallel() // its own simulator and flow; it waits on the flow's real-time timers
	const delay = 3 * time.Second
	r := newRig(t, sim.Options{WorkflowDelay: delay, AccountDelay: -1},
		linkflow.Settings{PollInitial: time.Nanosecond, PollMax: time.Nanosecond, WorkflowTimeout: 30 * time.Second})
	cust := r.Sim.Cybrid.Customers()[0].GUID
	start := time.Now()
	a, err := r.Flow.StartLink(cust)
	if err != nil {
		t.Fatal(err)
	}
	r.Until(a.ID, linkflow.LinkOpen)
	took := time.Since(start)
	gets := r.Sim.Cybrid.Stats().ByRoute["GET /api/workflows/{guid}"]
	rate := float64(gets) / took.Seconds()
	t.Logf("a %v workflow polled at 1ns: %d GET /api/workflows/{guid} in %v (%.1f a second; was 4,549 in 3.3 s)", delay, gets, took.Round(time.Millisecond), rate)
	if limit := int(took/linkflow.MinGap) + 1; gets > limit {
		t.Errorf("%d polls in %v, want at most %d (%d a second)", gets, took, limit, linkflow.MaxPollsPerSecond)
	}
	if gets == 0 {
		t.Error("the simulator counted no workflow polls")
	}
}
