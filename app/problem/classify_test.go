package problem_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"linkdesk/app/cybrid"
	"linkdesk/app/problem"
	"linkdesk/app/sim"
	"linkdesk/app/sim/cybridsim"
)

// These tests classify real failures: the real Cybrid client against the
// real simulator on loopback with its fault injection, a closed port, a
// name that cannot resolve, and a server that answers with oversized,
// token-laden errors.

// fastRetry keeps the client's retries short (the real policy, smaller
// numbers).
var fastRetry = cybrid.RetryPolicy{BaseDelay: 10 * time.Millisecond, MaxDelay: 40 * time.Millisecond, MaxRetryAfter: time.Second}

type rig struct {
	sim *sim.Sim
	// verified and frozen are seeded customers.
	verified, frozen string
}

func newRig(t *testing.T, o sim.Options) *rig {
	t.Helper()
	o.WorkflowDelay, o.AccountDelay = -1, -1
	s, err := sim.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := &rig{sim: s}
	for _, c := range s.Cybrid.Customers() {
		switch {
		case c.State == "verified" && r.verified == "":
			r.verified = c.GUID
		case c.State == "frozen" && r.frozen == "":
			r.frozen = c.GUID
		}
	}
	if r.verified == "" || r.frozen == "" {
		t.Fatal("the simulator seeds no verified or no frozen customer")
	}
	return r
}

