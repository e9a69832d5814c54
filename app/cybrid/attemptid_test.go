package cybrid_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/app/cybrid"
	"linkdesk/app/sim"
	"linkdesk/app/sim/cybridsim"
)

// attemptRig is a fresh client (no token yet) against the real simulator
// on loopback, recording what the Observer sees and every request that
// leaves the client (headers and URL) below it.
type attemptRig struct {
	t   *testing.T
	sim *sim.Sim
	c   *cybrid.Client

	mu   sync.Mutex
	seen []cybrid.Call
	sent []string // method, URL and headers of every request sent
}

func newAttemptRig(t *testing.T) *attemptRig {
	t.Helper()
	s, err := sim.Start(sim.Options{WorkflowDelay: -1, AccountDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := &attemptRig{t: t, sim: s}
	r.c, err = cybrid.New(cybrid.Options{BankURL: s.BankURL, IdentityURL: s.IdentityURL, ClientID: s.ClientID, ClientSecret: s.ClientSecret,
		HTTPClient:     &http.Client{Transport: recordingTransport{r}, Timeout: 10 * time.Second},
		RequestTimeout: testRequestTimeout, Retry: cybrid.RetryPolicy{BaseDelay: 5 * time.Millisecond, MaxDelay: 20 * time.Millisecond},
		Observer: func(c cybrid.Call) { r.mu.Lock(); r.seen = append(r.seen, c); r.mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type recordingTransport struct{ r *attemptRig }

func (rt recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt.r.mu.Lock()
	rt.r.sent = append(rt.r.sent, fmt.Sprintf("%s %s %v", req.Method, req.URL, req.Header))
	rt.r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

// take returns the calls observed since the last take, as
// "METHOD path status attempt-id".
func (r *attemptRig) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.seen {
		out = append(out, fmt.Sprintf("%s %s %d %s", c.Method, c.Path, c.Status, c.AttemptID))
	}
	r.seen = nil
	return out
}

func (r *attemptRig) expect(what string, want ...string) {
	r.t.Helper()
	if got := r.take(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		r.t.Errorf("%s: observed\n\t%s\nwant\n\t%s", what, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// TestCallAttemptIDComesFromTheContext: each exchange, retries and the
// token request a call makes included, carries the attempt id of the call's
// context, and nothing of it is sent to Cybrid.
func TestCallAttemptIDComesFromTheContext(t *testing.T) {
	r := newAttemptRig(t)
	bg := context.Background()
	cust := r.sim.Cybrid.Customers()[0].GUID

	// The first call finds no token: the token request is its attempt's.
	if _, err := r.c.GetCustomer(cybrid.WithAttempt(bg, "attempt-a"), cust, false); err != nil {
		t.Fatal(err)
	}
	r.expect("first call of attempt-a",
		"POST /oauth/token 200 attempt-a",
		"GET /api/customers/"+cust+" 200 attempt-a")

	// Another attempt reuses the token; a call without an attempt is "".
	wf, err := r.c.CreateWorkflow(cybrid.WithAttempt(bg, "attempt-b"), cybrid.PostWorkflow{Kind: cybrid.LinkTokenCreate, CustomerGUID: cust, Language: "en", LinkCustomizationName: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.ListCustomers(bg, cybrid.ListCustomersParams{PerPage: 5}); err != nil {
		t.Fatal(err)
	}
	r.expect("attempt-b, then no attempt",
		"POST /api/workflows 201 attempt-b",
		"GET /api/customers?per_page 200 ")

	// The client's own retries stay with the call's attempt.
	if err := r.sim.Cybrid.SetFaults([]cybridsim.Fault{{Route: "GET /api/workflows/{guid}", Kind: cybridsim.Fault502, Times: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.GetWorkflow(cybrid.WithAttempt(bg, "attempt-c"), wf.GUID); err != nil {
		t.Fatal(err)
	}
	r.expect("a retried GET of attempt-c",
		"GET /api/workflows/"+wf.GUID+" 502 attempt-c",
		"GET /api/workflows/"+wf.GUID+" 200 attempt-c")

	// A 401 drops the token: the new token request is made for the call
	// that got the 401.
	if err := r.sim.Cybrid.SetFaults([]cybridsim.Fault{{Route: "GET /api/workflows/{guid}", Kind: cybridsim.FaultUnauthorized, Times: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.GetWorkflow(cybrid.WithAttempt(bg, "attempt-d"), wf.GUID); err != nil {
		t.Fatal(err)
	}
	r.expect("a 401 in attempt-d",
		"GET /api/workflows/"+wf.GUID+" 401 attempt-d",
		"POST /oauth/token 200 attempt-d",
		"GET /api/workflows/"+wf.GUID+" 200 attempt-d")

	// Client.Token on a fresh client: the request is the context's.
	r.sim.Cybrid.ClearFaults()
	c2, err := cybrid.New(cybrid.Options{BankURL: r.sim.BankURL, IdentityURL: r.sim.IdentityURL, ClientID: r.sim.ClientID, ClientSecret: r.sim.ClientSecret,
		Observer: func(c cybrid.Call) { r.mu.Lock(); r.seen = append(r.seen, c); r.mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Token(cybrid.WithAttempt(bg, "attempt-e")); err != nil {
		t.Fatal(err)
	}
	r.expect("Token for attempt-e", "POST /oauth/token 200 attempt-e")

	if got := cybrid.AttemptFrom(bg); got != "" {
		t.Errorf("AttemptFrom(a context without one) = %q", got)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.sent {
		if strings.Contains(s, "attempt-") {
			t.Errorf("an attempt id was sent to Cybrid: %s", s)
		}
	}
	if len(r.sent) != 9 {
		t.Errorf("%d requests sent, want the 9 observed on the first client", len(r.sent))
	}
}

// TestConcurrentAttemptsShareOneTokenRequest: ten attempts call at once on a
// fresh client; one token request is made, for one of them, and each call
// is observed under its own attempt.
func TestConcurrentAttemptsShareOneTokenRequest(t *testing.T) {
	r := newAttemptRig(t)
	cust := r.sim.Cybrid.Customers()[0].GUID
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := cybrid.WithAttempt(context.Background(), fmt.Sprintf("p%d", i))
			if _, err := r.c.GetCustomer(ctx, cust, false); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	gets := map[string]int{}
	var tokens []string
	for _, c := range r.take() {
		f := strings.Fields(c)
		if len(f) != 4 {
			t.Errorf("call without an attempt: %q", c)
			continue
		}
		switch f[1] {
		case "/oauth/token":
			tokens = append(tokens, f[3])
		case "/api/customers/" + cust:
			gets[f[3]]++
		default:
			t.Errorf("unexpected call %q", c)
		}
	}
	if len(tokens) != 1 || !strings.HasPrefix(tokens[0], "p") {
		t.Errorf("token requests for attempts %q, want one, for one of the callers", tokens)
	}
	for i := 0; i < 10; i++ {
		if id := fmt.Sprintf("p%d", i); gets[id] != 1 {
			t.Errorf("attempt %s: %d GETs observed under it, want its 1 (all: %v)", id, gets[id], gets)
		}
	}
}
