package linkflow_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"linkdesk/app/linkflow"
	"linkdesk/app/problem"
	"linkdesk/app/sim"
	"linkdesk/app/sim/cybridsim"
)

// wantProblem checks that a failed (or parked) attempt carries a problem of
// kind whose headline says phrase, and that it leaks no token.
func wantProblem(t *testing.T, a linkflow.Attempt, kind problem.Kind, phrase string) {
	t.Helper()
	if a.Problem == nil {
		t.Fatalf("attempt %s (%s: %s) has no problem", a.State, a.Code, a.Error)
	}
	if a.Problem.Kind != kind || !strings.Contains(a.Problem.Headline, phrase) {
		t.Errorf("problem %+v, want kind %s with %q in its headline", *a.Problem, kind, phrase)
	}
	b, _ := json.Marshal(a.Problem)
	for _, w := range []string{"eyJ", "public-sandbox-", "link-sandbox-"} {
		if strings.Contains(string(b), w) {
			t.Errorf("problem holds something token-shaped (%q): %s", w, b)
		}
	}
}

// customersIn returns the seeded customers in state.
func customersIn(s *sim.Sim, state string) []string {
	var out []string
	for _, c := range s.Cybrid.Customers() {
		if c.State == state {
			out = append(out, c.GUID)
		}
	}
	return out
}

// TestUnverifiedCustomerIsRefusedBeforeAnyWorkflow: CheckCustomer asks
// Cybrid for the customer and refuses a frozen or unverified one with a
// customer_state problem that names the state and what to do — before any
// workflow is requested; a verified customer passes.
func TestUnverifiedCustomerIsRefusedBeforeAnyWorkflow(t *testing.T) {
	t.Parallel() // its own simulator and flow; it waits on the flow's real-time timers
	r := newRig(t, sim.Options{WorkflowDelay: -1}, linkflow.Settings{})
	ctx := context.Background()
	for state, want := range map[string]string{"frozen": "This customer is frozen", "unverified": "not verified yet (unverified)"} {
		guids := customersIn(r.Sim, state)
		if len(guids) == 0 {
			t.Fatalf("the simulator seeds no %s customer", state)
		}
		err := r.Flow.CheckCustomer(ctx, guids[0])
		if err == nil {
			t.Fatalf("%s customer: not refused", state)
		}
		p := problem.Classify(err)
		if p.Kind != problem.CustomerState || !strings.Contains(p.Headline, want) || !strings.Contains(p.Detail, state) {
			t.Errorf("%s customer: %+v", state, p)
		}
		t.Logf("%s: %s %s", state, p.Headline, p.Fix)
	}
	st := r.Sim.Cybrid.Stats()
	if n := st.ByRoute["POST /api/workflows"]; n != 0 || len(r.Sim.Cybrid.Workflows()) != 0 {
		t.Errorf("%d workflow requests, %d workflows after refusals: want none", n, len(r.Sim.Cybrid.Workflows()))
	}
	if n := st.ByRoute["GET /api/customers/{guid}"]; n != 2 {
		t.Errorf("%d customer reads, want one per check", n)
	}
	if err := r.Flow.CheckCustomer(ctx, customersIn(r.Sim, "verified")[0]); err != nil {
		t.Errorf("verified customer refused: %v", err)
	}
	// Cybrid could not be asked: its error, classified, and still nothing
	// created.
	r.faults(cybridsim.Fault{Route: "GET /api/customers/{guid}", Kind: cybridsim.Fault503})
	err := r.Flow.CheckCustomer(ctx, customersIn(r.Sim, "verified")[0])
	if p := problem.Classify(err); err == nil || p.Kind != problem.CybridFailure {
		t.Errorf("check while Cybrid fails: %v (%+v)", err, p)
	}
}

// TestWorkflowRefusalsSayWhy: an attempt started without the check (a Go
// caller) for a frozen customer fails with Cybrid's 422 worded as a
// customer_state problem — not "check the connection" — and a network
// failure as a network problem.
func TestWorkflowRefusalsSayWhy(t *testing.T) {
	t.Parallel() // its own simulator and flow; it waits on the flow's real-time timers
	r := newFaultFlowRig(t, linkflow.Settings{})
	a, err := r.Flow.StartLink(customersIn(r.Sim, "frozen")[0])
	if err != nil {
		t.Fatal(err)
	}
	f := r.Until(a.ID, linkflow.Failed)
	wantProblem(t, f, problem.CustomerState, "frozen")
	if strings.Contains(f.Error, "Check the connection") || !strings.Contains(f.Error, "Cybrid did not create the link-token workflow.") || !strings.Contains(f.Error, "frozen") {
		t.Errorf("error: %q", f.Error)
	}
	if !strings.Contains(f.Problem.Detail, "422 unverified_customer") {
		t.Errorf("detail lacks Cybrid's answer: %q", f.Problem.Detail)
	}

	r.faults(cybridsim.Fault{Route: "POST /api/workflows", Kind: cybridsim.FaultReset})
	start := time.Now()
	b, _ := r.Flow.StartLink(customersIn(r.Sim, "verified")[0])
	f = r.Until(b.ID, linkflow.Failed)
	wantProblem(t, f, problem.Network, "cannot reach Cybrid")
	if f.Problem.Action != problem.TryAgain || !strings.Contains(f.Problem.Fix, "closed without an answer") {
		t.Errorf("network problem: %+v", *f.Problem)
	}
	t.Logf("network failure worded after %s: %s | %s", time.Since(start).Round(time.Millisecond), f.Problem.Headline, f.Problem.Detail)
}
