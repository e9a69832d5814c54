package journal_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"linkdesk/app/cybrid"
	"linkdesk/app/internal/simlink"
	"linkdesk/app/journal"
	"linkdesk/app/linkflow"
)

// driver runs real attempts through the real flow, desk and journal against
// a simulator reached over loopback, the way the app does: the journal is
// the flow's observer, which hears of the account chosen in Link before the
// flow requests it.
type driver struct {
	plaidURL string
	client   *cybrid.Client
	flow     *linkflow.Flow
	snaps    chan linkflow.Attempt
}

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

func newDriver(cfg driverConfig, j *journal.Journal, say func(string, ...any)) (*driver, error) {
	tr := &dieTransport{base: http.DefaultTransport, say: say}
	if rest, ok := strings.CutPrefix(cfg.DieAt, "answered:"); ok {
		tr.method, tr.path, _ = strings.Cut(rest, " ")
	}
	client, err := cybrid.New(cybrid.Options{BankURL: cfg.BankURL, IdentityURL: cfg.BankURL,
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, HTTPClient: &http.Client{Transport: tr, Timeout: 10 * time.Second}})
	if err != nil {
		return nil, err
	}
	d := &driver{plaidURL: cfg.PlaidURL, client: client, snaps: make(chan linkflow.Attempt, 1000)}
	last := linkflow.State("")
	d.flow = linkflow.New(client, linkflow.Settings{
		Language: "en", LinkCustomizationName: "default", Asset: "USD",
		PollInitial: 20 * time.Millisecond, PollMax: 100 * time.Millisecond,
		WorkflowTimeout: 10 * time.Second, AccountTimeout: 20 * time.Second, ReconcileDelay: 50 * time.Millisecond,
		Claimed: j.Claims, // as the app wires it: accounts of journaled attempts are never adopted
	}, slog.New(slog.DiscardHandler), func(a linkflow.Attempt, ev linkflow.Event) {
		j.Observe(a, ev)
		if a.State != last {
			last = a.State
			say("state %s", a.State)
			if cfg.DieAt == "state:"+string(a.State) {
				say("dying %s", a.State)
				stall()
			}
		}
		d.snaps <- a
	})
	return d, nil
}

// until waits for attempt id to reach want.
func (d *driver) until(id string, want linkflow.State) (linkflow.Attempt, error) {
	timeout := time.After(20 * time.Second)
	for {
		select {
		case a := <-d.snaps:
			if a.ID != id {
				continue
			}
			if a.State == want {
				return a, nil
			}
			if a.State.Final() {
				return a, fmt.Errorf("attempt ended %s (%s: %s), want %s", a.State, a.Code, a.Error, want)
			}
		case <-timeout:
			return linkflow.Attempt{}, fmt.Errorf("attempt not %s after 20s", want)
		}
	}
}

// run drives one attempt as far as it goes: start, Link in the simulated
// Plaid (simlink: First Platypus Bank, the account at cfg.AccountIndex),
// onSuccess delivered to
// the flow as the page delivers it, and the end of the attempt. It returns the final snapshot and the
// public token Link produced.
func (d *driver) run(cfg driverConfig) (linkflow.Attempt, string, error) {
	var a linkflow.Attempt
	var err error
	if cfg.Refresh != "" {
		a, err = d.flow.StartRefresh(cfg.Customer, cfg.Refresh)
	} else {
		a, err = d.flow.StartLink(cfg.Customer)
	}
	if err != nil {
		return linkflow.Attempt{}, "", err
	}
	id := a.ID
	open, err := d.until(id, linkflow.LinkOpen)
	if err != nil {
		return open, "", err
	}
	l, err := simlink.New(d.plaidURL).Link(open.LinkToken, cfg.AccountIndex)
	if err != nil {
		return open, "", err
	}
	rawMeta, _ := json.Marshal(l.Metadata)
	if err := d.flow.Deliver(context.Background(), id, linkflow.Callback{Kind: linkflow.OnSuccess, Seq: 1, PublicToken: l.PublicToken, Metadata: rawMeta}); err != nil {
		return open, l.PublicToken, err
	}
	final, err := d.until(id, linkflow.Done)
	return final, l.PublicToken, err
}

// childMain is the crash test's child process: it reads a driverConfig on
// stdin, drives one attempt and reports each state on stdout, one line
// each; it stalls where DieAt says until the parent kills it.
func childMain() int {
	var cfg driverConfig
	if err := json.NewDecoder(os.Stdin).Decode(&cfg); err != nil {
		fmt.Fprintln(os.Stderr, "child: reading the configuration:", err)
		return 2
	}
	say := func(f string, a ...any) { fmt.Fprintf(os.Stdout, f+"\n", a...) }
	j, err := journal.Open(journal.Options{Dir: cfg.Dir, Env: "sandbox", BankURL: cfg.BankURL})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	d, err := newDriver(cfg, j, say)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	final, _, err := d.run(cfg)
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	d.flow.Close()
	j.Close()
	say("finished %s %s", final.State, final.AccountGUID)
	return 0
}
