package journal_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"linkdesk/app/cybrid"
	"linkdesk/app/internal/simclock"
	"linkdesk/app/internal/wait"
	"linkdesk/app/journal"
	"linkdesk/app/linkflow"
	"linkdesk/app/sim"
	"linkdesk/app/sim/cybridsim"
)

const childEnv = "LINKDESK_JOURNAL_TEST_CHILD"

// child is a running child process driving one attempt
// (BenchmarkCrashChild).
type child struct {
	cmd    *exec.Cmd
	lines  chan string
	said   []string // every line read so far, for a failure's message
	stderr *bytes.Buffer
}

func startChild(t *testing.T, cfg driverConfig) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^BenchmarkCrashChild$", "-test.benchtime=1x")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	in, _ := json.Marshal(cfg)
	cmd.Stdin = bytes.NewReader(in)
	c := &child{cmd: cmd, lines: make(chan string, 100), stderr: &bytes.Buffer{}}
	cmd.Stderr = c.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	return c
}

// waitFor reads the child's lines until one starts with prefix, and
// returns it; the child ending first, or 30 s passing, fails the test with
// what the child said.
func (c *child) waitFor(t *testing.T, prefix string) string {
	t.Helper()
	var found string
	ended := false
	wait.For(t, 30*time.Second, fmt.Sprintf("the child to say %q", prefix), func() (bool, error) {
		for {
			select {
			case l, ok := <-c.lines:
				if !ok {
					ended = true
					return true, nil
				}
				c.said = append(c.said, l)
				if strings.HasPrefix(l, prefix) {
					found = l
					return true, nil
				}
			default:
				return false, fmt.Errorf("it said %q", c.said)
			}
		}
	})
	if ended {
		c.cmd.Wait()
		t.Fatalf("the child ended before %q; it said:\n%s\nstderr: %s", prefix, strings.Join(c.said, "\n"), c.stderr)
	}
	return found
}

// crashRig is a simulator that outlives the child processes it serves; clk
// is its clock.
type crashRig struct {
	sim  *sim.Sim
	clk  *simclock.Clock
	cust string
	dir  string
}

