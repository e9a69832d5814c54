package journal_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"linkdesk/app/cybrid"
	"linkdesk/app/internal/flowrig"
	"linkdesk/app/journal"
	"linkdesk/app/linkflow"
	"linkdesk/app/sim"
)

// A driver is the flow rig (app/internal/flowrig) run the way the app
// runs it with a journal: the journal is the flow's observer, which hears
// of the account chosen in Link before the flow requests it, and the
// flow's Settings.Claimed is journal.Claims. The crash test runs one in a
// child process it kills at a step (BenchmarkCrashChild).

// driverConfig is what a driver needs; the crash test's child process
// reads it as JSON on stdin (never argv or the environment: it holds the
// client secret).
type driverConfig struct {
	BankURL, PlaidURL      string
	ClientID, ClientSecret string
	Dir                    string // journal directory
	Customer               string
	Refresh                string // account GUID to refresh; "" links a new account
	AccountIndex           int    // which account to choose in Link
	// DieAt says where the child stops dead until killed:
	//   "state:<state>"           the flow reports that state (the journal has it);
	//   "answered:<METHOD> <path>" Cybrid answered that call, before the flow sees the answer;
	//   ""                         nowhere: the attempt runs to its end.
	DieAt string
}

// stall blocks the calling goroutine until the process is killed. It
// sleeps rather than blocking on nothing, so the runtime never reports a
// deadlock.
func stall() {
	for {
		time.Sleep(time.Hour)
	}
}

// dieTransport stalls after Cybrid has answered the call named by DieAt.
type dieTransport struct {
	base         http.RoundTripper
	method, path string
	say          func(string, ...any)
}

func (t *dieTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(r)
	if err == nil && t.method != "" && r.Method == t.method && strings.HasPrefix(r.URL.Path, t.path) {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t.say("dying answered %s %s %d", r.Method, r.URL.Path, resp.StatusCode)
		stall()
	}
	return resp, err
}

// newDriver is a flow on the simulator s journaled in j; say reports each
// state it reaches, and it stalls where cfg.DieAt says. s may be a
// simulator of another process with only its URLs and credentials set (the
// child's).
func newDriver(tb testing.TB, s *sim.Sim, cfg driverConfig, j *journal.Journal, say func(string, ...any)) *flowrig.Rig {
	tb.Helper()
	tr := &dieTransport{base: http.DefaultTransport, say: say}
	if rest, ok := strings.CutPrefix(cfg.DieAt, "answered:"); ok {
		tr.method, tr.path, _ = strings.Cut(rest, " ")
	}
	last := linkflow.State("")
	return flowrig.New(tb, flowrig.Options{On: s,
		// Stalled calls and a journal under test, not the contract: the
		// flow tests hold the traffic to the spec.
		OffSpec: true,
		Client: func(o *cybrid.Options) {
			o.HTTPClient = &http.Client{Transport: tr, Timeout: 10 * time.Second}
		},
		Settings: linkflow.Settings{
			PollInitial: 20 * time.Millisecond, PollMax: 100 * time.Millisecond,
			WorkflowTimeout: 10 * time.Second, AccountTimeout: 20 * time.Second,
			Claimed: j.Claims, // as the app wires it: accounts of journaled attempts are never adopted
		},
		Observe: func(a linkflow.Attempt, ev linkflow.Event) {
			j.Observe(a, ev)
			if a.State != last {
				last = a.State
				say("state %s", a.State)
				if cfg.DieAt == "state:"+string(a.State) {
					say("dying %s", a.State)
					stall()
				}
			}
		},
	})
}

// run drives one attempt to its end: start (a link, or a refresh of
// cfg.Refresh), Link in the simulated Plaid (simlink: First Platypus Bank,
// the account at cfg.AccountIndex), onSuccess delivered to the flow as the
// page delivers it, and the attempt done. It returns the final snapshot and
// the public token Link produced; an attempt that ends otherwise fails tb.
func run(tb testing.TB, d *flowrig.Rig, cfg driverConfig) (linkflow.Attempt, string) {
	tb.Helper()
	var a linkflow.Attempt
	var err error
	if cfg.Refresh != "" {
		a, err = d.Flow.StartRefresh(cfg.Customer, cfg.Refresh)
	} else {
		a, err = d.Flow.StartLink(cfg.Customer)
	}
	if err != nil {
		tb.Fatal(err)
	}
	open := d.Until(a.ID, linkflow.LinkOpen)
	pub, meta := d.LinkInPlaid(open.LinkToken, cfg.AccountIndex)
	rawMeta, _ := json.Marshal(meta)
	if err := d.Deliver(a.ID, linkflow.Callback{Kind: linkflow.OnSuccess, Seq: 1, PublicToken: pub, Metadata: rawMeta}); err != nil {
		tb.Fatal(err)
	}
	return d.Until(a.ID, linkflow.Done), pub
}

// BenchmarkCrashChild is the crash test's child process, not a benchmark:
// startChild runs the test binary with -test.bench=^BenchmarkCrashChild$
// -test.benchtime=1x and childEnv set (a benchmark gives the rig its
// testing.TB, and an ordinary test run never runs it). It reads a
// driverConfig on stdin, drives one attempt and reports each state on
// stdout, one line each; it stalls where DieAt says until the parent kills
// it, or ends with "finished <state> <account>".
func BenchmarkCrashChild(b *testing.B) {
	if os.Getenv(childEnv) != "1" {
		b.Skip("the crash test's child process (startChild), not a benchmark")
	}
	var cfg driverConfig
	if err := json.NewDecoder(os.Stdin).Decode(&cfg); err != nil {
		b.Fatalf("child: reading the configuration: %v", err)
	}
	say := func(f string, a ...any) { fmt.Fprintf(os.Stdout, f+"\n", a...) }
	j, err := journal.Open(journal.Options{Dir: cfg.Dir, Env: "sandbox", BankURL: cfg.BankURL})
	if err != nil {
		b.Fatalf("child: %v", err)
	}
	parent := &sim.Sim{BankURL: cfg.BankURL, IdentityURL: cfg.BankURL, PlaidURL: cfg.PlaidURL, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret}
	d := newDriver(b, parent, cfg, j, say)
	final, _ := run(b, d, cfg)
	d.Flow.Close()
	j.Close()
	say("finished %s %s", final.State, final.AccountGUID)
}
