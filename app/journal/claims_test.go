package journal_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"linkdesk/app/journal"
	"linkdesk/app/linkflow"
)

// TestClaimsAccountsOfRecordedAttempts: Claims (the flow's
// Settings.Claimed) reports the account a journaled attempt created, and
// the one reconciliation found an interrupted attempt created — also after
// a restart — and nothing else. Real flow, real client, the simulator on
// loopback.
func TestClaimsAccountsOfRecordedAttempts(t *testing.T) {
	r := newCrashRig(t, 100*time.Millisecond)
	open := func(dir string) *journal.Journal {
		t.Helper()
		j, err := journal.Open(journal.Options{Dir: dir, Env: "sandbox", BankURL: r.sim.BankURL, Log: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}

	// An attempt interrupted after it asked for an account…
	j := open(r.dir)
	now := time.Now()
	walkOn(j, linkflow.Attempt{ID: "00000000000000b1", Kind: linkflow.KindLink, CustomerGUID: r.cust, StartedAt: now, UpdatedAt: now},
		linkflow.CreatingWorkflow, linkflow.WaitingForToken, linkflow.LinkOpen, linkflow.CreatingAccount)
	j.Close()

	// …and, as Cybrid created it, an account linked by a linkdesk with
	// another journal.
	other := open(t.TempDir())
	defer other.Close()
	d := newDriver(t, r.sim, r.config(""), other, func(string, ...any) {})
	done, _ := run(t, d, r.config(""))
	d.Flow.Close()
	x := done.AccountGUID
	if !other.Claims(x) {
		t.Errorf("the journal of the attempt that created %s does not claim it", x)
	}

	j = open(r.dir)
	if j.Claims(x) {
		t.Errorf("before reconciliation the journal claims %s, which none of its attempts is known to own", x)
	}
	rs := j.Reconcile(t.Context(), r.client(t))
	if len(rs) != 1 || rs[0].AccountGUID != x {
		t.Fatalf("Reconcile = %+v, want the interrupted attempt matched to %s", rs, x)
	}
	if !j.Claims(x) {
		t.Errorf("after reconciliation found %s for the interrupted attempt, the journal does not claim it", x)
	}
	j.Close()
	j = open(r.dir)
	defer j.Close()
	if !j.Claims(x) {
		t.Errorf("after a restart the journal no longer claims %s", x)
	}
	for _, g := range []string{"", strings.Repeat("0", 32)} {
		if j.Claims(g) {
			t.Errorf("Claims(%q) = true", g)
		}
	}
	var none *journal.Journal
	if journal.Off("test").Claims(x) || none.Claims(x) {
		t.Error("a journal that is off claims an account")
	}
}