func newCrashRig(t *testing.T, accountDelay time.Duration) *crashRig {
	clk := &simclock.Clock{}
	s, err := sim.Start(sim.Options{WorkflowDelay: 150 * time.Millisecond, AccountDelay: accountDelay, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &crashRig{sim: s, clk: clk, cust: s.Cybrid.Customers()[0].GUID, dir: t.TempDir()}
}

// afterDelays moves the simulator's clock a second on, past the delays of
// the cases that settle (150 ms), instead of waiting for them, and requires
// that the simulator then holds cond.
func (r *crashRig) afterDelays(t *testing.T, what string, cond func() bool) {
	t.Helper()
	r.clk.Skip(time.Second)
	if !cond() {
		t.Fatalf("once the simulator's delays passed, not %s", what)
	}
}

func (r *crashRig) config(dieAt string) driverConfig {
	return driverConfig{BankURL: r.sim.BankURL, PlaidURL: r.sim.PlaidURL, ClientID: r.sim.ClientID, ClientSecret: r.sim.ClientSecret,
		Dir: r.dir, Customer: r.cust, DieAt: dieAt}
}

// complete runs an attempt to its end in a child process.
func (r *crashRig) complete(t *testing.T, cfg driverConfig) {
	t.Helper()
	c := startChild(t, cfg)
	if l := c.waitFor(t, "finished"); !strings.HasPrefix(l, "finished done") {
		t.Fatalf("setup attempt: %s", l)
	}
	c.cmd.Wait()
}

// crash runs an attempt in a child and SIGKILLs it where cfg.DieAt says.
func (r *crashRig) crash(t *testing.T, cfg driverConfig) {
	t.Helper()
	c := startChild(t, cfg)
	c.waitFor(t, "dying")
	start := time.Now()
	if err := c.cmd.Process.Kill(); err != nil { // SIGKILL on Unix
		t.Fatal(err)
	}
	err := c.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.Success() {
		t.Fatalf("the child was not killed: %v", err)
	}
	t.Logf("killed at %s (%v to reap)", cfg.DieAt, time.Since(start).Round(time.Millisecond))
}

func (r *crashRig) client(t *testing.T) *cybrid.Client {
	c, err := cybrid.New(cybrid.Options{BankURL: r.sim.BankURL, IdentityURL: r.sim.IdentityURL, ClientID: r.sim.ClientID,
		ClientSecret: r.sim.ClientSecret, HTTPClient: &http.Client{Timeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writes(st cybridsim.Stats) string {
	return fmt.Sprintf("POST workflows %d, POST accounts %d, PATCH accounts %d, DELETE accounts %d",
		st.ByRoute["POST /api/workflows"], st.ByRoute["POST /api/external_bank_accounts"],
		st.ByRoute["PATCH /api/external_bank_accounts/{guid}"], st.ByRoute["DELETE /api/external_bank_accounts/{guid}"])
}

// TestKillAtEveryStepIsReconciledWithCybrid is issue 5's crash test: a real
// attempt runs in a child process against the simulator running here; the
// child is SIGKILLed at a step; the next start (a new Journal on the same
// directory) shows the attempt at once and reconciles it with Cybrid, and
// the outcome it reports is what the simulator's store holds. Reconciling
// never creates or changes anything.
func TestKillAtEveryStepIsReconciledWithCybrid(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: runs child processes")
	}
	type want struct {
		outcome journal.Outcome
		action  journal.Action
		message string // a phrase the message must hold
		created bool   // the simulator has a new account from this attempt
	}
	cases := []struct {
		name         string
		step         linkflow.State // the step the journal shows
		dieAt        string
		refresh      bool
		accountDelay time.Duration
		earlier      bool              // the customer linked another account just before
		elsewhere    bool              // …from another linkdesk (its own journal: nothing claims it here)
		faults       []cybridsim.Fault // injected for the crashed attempt, cleared after the kill
		settle       func(t *testing.T, r *crashRig)
		want         want
	}{
		{name: "creating_workflow, workflow created but not recorded", step: linkflow.CreatingWorkflow,
			dieAt: "answered:POST /api/workflows",
			want:  want{journal.OutcomeNothingLinked, journal.ActionStartLink, "is left unused", false}},
		{name: "waiting_for_token, workflow completes after the crash", step: linkflow.WaitingForToken,
			dieAt: "state:waiting_for_token",
			settle: func(t *testing.T, r *crashRig) {
				r.afterDelays(t, "completed", func() bool { return r.sim.Cybrid.Workflows()[0].State == "completed" })
			},
			want: want{journal.OutcomeNothingLinked, journal.ActionStartLink, "finished the link-token workflow", false}},
		{name: "link_open", step: linkflow.LinkOpen, dieAt: "state:link_open",
			want: want{journal.OutcomeNothingLinked, journal.ActionStartLink, "no account was requested", false}},
		{name: "creating_account, died before the POST", step: linkflow.CreatingAccount, dieAt: "state:creating_account", earlier: true,
			want: want{journal.OutcomeNotCreated, journal.ActionStartLink, "Cybrid has no account from this attempt", false}},
		{name: "creating_account, POST answered but not recorded", step: linkflow.CreatingAccount,
			dieAt: "answered:POST /api/external_bank_accounts", earlier: true,
			settle: func(t *testing.T, r *crashRig) {
				r.afterDelays(t, "stored", func() bool { return r.sim.Cybrid.Accounts(r.cust)[0].State != "storing" })
			},
			want: want{journal.OutcomeLinked, journal.ActionOpenAccounts, "is linked; bank-account ownership verification is still needed", true}},
		{name: "creating_account, POST answered, another linkdesk linked another account just before", step: linkflow.CreatingAccount,
			dieAt: "answered:POST /api/external_bank_accounts", earlier: true, elsewhere: true,
			settle: func(t *testing.T, r *crashRig) {
				r.afterDelays(t, "stored", func() bool { return r.sim.Cybrid.Accounts(r.cust)[0].State != "storing" })
			},
			want: want{journal.OutcomeLinked, journal.ActionOpenAccounts, "is linked; bank-account ownership verification is still needed", true}},
		{name: "account_retry, the POST's answer lost and the check failed too", step: linkflow.AccountRetry,
			dieAt: "state:account_retry",
			faults: []cybridsim.Fault{
				{Route: "POST /api/external_bank_accounts", Kind: cybridsim.FaultReset, Times: 1, Commit: true},
				{Route: "GET /api/external_bank_accounts", Kind: cybridsim.Fault500},
			},
			settle: func(t *testing.T, r *crashRig) {
				r.afterDelays(t, "stored", func() bool { return r.sim.Cybrid.Accounts(r.cust)[0].State != "storing" })
			},
			want: want{journal.OutcomeLinked, journal.ActionOpenAccounts, "is linked; bank-account ownership verification is still needed", true}},
		{name: "creating_account, POST answered, account still storing", step: linkflow.CreatingAccount,
			dieAt: "answered:POST /api/external_bank_accounts", accountDelay: time.Minute,
			want: want{journal.OutcomeStoring, journal.ActionOpenAccounts, "still storing", true}},
		{name: "waiting_for_account", step: linkflow.WaitingForAccount, dieAt: "state:waiting_for_account", accountDelay: time.Minute,
			want: want{journal.OutcomeStoring, journal.ActionOpenAccounts, "still storing", true}},
		{name: "updating_account, died before the PATCH", step: linkflow.UpdatingAccount, dieAt: "state:updating_account", refresh: true,
			want: want{journal.OutcomeRefreshRequired, journal.ActionStartRefresh, "still refresh_required", false}},
		{name: "updating_account, PATCH answered but not recorded", step: linkflow.UpdatingAccount,
			dieAt: "answered:PATCH /api/external_bank_accounts/", refresh: true,
			want: want{journal.OutcomeRefreshed, journal.ActionNone, "the connection is renewed", false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			delay := c.accountDelay
			if delay == 0 {
				delay = 150 * time.Millisecond
			}
			r := newCrashRig(t, delay)
			cfg := r.config(c.dieAt)
			if c.refresh || c.earlier {
				// An account linked to completion first (its attempt is
				// journaled as done); with earlier it is another account
				// of the same bank, which the match rule must not take.
				sc := r.sim.Cybrid.Scenario()
				sc.AccountDelay = 50 * time.Millisecond
				r.sim.Cybrid.SetScenario(sc)
				setup := r.config("")
				setup.AccountIndex = 1
				if c.elsewhere {
					setup.Dir = t.TempDir()
				}
				r.complete(t, setup)
				sc.AccountDelay = delay
				r.sim.Cybrid.SetScenario(sc)
			}
			if c.refresh {
				acct := r.sim.Cybrid.Accounts(r.cust)[0]
				if err := r.sim.Cybrid.ExpireConnection(acct.GUID); err != nil {
					t.Fatal(err)
				}
				cfg.Refresh, cfg.AccountIndex = acct.GUID, 1
			}
			before := r.sim.Cybrid.Accounts(r.cust)
			if err := r.sim.Cybrid.SetFaults(c.faults); err != nil {
				t.Fatal(err)
			}

			r.crash(t, cfg)
			r.sim.Cybrid.ClearFaults()
			if c.settle != nil {
				c.settle(t, r)
			}
			afterCrash := r.sim.Cybrid.Accounts(r.cust)
			statsBefore := r.sim.Cybrid.Stats()

			// The next start.
			started := time.Now()
			j, err := journal.Open(journal.Options{Dir: r.dir, Env: "sandbox", BankURL: r.sim.BankURL})
			if err != nil {
				t.Fatalf("opening the journal after the kill: %v", err)
			}
			defer j.Close()
			shown := j.Recovered()
			if len(shown) != 1 || shown[0].Outcome != journal.OutcomeChecking || shown[0].Step != c.step {
				t.Fatalf("at start the journal shows %+v, want one attempt at %s being checked", shown, c.step)
			}
			got := j.Reconcile(t.Context(), r.client(t))
			t.Logf("open + reconcile: %v", time.Since(started).Round(time.Millisecond))
			if len(got) != 1 {
				t.Fatalf("Reconcile = %+v", got)
			}
			rec := got[0]
			t.Logf("%s: %s", rec.Outcome, rec.Message)
			if rec.Outcome != c.want.outcome || rec.Action != c.want.action || rec.Step != c.step ||
				!strings.Contains(rec.Message, c.want.message) || rec.CustomerGUID != r.cust {
				t.Errorf("recovered %+v, want outcome %s, action %q, step %s, a message with %q", rec, c.want.outcome, c.want.action, c.step, c.want.message)
			}

			// What it says is what the simulator holds.
			var made []cybridsim.Account
			for _, a := range afterCrash[:len(afterCrash)-len(before)] {
				made = append(made, a)
			}
			switch {
			case c.want.created:
				if len(made) != 1 {
					t.Fatalf("the simulator has %d new accounts, want 1", len(made))
				}
				now, _ := r.sim.Cybrid.Account(made[0].GUID)
				if rec.AccountGUID != now.GUID || rec.AccountState != now.State {
					t.Errorf("reported account %s in %s; the simulator has %s in %s", rec.AccountGUID, rec.AccountState, now.GUID, now.State)
				}
			case c.refresh:
				now, _ := r.sim.Cybrid.Account(cfg.Refresh)
				if len(made) != 0 || rec.AccountGUID != now.GUID || rec.AccountState != now.State {
					t.Errorf("reported account %s in %s; the simulator has %s in %s (%d new accounts)", rec.AccountGUID, rec.AccountState, now.GUID, now.State, len(made))
				}
			default:
				if len(made) != 0 || rec.AccountGUID != "" {
					t.Errorf("reported account %q; the simulator has %d new accounts", rec.AccountGUID, len(made))
				}
			}
			if c.step == linkflow.CreatingWorkflow {
				if wf := r.sim.Cybrid.Workflows()[0]; rec.WorkflowGUID != wf.GUID {
					t.Errorf("reported workflow %q, the simulator's newest is %s", rec.WorkflowGUID, wf.GUID)
				}
			}

			// Reconciling wrote nothing at Cybrid.
			if a, b := writes(statsBefore), writes(r.sim.Cybrid.Stats()); a != b {
				t.Errorf("reconciling wrote to Cybrid: before %s; after %s", a, b)
			}
			if n := len(r.sim.Cybrid.Accounts(r.cust)); n != len(afterCrash) {
				t.Errorf("reconciling changed the number of accounts: %d → %d", len(afterCrash), n)
			}

			// The entry is finished: a later start shows the outcome (until
			// dismissed) and does not check again.
			j.Close()
			j2, err := journal.Open(journal.Options{Dir: r.dir, Env: "sandbox", BankURL: r.sim.BankURL})
			if err != nil {
				t.Fatal(err)
			}
			defer j2.Close()
			if again := j2.Reconcile(t.Context(), r.client(t)); len(again) != 0 {
				t.Errorf("a second start checked again: %+v", again)
			}
			if shown := j2.Recovered(); len(shown) != 1 || shown[0].Outcome != c.want.outcome || shown[0].Message != rec.Message {
				t.Errorf("a second start shows %+v", shown)
			}
		})
	}
}