func (r *rig) client(t *testing.T, scopes []string) *cybrid.Client {
	t.Helper()
	c, err := cybrid.New(cybrid.Options{BankURL: r.sim.BankURL, IdentityURL: r.sim.IdentityURL,
		ClientID: r.sim.ClientID, ClientSecret: r.sim.ClientSecret, Scopes: scopes,
		RequestTimeout: 300 * time.Millisecond, Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (r *rig) fault(t *testing.T, f cybridsim.Fault) {
	t.Helper()
	if err := r.sim.Cybrid.SetFaults([]cybridsim.Fault{f}); err != nil {
		t.Fatal(err)
	}
}

// closedURL is the URL of a loopback port nobody listens on.
func closedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	l.Close()
	return u
}

func workflow(customer string) cybrid.PostWorkflow {
	return cybrid.PostWorkflow{Type: "plaid", Kind: cybrid.LinkTokenCreate, CustomerGUID: customer, Language: "en", LinkCustomizationName: "default"}
}

// checkShape: every problem reads on its own, quotes little, and leaks no
// secret.
func checkShape(t *testing.T, p problem.Problem, secrets ...string) {
	t.Helper()
	if p.Kind == "" || p.Headline == "" {
		t.Errorf("incomplete problem: %+v", p)
	}
	if !strings.HasSuffix(p.Headline, ".") {
		t.Errorf("headline is not a sentence: %q", p.Headline)
	}
	if n := utf8.RuneCountInString(p.Headline); n > 400 {
		t.Errorf("headline has %d characters: %q", n, p.Headline)
	}
	if n := utf8.RuneCountInString(p.Detail); n > problem.MaxDetail+1 {
		t.Errorf("detail has %d characters", n)
	}
	b, _ := json.Marshal(p)
	for _, s := range secrets {
		if s != "" && strings.Contains(string(b), s) {
			t.Errorf("problem leaks %q: %s", s, b)
		}
	}
	for _, w := range []string{"eyJ", "public-sandbox-", "Bearer "} {
		if strings.Contains(string(b), w) {
			t.Errorf("problem holds something token-shaped (%q): %s", w, b)
		}
	}
}

func TestClassifiesRealFailures(t *testing.T) {
	r := newRig(t, sim.Options{})
	ctx := context.Background()
	cases := []struct {
		name string
		env  string
		run  func(t *testing.T) error
		kind problem.Kind
		// want are phrases of the headline; fix of the fix.
		want, fix []string
		action    string
	}{
		{
			name: "connection refused", env: "sandbox",
			run: func(t *testing.T) error {
				u := closedURL(t)
				c, err := cybrid.New(cybrid.Options{BankURL: u, IdentityURL: u, ClientID: "id", ClientSecret: "secret-for-refused", Retry: fastRetry})
				if err != nil {
					t.Fatal(err)
				}
				_, err = c.ListCustomers(ctx, cybrid.ListCustomersParams{PerPage: 1})
				return err
			},
			kind: problem.Network, want: []string{"cannot reach Cybrid", "network connection"},
			fix: []string{"Connection refused (nothing is listening at that address)", "HTTPS_PROXY", "linkdesk doctor"}, action: problem.TryAgain,
		},
		{
			name: "name does not resolve", env: "sandbox",
			run: func(t *testing.T) error {
				u := "https://id.linkdesk-problem-test.invalid"
				c, err := cybrid.New(cybrid.Options{BankURL: u, IdentityURL: u, ClientID: "id", ClientSecret: "secret-for-dns", Retry: fastRetry})
				if err != nil {
					t.Fatal(err)
				}
				_, err = c.ListCustomers(ctx, cybrid.ListCustomersParams{PerPage: 1})
				return err
			},
			kind: problem.Network, want: []string{"cannot reach Cybrid"},
			fix: []string{"The host name id.linkdesk-problem-test.invalid cannot be resolved"}, action: problem.TryAgain,
		},
		{
			name: "connection reset", env: "sim",
			run: func(t *testing.T) error {
				c := r.client(t, nil)
				c.Token(ctx)
				r.fault(t, cybridsim.Fault{Route: "GET /api/customers", Kind: cybridsim.FaultReset})
				_, err := c.ListCustomers(ctx, cybrid.ListCustomersParams{PerPage: 1})
				return err
			},
			kind: problem.Network, want: []string{"cannot reach Cybrid"},
			fix: []string{"closed without an answer", "injected fault"}, action: problem.TryAgain,
		},
		{
			name: "no answer in time", env: "sandbox",
			run: func(t *testing.T) error {
				c := r.client(t, nil)
				c.Token(ctx)
				r.fault(t, cybridsim.Fault{Route: "GET /api/customers", Kind: cybridsim.FaultSlow, Delay: 2 * time.Second})
				_, err := c.ListCustomers(ctx, cybrid.ListCustomersParams{PerPage: 1})
				return err
			},
			kind: problem.Network, want: []string{"did not answer in time"}, fix: []string{"No answer in time"}, action: problem.TryAgain,
		},
		{
			name: "503", env: "sandbox",
			run: func(t *testing.T) error {
				c := r.client(t, nil)
				r.fault(t, cybridsim.Fault{Route: "GET /api/customers", Kind: cybridsim.Fault503})
				_, err := c.ListCustomers(ctx, cybrid.ListCustomersParams{PerPage: 1})
				return err
			},
			kind: problem.CybridFailure, want: []string{"Cybrid failed (503 Service Unavailable)", "try again in a minute"}, action: problem.TryAgain,
		},
		{
			name: "rate limited", env: "sandbox",
			run: func(t *testing.T) error {
				c := r.client(t, nil)
				r.fault(t, cybridsim.Fault{Route: "GET /api/customers", Kind: cybridsim.FaultRateLimited, RetryAfter: 3 * time.Second})
				_, err := c.ListCustomers(ctx, cybrid.ListCustomersParams{PerPage: 1})
				return err
			},
			kind: problem.CybridFailure, want: []string{"limiting how fast", "wait 3s"}, action: problem.TryAgain,
		},
		{
			name: "malformed answer", env: "sandbox",
			run: func(t *testing.T) error {
				c := r.client(t, nil)
				r.fault(t, cybridsim.Fault{Route: "GET /api/customers", Kind: cybridsim.FaultMalformed})
				_, err := c.ListCustomers(ctx, cybrid.ListCustomersParams{PerPage: 1})
				return err
			},
			kind: problem.CybridFailure, want: []string{"could not be read"}, action: problem.TryAgain,
		},
		{
			name: "ambiguous POST", env: "sandbox",
			run: func(t *testing.T) error {
				c := r.client(t, nil)
				r.fault(t, cybridsim.Fault{Route: "POST /api/workflows", Kind: cybridsim.Fault500, Commit: true, Times: 1})
				_, err := c.CreateWorkflow(ctx, workflow(r.verified))
				return err
			},
			kind: problem.CybridFailure, want: []string{"Cybrid failed (500"}, fix: []string{"may have carried out the request anyway"},
		},
		{
			name: "credentials refused", env: "sandbox",
			run: func(t *testing.T) error {
				c := r.client(t, nil)
				r.fault(t, cybridsim.Fault{Route: "POST /oauth/token", Kind: cybridsim.FaultUnauthorized})
				_, err := c.ListCustomers(ctx, cybrid.ListCustomersParams{PerPage: 1})
				return err
			},
			kind: problem.Credentials, want: []string{"refused linkdesk's API credentials for sandbox", "store the right ones"},
			fix: []string{"`linkdesk credentials set --env sandbox`"}, action: problem.StoreCredentials,
		},
		{
			name: "credentials refused in the simulator", env: "sim",
			run: func(t *testing.T) error {
				c := r.client(t, nil)
				r.fault(t, cybridsim.Fault{Route: "POST /oauth/token", Kind: cybridsim.FaultUnauthorized})
				_, err := c.ListCustomers(ctx, cybrid.ListCustomersParams{PerPage: 1})
				return err
			},
			kind: problem.Credentials, want: []string{"simulator refused", "injected fault"}, action: problem.TryAgain,
		},
		{
			name: "scope missing (403)", env: "production",
			run: func(t *testing.T) error {
				c := r.client(t, []string{"customers:read"})
				_, err := c.CreateWorkflow(ctx, workflow(r.verified))
				return err
			},
			kind: problem.Credentials, want: []string{"lacks the workflows:execute scope", "no Plaid link token can be requested"},
			fix: []string{"production bank API key allowed workflows:execute", "--env production"},
		},
		{
			name: "unverified customer refused by Cybrid (422)", env: "sandbox",
			run: func(t *testing.T) error {
				_, err := r.client(t, nil).CreateWorkflow(ctx, workflow(r.frozen))
				return err
			},
			kind: problem.CustomerState, want: []string{"This customer is frozen", "no bank accounts"}, fix: []string{"compliance team"},
		},
		{
			name: "no such customer (404)", env: "sandbox",
			run: func(t *testing.T) error {
				_, err := r.client(t, nil).GetCustomer(ctx, strings.Repeat("ab", 16), false)
				return err
			},
			kind: problem.Refused, want: []string{"no such customer (404)", "reload"},
		},
		{
			name: "invalid argument, refused before sending", env: "sandbox",
			run: func(t *testing.T) error {
				_, err := r.client(t, nil).GetCustomer(ctx, "not-a-guid", false)
				return err
			},
			kind: problem.Refused, want: []string{"GUID"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(r.sim.Cybrid.ClearFaults)
			start := time.Now()
			err := tc.run(t)
			took := time.Since(start)
			if err == nil {
				t.Fatal("no error")
			}
			p := problem.ClassifyFor(tc.env, err)
			if p.Kind != tc.kind {
				t.Fatalf("kind %q, want %q: %+v\nerror: %v", p.Kind, tc.kind, p, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(p.Headline, w) {
					t.Errorf("headline %q lacks %q", p.Headline, w)
				}
			}
			for _, w := range tc.fix {
				if !strings.Contains(p.Fix, w) {
					t.Errorf("fix %q lacks %q", p.Fix, w)
				}
			}
			if tc.action != "" && p.Action != tc.action {
				t.Errorf("action %q, want %q", p.Action, tc.action)
			}
			if p.Detail == "" {
				t.Error("no technical detail")
			}
			checkShape(t, p, r.sim.ClientSecret, "secret-for-refused", "secret-for-dns")
			t.Logf("%s in %s\n  headline: %s\n  fix: %s\n  detail: %s", p.Kind, took.Round(time.Millisecond), p.Headline, p.Fix, p.Detail)
		})
	}
}

// A server that answers a refusal with a long message holding a token and
// the client secret: the problem quotes a bounded, redacted excerpt.
func TestServerTextIsBoundedAndRedacted(t *testing.T) {
	const secret = "client-secret-canary-4d2f"
	const jwt = "eyJhbGciOiJSUzUxMiJ9.eyJzdWIiOiJiYW5rIn0.c2lnbmF0dXJl"
	long := "the request carried " + jwt + " and " + secret + " and public-sandbox-0000-1111-2222 " + strings.Repeat("and more words ", 200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/oauth/token" {
			w.Write([]byte(`{"access_token":"` + jwt + `","token_type":"Bearer","expires_in":1800}`))
			return
		}
		w.WriteHeader(http.StatusUnprocessableEntity)
		json.NewEncoder(w).Encode(map[string]any{"status": 422, "message_code": "invalid_parameter", "error_message": long})
	}))
	defer srv.Close()
	c, err := cybrid.New(cybrid.Options{BankURL: srv.URL, IdentityURL: srv.URL, ClientID: "id", ClientSecret: secret, Retry: fastRetry})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateWorkflow(context.Background(), workflow(strings.Repeat("cd", 16)))
	p := problem.ClassifyFor("sandbox", err)
	if p.Kind != problem.Refused || !strings.Contains(p.Headline, "Cybrid refused the request (422 invalid_parameter: the request carried") {
		t.Fatalf("%+v", p)
	}
	checkShape(t, p, secret, jwt)
	if n := strings.Count(p.Headline, "and more words"); n > 12 {
		t.Errorf("headline quotes %d repetitions of the server's text: not bounded", n)
	}
	t.Logf("headline: %s", p.Headline)
}

