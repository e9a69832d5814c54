package cybrid_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/app/cybrid"
	"linkdesk/app/sim"
	"linkdesk/app/sim/cybridsim"
)

// These tests run the real client against the real simulator on loopback,
// with faults injected by the simulator.

const testRequestTimeout = 200 * time.Millisecond

type faultRig struct {
	t    *testing.T
	sim  *sim.Sim
	c    *cybrid.Client
	mu   sync.Mutex
	seen []cybrid.Call
	cust string
}

func newFaultRig(t *testing.T, policy cybrid.RetryPolicy) *faultRig {
	t.Helper()
	s, err := sim.Start(sim.Options{WorkflowDelay: -1, AccountDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := &faultRig{t: t, sim: s, cust: s.Cybrid.Customers()[0].GUID}
	if policy.BaseDelay == 0 {
		policy.BaseDelay, policy.MaxDelay = 10*time.Millisecond, 40*time.Millisecond
	}
	r.c, err = cybrid.New(cybrid.Options{BankURL: s.BankURL, IdentityURL: s.IdentityURL, ClientID: s.ClientID, ClientSecret: s.ClientSecret,
		RequestTimeout: testRequestTimeout, Retry: policy,
		Observer: func(c cybrid.Call) { r.mu.Lock(); r.seen = append(r.seen, c); r.mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	// A token first, so that faults on the API do not mix with it.
	if _, err := r.c.Token(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *faultRig) fault(f cybridsim.Fault) {
	r.t.Helper()
	if f.Kind == cybridsim.FaultSlow && f.Delay == 0 {
		f.Delay = 2 * time.Second
	}
	if err := r.sim.Cybrid.SetFaults([]cybridsim.Fault{f}); err != nil {
		r.t.Fatal(err)
	}
}

func (r *faultRig) calls(method, pathPrefix string) []cybrid.Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []cybrid.Call
	for _, c := range r.seen {
		if c.Method == method && strings.HasPrefix(c.Path, pathPrefix) {
			out = append(out, c)
		}
	}
	return out
}

func (r *faultRig) reset() {
	r.mu.Lock()
	r.seen = nil
	r.mu.Unlock()
	r.sim.Cybrid.ClearFaults()
}

func (r *faultRig) workflow() string {
	r.t.Helper()
	w, err := r.c.CreateWorkflow(context.Background(), cybrid.PostWorkflow{Kind: cybrid.LinkTokenCreate, CustomerGUID: r.cust, Language: "en", LinkCustomizationName: "default"})
	if err != nil {
		r.t.Fatal(err)
	}
	return w.GUID
}

func (r *faultRig) account() string {
	r.t.Helper()
	a, err := r.c.CreateExternalBankAccount(context.Background(), cybrid.PostExternalBankAccount{Name: "Checking", AccountKind: cybrid.AccountKindPlaid,
		CustomerGUID: r.cust, Asset: "USD", PlaidPublicToken: "public-sandbox-not-a-real-one", PlaidAccountID: "acc"})
	if err != nil {
		r.t.Fatal(err)
	}
	return a.GUID
}

var getFaults = []cybridsim.FaultKind{cybridsim.Fault500, cybridsim.Fault502, cybridsim.Fault503, cybridsim.FaultReset,
	cybridsim.FaultSlow, cybridsim.FaultMalformed}

// TestGetsRideOutEveryFault: two faults in a row on GET workflow and GET
// account; the call still succeeds, and the Observer sees the retries.
func TestGetsRideOutEveryFault(t *testing.T) {
	r := newFaultRig(t, cybrid.RetryPolicy{})
	wf, acct := r.workflow(), r.account()
	for _, target := range []struct {
		route, path string
		get         func(ctx context.Context) (string, error)
	}{
		{"GET /api/workflows/{guid}", "/api/workflows/", func(ctx context.Context) (string, error) {
			w, err := r.c.GetWorkflow(ctx, wf)
			return w.GUID, err
		}},
		{"GET /api/external_bank_accounts/{guid}", "/api/external_bank_accounts/", func(ctx context.Context) (string, error) {
			a, err := r.c.GetExternalBankAccount(ctx, acct)
			return a.GUID, err
		}},
	} {
		for _, kind := range getFaults {
			r.reset()
			r.fault(cybridsim.Fault{Route: target.route, Kind: kind, Times: 2})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			start := time.Now()
			guid, err := target.get(ctx)
			cancel()
			if err != nil || (guid != wf && guid != acct) {
				t.Errorf("%s with 2× %s: %q, %v", target.route, kind, guid, err)
				continue
			}
			if kind == cybridsim.FaultSlow && time.Since(start) > 2*time.Second {
				t.Errorf("%s with 2× slow took %v: the per-request timeout did not cut the slow answers", target.route, time.Since(start))
			}
			st := r.sim.Cybrid.Faults()[0]
			if st.Applied != 2 {
				t.Errorf("%s: %d %s faults applied, want 2", target.route, st.Applied, kind)
			}
			calls := r.calls("GET", target.path)
			last := calls[len(calls)-1]
			// net/http itself replays a GET once when a reused connection is
			// reset, so the client may see one reset less.
			if len(calls) < 2 || last.Attempt != len(calls) || last.Retry == "" || last.Status != 200 {
				t.Errorf("%s with %s: observed %+v", target.route, kind, calls)
			}
		}
	}
}

// TestGetGivesUpWithAClearError: a fault on every request ends the call
// after MaxAttempts with the last error and how many tries were made.
func TestGetGivesUpWithAClearError(t *testing.T) {
	r := newFaultRig(t, cybrid.RetryPolicy{MaxAttempts: 3})
	wf := r.workflow()
	r.fault(cybridsim.Fault{Route: "GET /api/workflows/{guid}", Kind: cybridsim.Fault500})
	_, err := r.c.GetWorkflow(context.Background(), wf)
	var ae *cybrid.APIError
	if !errors.As(err, &ae) || ae.StatusCode != 500 || !cybrid.IsTemporary(err) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "gave up after 3 attempts") || !strings.Contains(err.Error(), "500 internal_error: Internal server error") {
		t.Errorf("error does not say what happened: %v", err)
	}
	if n := r.sim.Cybrid.Stats().Faults; n != 3 {
		t.Errorf("%d tries reached the server, want 3", n)
	}
}

// TestDeadlineBoundsRetries: the caller's deadline ends a call that keeps
// failing, and a slow answer costs one per-request timeout, not the deadline.
func TestDeadlineBoundsRetries(t *testing.T) {
	r := newFaultRig(t, cybrid.RetryPolicy{MaxAttempts: 100, BaseDelay: 50 * time.Millisecond, MaxDelay: 100 * time.Millisecond})
	wf := r.workflow()

	r.fault(cybridsim.Fault{Route: "GET /api/workflows/{guid}", Kind: cybridsim.FaultReset})
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	start := time.Now()
	_, err := r.c.GetWorkflow(ctx, wf)
	cancel()
	if err == nil || time.Since(start) > 600*time.Millisecond {
		t.Fatalf("always-reset GET with a 400 ms deadline: %v after %v", err, time.Since(start))
	}

	r.reset()
	r.fault(cybridsim.Fault{Route: "GET /api/workflows/{guid}", Kind: cybridsim.FaultSlow, Times: 1, Delay: 5 * time.Second})
	ctx, cancel = context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	start = time.Now()
	if _, err := r.c.GetWorkflow(ctx, wf); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	if took < testRequestTimeout || took > testRequestTimeout+500*time.Millisecond {
		t.Errorf("a slow answer cost %v; want about one per-request timeout (%v)", took, testRequestTimeout)
	}
	t.Logf("slow answer ridden out in %v (per-request timeout %v, deadline 3s)", took, testRequestTimeout)
	if c := r.calls("GET", "/api/workflows/"); len(c) != 2 || c[1].Retry != "timeout" {
		t.Errorf("observed %+v", c)
	}
}

// TestPostIsNeverRetriedBlindly: a POST that fails after it was sent is sent
// once and returns ErrAmbiguous, whether or not the server acted on it.
func TestPostIsNeverRetriedBlindly(t *testing.T) {
	r := newFaultRig(t, cybrid.RetryPolicy{})
	for _, kind := range getFaults {
		for _, commit := range []bool{false, true} {
			r.reset()
			before := len(r.sim.Cybrid.Accounts(r.cust))
			posts := r.sim.Cybrid.Stats().ByRoute["POST /api/external_bank_accounts"]
			r.fault(cybridsim.Fault{Route: "POST /api/external_bank_accounts", Kind: kind, Times: 1, Commit: commit})
			_, err := r.c.CreateExternalBankAccount(context.Background(), cybrid.PostExternalBankAccount{Name: "Checking",
				AccountKind: cybrid.AccountKindPlaid, CustomerGUID: r.cust, PlaidPublicToken: "public-sandbox-abc", PlaidAccountID: "acc"})
			if !errors.Is(err, cybrid.ErrAmbiguous) {
				t.Errorf("%s commit=%v: err = %v, want ErrAmbiguous", kind, commit, err)
				continue
			}
			if strings.Contains(err.Error(), "public-sandbox-abc") || !strings.Contains(err.Error(), "check what it holds before sending it again") {
				t.Errorf("%s: error %q", kind, err)
			}
			if n := r.sim.Cybrid.Stats().ByRoute["POST /api/external_bank_accounts"] - posts; n != 1 {
				t.Errorf("%s commit=%v: the POST reached the server %d times", kind, commit, n)
			}
			want := 0
			if commit {
				want = 1
			}
			time.Sleep(20 * time.Millisecond)
			if got := len(r.sim.Cybrid.Accounts(r.cust)) - before; got != want {
				t.Errorf("%s commit=%v: %d accounts created, want %d", kind, commit, got, want)
			}
		}
	}
	// The same for workflows.
	r.reset()
	r.fault(cybridsim.Fault{Route: "POST /api/workflows", Kind: cybridsim.Fault502, Times: 1, Commit: true})
	_, err := r.c.CreateWorkflow(context.Background(), cybrid.PostWorkflow{Kind: cybrid.LinkTokenCreate, CustomerGUID: r.cust, Language: "en", LinkCustomizationName: "default"})
	var ae *cybrid.APIError
	if !errors.Is(err, cybrid.ErrAmbiguous) || !errors.As(err, &ae) || ae.StatusCode != 502 {
		t.Errorf("POST workflow with 502: %v", err)
	}
}

// TestPostRetriedWhenCertainlyNotDone: 429 (rate limited before any work)
// and 401 are retried for a POST too, and exactly one account results.
func TestPostRetriedWhenCertainlyNotDone(t *testing.T) {
	t.Parallel() // a 429 costs its whole-second Retry-After; nothing shared with other tests
	r := newFaultRig(t, cybrid.RetryPolicy{})
	for _, kind := range []cybridsim.FaultKind{cybridsim.FaultRateLimited, cybridsim.FaultUnauthorized} {
		r.reset()
		before := len(r.sim.Cybrid.Accounts(r.cust))
		f := cybridsim.Fault{Route: "POST /api/external_bank_accounts", Kind: kind, Times: 1}
		if kind == cybridsim.FaultRateLimited {
			f.RetryAfter = time.Second
		}
		r.fault(f)
		r.account()
		if got := len(r.sim.Cybrid.Accounts(r.cust)) - before; got != 1 {
			t.Errorf("%s: %d accounts created, want 1", kind, got)
		}
	}
}

// TestRetryAfterIsHonoured measures the wait after a 429 with Retry-After: 1.
func TestRetryAfterIsHonoured(t *testing.T) {
	r := newFaultRig(t, cybrid.RetryPolicy{})
	r.fault(cybridsim.Fault{Route: "GET /api/customers", Kind: cybridsim.FaultRateLimited, Times: 1, RetryAfter: time.Second})
	start := time.Now()
	if _, err := r.c.ListCustomers(context.Background(), cybrid.ListCustomersParams{}); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	t.Logf("429 with Retry-After: 1 → answered after %v", took)
	if took < time.Second || took > 1500*time.Millisecond {
		t.Errorf("call took %v; want the 1 s Retry-After honoured (and not much more)", took)
	}
	if c := r.calls("GET", "/api/customers"); len(c) != 2 || c[0].Status != 429 || c[1].Retry != "429 Too Many Requests" {
		t.Errorf("observed %+v", c)
	}

	// A Retry-After beyond MaxRetryAfter, or beyond the caller's deadline, is
	// not waited for: the error says how long to wait.
	r.reset()
	r.fault(cybridsim.Fault{Route: "GET /api/customers", Kind: cybridsim.FaultRateLimited, Times: 1, RetryAfter: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start = time.Now()
	_, err := r.c.ListCustomers(ctx, cybrid.ListCustomersParams{})
	if err == nil || time.Since(start) > 200*time.Millisecond || cybrid.RetryAfter(err) != 2*time.Second ||
		!strings.Contains(err.Error(), "Retry-After 2s") || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("Retry-After past the deadline: %v after %v", err, time.Since(start))
	}
}

// TestUnauthorizedMidFlowFetchesOneToken: the token is revoked between two
// calls; the next call gets one 401, exactly one new token, one retry.
func TestUnauthorizedMidFlowFetchesOneToken(t *testing.T) {
	r := newFaultRig(t, cybrid.RetryPolicy{})
	wf := r.workflow()
	tokens := r.sim.Cybrid.Stats().TokenRequests
	r.fault(cybridsim.Fault{Route: "GET /api/workflows/{guid}", Kind: cybridsim.FaultUnauthorized, Times: 1})
	if _, err := r.c.GetWorkflow(context.Background(), wf); err != nil {
		t.Fatal(err)
	}
	if n := r.sim.Cybrid.Stats().TokenRequests - tokens; n != 1 {
		t.Errorf("%d token requests after the revocation, want exactly 1", n)
	}
	if c := r.calls("GET", "/api/workflows/"); len(c) != 2 || c[0].Status != 401 || c[1].Retry != "401: new token" || c[1].Status != 200 {
		t.Errorf("observed %+v", c)
	}
	// Later calls use the new token without another token request.
	for i := 0; i < 5; i++ {
		if _, err := r.c.GetWorkflow(context.Background(), wf); err != nil {
			t.Fatal(err)
		}
	}
	if n := r.sim.Cybrid.Stats().TokenRequests - tokens; n != 1 {
		t.Errorf("%d token requests after six calls, want 1", n)
	}
}

// TestTokenEndpointFaults: a token request that fails temporarily is
// retried; refused credentials are not.
func TestTokenEndpointFaults(t *testing.T) {
	t.Parallel() // a 429 costs its whole-second Retry-After; nothing shared with other tests
	kinds := append(append([]cybridsim.FaultKind(nil), getFaults...), cybridsim.FaultRateLimited)
	for _, kind := range kinds {
		r := newFaultRig(t, cybrid.RetryPolicy{})
		f := cybridsim.Fault{Route: "POST /oauth/token", Kind: kind, Times: 1, RetryAfter: time.Second}
		if kind != cybridsim.FaultRateLimited {
			f.RetryAfter = 0
		}
		r.fault(f)
		// A fresh client has no token yet.
		c, _ := cybrid.New(cybrid.Options{BankURL: r.sim.BankURL, IdentityURL: r.sim.IdentityURL, ClientID: r.sim.ClientID,
			ClientSecret: r.sim.ClientSecret, RequestTimeout: testRequestTimeout, Retry: cybrid.RetryPolicy{BaseDelay: 10 * time.Millisecond}})
		before := r.sim.Cybrid.Stats().TokenRequests
		if _, err := c.ListCustomers(context.Background(), cybrid.ListCustomersParams{}); err != nil {
			t.Errorf("token endpoint with one %s: %v", kind, err)
			continue
		}
		if n := r.sim.Cybrid.Stats().TokenRequests - before; n != 2 {
			t.Errorf("token endpoint with one %s: %d token requests, want 2", kind, n)
		}
	}

	// Refused credentials: one request, an error that says what to do.
	r := newFaultRig(t, cybrid.RetryPolicy{})
	r.fault(cybridsim.Fault{Route: "POST /oauth/token", Kind: cybridsim.FaultUnauthorized, Times: 1})
	c, _ := cybrid.New(cybrid.Options{BankURL: r.sim.BankURL, IdentityURL: r.sim.IdentityURL, ClientID: r.sim.ClientID,
		ClientSecret: r.sim.ClientSecret, RequestTimeout: testRequestTimeout})
	before := r.sim.Cybrid.Stats().TokenRequests
	_, err := c.ListCustomers(context.Background(), cybrid.ListCustomersParams{})
	if !cybrid.IsUnauthorized(err) || !strings.Contains(err.Error(), "credentials set") || strings.Contains(err.Error(), r.sim.ClientSecret) {
		t.Errorf("refused credentials: %v", err)
	}
	if n := r.sim.Cybrid.Stats().TokenRequests - before; n != 1 {
		t.Errorf("refused credentials were retried: %d token requests", n)
	}
}
