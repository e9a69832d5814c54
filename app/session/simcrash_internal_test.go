package session

// Crash recovery rehearsed in the built-in simulator (issue 10, item 8): a
// linkdesk on the simulator is killed (SIGKILL, in a child process) in the
// middle of an attempt, and the next linkdesk on the same state folder —
// whose simulator listens on another port — shows the interrupted attempt
// and reconciles it against the simulator as the killed one left it.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"linkdesk/app/config"
	"linkdesk/app/desk"
	"linkdesk/app/internal/simclock"
	"linkdesk/app/internal/simlink"
	"linkdesk/app/internal/wait"
	"linkdesk/app/journal"
	"linkdesk/app/keychain"
	"linkdesk/app/linkflow"
	"linkdesk/app/sim"
	"linkdesk/app/sim/cybridsim"
)

// simCrashChildEnv carries a simCrashJob to the child process.
const simCrashChildEnv = "LINKDESK_SIM_CRASH_CHILD"

// simCrashJob is what the child does before it waits to be killed.
type simCrashJob struct {
	StateDir, RuntimeDir string
	// Until is "link_open" (the attempt's Link is open: no account asked
	// for) or "account_created" (the simulator created the account, and
	// its answer is held, so linkdesk never heard it).
	Until string
}

// simOn is the configuration of a linkdesk on the built-in simulator,
// polling quickly.
func simOn(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.LoadFrom(config.Vars{config.VarEnvironment: "sim", config.VarPollInitial: "50ms", config.VarPollMax: "100ms"}.Lookup)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

var simCrashDelays = sim.Options{WorkflowDelay: 50 * time.Millisecond, AccountDelay: 100 * time.Millisecond}

// TestSimCrashChild is the killed linkdesk: it runs only as the child of
// TestTheSimulatorRehearsesCrashRecovery.
func TestSimCrashChild(t *testing.T) {
	raw := os.Getenv(simCrashChildEnv)
	if raw == "" {
		t.Skip("the child of TestTheSimulatorRehearsesCrashRecovery")
	}
	var job simCrashJob
	if err := json.Unmarshal([]byte(raw), &job); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	s, err := Start(simOn(t), "test", log, keychain.NewMemory(), Options{StateDir: job.StateDir, RuntimeDir: job.RuntimeDir, Sim: simCrashDelays})
	if err != nil {
		t.Fatal(err)
	}
	e, err := s.Env()
	if err != nil {
		t.Fatal(err)
	}
	sm := e.Target.Sim
	cust := sm.Cybrid.Customers()[0].GUID
	page := newPageClient(t, s)
	var a linkflow.Attempt
	page.call(t, "startLink", map[string]any{"customer_guid": cust}, &a)
	var open linkflow.Attempt
	wait.True(t, 15*time.Second, "link_open", func() bool { open, _ = e.Flow.Get(a.ID); return open.State == linkflow.LinkOpen })
	fmt.Printf("port %s\n", sm.BankURL)
	if job.Until == "link_open" {
		fmt.Printf("link_open %s %s\n", a.ID, cust)
		select {} // killed here
	}
	pub, meta := simlink.Link(t, sm.PlaidURL, open.LinkToken)
	if err := sm.Cybrid.SetFaults([]cybridsim.Fault{{Route: "POST /api/external_bank_accounts", Kind: cybridsim.FaultSlow, Commit: true, Delay: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	page.call(t, "plaid.onSuccess", map[string]any{"attempt_id": a.ID, "seq": 1, "at": time.Now().UnixMilli(), "public_token": pub, "metadata": meta}, nil)
	var created []cybridsim.Account
	wait.True(t, 15*time.Second, "the account created", func() bool { created = sm.Cybrid.Accounts(cust); return len(created) == 1 })
	// The simulator keeps its records on disk before the answer that
	// reports them (app/sim's TestTheSimulatorsStateSurvivesARestart reads
	// the file as the answer arrives), not before its memory shows them:
	// wait for the file (saves are atomic renames) as the held answer would
	// have. Killed between the two, the child failed the test once in CI's
	// run on a fresh clone.
	file := filepath.Join(job.StateDir, sim.StateFileName)
	wait.True(t, 15*time.Second, "the account in "+file, func() bool {
		b, _ := os.ReadFile(file)
		return bytes.Contains(b, []byte(created[0].GUID))
	})
	fmt.Printf("account_created %s %s %s\n", a.ID, cust, created[0].GUID)
	select {} // killed here
}

// killedAt runs a linkdesk on the simulator in a child process until it
// says it reached job.Until, kills it with SIGKILL, and returns what it said
// then (its words after the step's name).
func killedAt(t *testing.T, job simCrashJob) (port string, said []string) {
	t.Helper()
	raw, _ := json.Marshal(job)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSimCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), simCrashChildEnv+"="+string(raw))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(60 * time.Second)
	for said == nil {
		select {
		case l, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("the child ended before %s; stderr:\n%s", job.Until, stderr.String())
			}
			if p, ok := strings.CutPrefix(l, "port "); ok {
				port = p
			}
			if rest, ok := strings.CutPrefix(l, job.Until+" "); ok {
				said = strings.Fields(rest)
			}
		case <-deadline:
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the child did not reach %s in 60 s; stderr:\n%s", job.Until, stderr.String())
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: nothing runs after it
		t.Fatal(err)
	}
	cmd.Wait()
	go io.Copy(io.Discard, out)
	return port, said
}

// recoveredIn starts the next linkdesk on dir, a minute later by its
// simulator's clock (what Cybrid had under way when linkdesk was killed is
// done by then), and returns the session, its page client and the
// interrupted attempts once reconciled.
func recoveredIn(t *testing.T, dir string) (*Session, *pageClient, journal.Status) {
	t.Helper()
	clk := &simclock.Clock{}
	clk.Skip(time.Minute)
	so := simCrashDelays
	so.Now = clk.Now
	s, err := Start(simOn(t), "test", slog.New(slog.DiscardHandler), keychain.NewMemory(),
		Options{StateDir: dir, RuntimeDir: t.TempDir(), Sim: so})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	page := newPageClient(t, s)
	var st journal.Status
	wait.True(t, 15*time.Second, "the interrupted attempt reconciled", func() bool {
		page.call(t, "recovered.list", nil, &st)
		return len(st.Attempts) == 1 && st.Attempts[0].Outcome != journal.OutcomeChecking
	})
	return s, page, st
}

func TestTheSimulatorRehearsesCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts linkdesk in child processes")
	}
	t.Run("killed after the account was created", func(t *testing.T) {
		dir := t.TempDir()
		oldPort, said := killedAt(t, simCrashJob{StateDir: dir, RuntimeDir: t.TempDir(), Until: "account_created"})
		attempt, cust, acct := said[0], said[1], said[2]

		s, page, st := recoveredIn(t, dir)
		e, _ := s.Env()
		if e.Target.BankURL == oldPort {
			t.Fatalf("the simulator listens on the killed one's port %s: the test shows nothing about a new port", oldPort)
		}
		r := st.Attempts[0]
		if r.AttemptID != attempt || r.Step != linkflow.CreatingAccount || r.Outcome != journal.OutcomeLinked || r.AccountGUID != acct {
			t.Errorf("the interrupted attempt is %+v; want attempt %s linked with account %s (the simulator kept it)", r, attempt, acct)
		}
		var rows []desk.Account
		page.call(t, "listAccounts", map[string]any{"customer_guid": cust}, &rows)
		if len(rows) != 1 || rows[0].GUID != acct {
			t.Errorf("the customer's accounts after the restart: %+v; want %s", rows, acct)
		}
		if _, err := os.Stat(filepath.Join(dir, "journal-sim.jsonl")); err != nil {
			t.Errorf("the simulator's journal is not named by the environment alone: %v", err)
		}
	})
	t.Run("killed before any account", func(t *testing.T) {
		dir := t.TempDir()
		_, said := killedAt(t, simCrashJob{StateDir: dir, RuntimeDir: t.TempDir(), Until: "link_open"})
		attempt, cust := said[0], said[1]

		_, page, st := recoveredIn(t, dir)
		r := st.Attempts[0]
		if r.AttemptID != attempt || r.Step != linkflow.LinkOpen || r.Outcome != journal.OutcomeNothingLinked || r.Action != journal.ActionStartLink {
			t.Errorf("the interrupted attempt is %+v; want attempt %s, nothing linked, link again", r, attempt)
		}
		var rows []desk.Account
		if page.call(t, "listAccounts", map[string]any{"customer_guid": cust}, &rows); len(rows) != 0 {
			t.Errorf("the customer has accounts: %+v", rows)
		}
	})
}