func TestCarriedProblemWins(t *testing.T) {
	p := problem.CustomerNotVerified("frozen")
	err := problem.New(p)
	wrapped := errors.Join(errors.New("starting the link"), err)
	if got := problem.Classify(wrapped); got.Kind != problem.CustomerState || got.Headline != p.Headline {
		t.Fatalf("%+v", got)
	}
	var pp interface{ PageProblem() any }
	if !errors.As(problem.Wrap(err, p), &pp) {
		t.Fatal("a wrapped error does not offer PageProblem to package ui")
	}
	if problem.Wrap(nil, p) != nil {
		t.Error("Wrap(nil) is not nil")
	}
}

func TestOtherErrorsKeepTheirWords(t *testing.T) {
	p := problem.Classify(errors.New("type a name or a customer GUID to search"))
	if p.Kind != problem.Other || p.Headline != "Type a name or a customer GUID to search." {
		t.Fatalf("%+v", p)
	}
	if p := problem.Classify(context.Canceled); p.Kind != problem.Other {
		t.Errorf("cancelled: %+v", p)
	}
	if p := problem.Classify(context.DeadlineExceeded); p.Kind != problem.Network {
		t.Errorf("deadline: %+v", p)
	}
}

func TestCustomerStates(t *testing.T) {
	for state, want := range map[string]string{
		"frozen": "frozen", "unverified": "not verified yet", "rejected": "failed identity verification",
		"storing": "still being created", "": "only for verified customers", "odd<b>": "odd<b>",
	} {
		p := problem.CustomerNotVerified(state)
		if p.Kind != problem.CustomerState || !strings.Contains(p.Headline, want) {
			t.Errorf("%q: %+v", state, p)
		}
		checkShape(t, p)
	}
}

func TestPlaidErrors(t *testing.T) {
	for _, tc := range []struct {
		e    problem.PlaidError
		want string
	}{
		{problem.PlaidError{Type: "INVALID_INPUT", Code: "INVALID_LINK_TOKEN", Message: "link token expired"}, "Start again"},
		{problem.PlaidError{Type: "ITEM_ERROR", Code: "INVALID_CREDENTIALS", Message: "bad"}, "rejected the sign-in details"},
		{problem.PlaidError{Type: "INSTITUTION_ERROR", Code: "INSTITUTION_DOWN", Message: "down"}, "not available right now"},
		{problem.PlaidError{Type: "ITEM_ERROR", Code: "ITEM_LOGIN_REQUIRED", Message: "x", ExitStatus: "requires_oauth"}, "bank's own sign-in (OAuth) did not complete"},
		{problem.PlaidError{Type: "API_ERROR", Code: "INTERNAL_SERVER_ERROR", Message: "boom " + "public-sandbox-aaaa-bbbb"}, "Plaid Link ended with API_ERROR INTERNAL_SERVER_ERROR"},
	} {
		p := problem.PlaidLink(tc.e)
		if p.Kind != problem.Plaid || !strings.Contains(p.Headline, tc.want) || !strings.Contains(p.Detail, tc.e.Code) {
			t.Errorf("%+v: %+v", tc.e, p)
		}
		checkShape(t, p)
	}
}
