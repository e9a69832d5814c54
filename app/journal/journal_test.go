package journal_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"linkdesk/app/cybrid"
	"linkdesk/app/journal"
	"linkdesk/app/linkflow"
)

func open(t *testing.T, dir string, now func() time.Time) *journal.Journal {
	t.Helper()
	if now == nil {
		now = func() time.Time { return t0.Add(time.Hour) }
	}
	j, err := journal.Open(journal.Options{Dir: dir, Env: "sandbox", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// attempt walks a made-up link attempt through states, as the flow would
// report it.
func walk(j *journal.Journal, id string, states ...linkflow.State) linkflow.Attempt {
	a := linkflow.Attempt{ID: id, Kind: linkflow.KindLink, CustomerGUID: strings.Repeat("c", 32), StartedAt: t0, UpdatedAt: t0}
	return walkOn(j, a, states...)
}

// walkOn continues attempt a through states.
func walkOn(j *journal.Journal, a linkflow.Attempt, states ...linkflow.State) linkflow.Attempt {
	for i, s := range states {
		a.State = s
		a.UpdatedAt = a.UpdatedAt.Add(time.Duration(i+1) * time.Second)
		ev := linkflow.Event{Type: "state"}
		switch s {
		case linkflow.WaitingForToken:
			a.WorkflowGUID = strings.Repeat("f", 32)
		case linkflow.LinkOpen:
			a.LinkToken = "link-sandbox-SECRETLINKTOKEN"
		case linkflow.CreatingAccount:
			a.Institution = "First Platypus Bank"
			ev = linkflow.Event{Type: "plaid_callback", Selection: &linkflow.Selection{InstitutionID: "ins_109508", Institution: "First Platypus Bank"}}
		case linkflow.WaitingForAccount:
			a.AccountGUID = strings.Repeat("a", 32)
			a.Account = &linkflow.Account{GUID: a.AccountGUID, State: "storing"}
		case linkflow.Done:
			a.Account = &linkflow.Account{GUID: a.AccountGUID, State: "unverified", Mask: "0000", InstitutionID: "ins_109508"}
		}
		j.Observe(a, ev)
		// A poll changes nothing the journal keeps.
		a.Polls++
		j.Observe(a, linkflow.Event{Type: "poll"})
	}
	return a
}

func lines(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestRoundTripKeepsTheLastRecordOfEachAttempt(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, nil)
	mask := "0000"
	a1 := walk(j, "00000000000000a1", linkflow.CreatingWorkflow, linkflow.WaitingForToken, linkflow.LinkOpen)
	// onSuccess: the account chosen in Link comes with the event.
	a1.Rev++
	j.Observe(a1, linkflow.Event{Type: "plaid_callback", Selection: &linkflow.Selection{
		Institution: "First Platypus Bank", InstitutionID: "ins_109508", AccountID: "acc_1", Name: "Plaid Checking", Mask: mask}})
	walkOn(j, a1, linkflow.CreatingAccount)
	walk(j, "00000000000000b2", linkflow.CreatingWorkflow, linkflow.WaitingForToken, linkflow.LinkOpen,
		linkflow.CreatingAccount, linkflow.WaitingForAccount, linkflow.Done)
	path := j.Path()
	// One line per change of state (plus the selection), none per poll.
	if n := len(lines(t, path)); n != 5+6 {
		t.Errorf("%d lines written, want 11 (one per state change and one for the selection)", n)
	}
	j.Close()

	j = open(t, dir, nil)
	defer j.Close()
	got := map[string]journal.Entry{}
	for _, e := range j.Entries() {
		got[e.ID] = e
	}
	a := got["00000000000000a1"]
	if a.State != linkflow.CreatingAccount || a.WorkflowGUID != strings.Repeat("f", 32) || a.InstitutionID != "ins_109508" ||
		a.Institution != "First Platypus Bank" || a.PlaidAccountID != "acc_1" || a.PlaidAccountMask != "0000" ||
		a.PlaidAccountName != "Plaid Checking" || !a.StartedAt.Equal(t0) || a.Finished() {
		t.Errorf("interrupted attempt read back as %+v", a)
	}
	b := got["00000000000000b2"]
	if b.State != linkflow.Done || b.AccountGUID != strings.Repeat("a", 32) || b.AccountState != "unverified" || !b.Finished() {
		t.Errorf("finished attempt read back as %+v", b)
	}
	// Compacted: one line per attempt.
	if l := lines(t, path); len(l) != 2 || l[0]["v"] != float64(1) {
		t.Errorf("after Open the file has %d lines (%v), want 2 with v=1", len(l), l)
	}
	// Only the unfinished one is offered for recovery.
	rec := j.Recovered()
	if len(rec) != 1 || rec[0].AttemptID != "00000000000000a1" || rec[0].Outcome != journal.OutcomeChecking ||
		rec[0].Step != linkflow.CreatingAccount || !strings.Contains(rec[0].Message, "asking Cybrid to create the account") {
		t.Errorf("Recovered() = %+v", rec)
	}
	// The link token of the snapshot never reached the file.
	raw, _ := os.ReadFile(path)
	if bytes.Contains(raw, []byte("SECRETLINKTOKEN")) || bytes.Contains(raw, []byte("link_token")) {
		t.Errorf("the journal holds the link token: %s", raw)
	}
}

func TestCompactionDropsOnlyOldFinishedAttempts(t *testing.T) {
	dir := t.TempDir()
	now := t0
	clock := func() time.Time { return now }
	j := open(t, dir, clock)
	walk(j, "00000000000000a1", linkflow.CreatingWorkflow, linkflow.WaitingForToken, linkflow.LinkOpen,
		linkflow.CreatingAccount, linkflow.WaitingForAccount, linkflow.Done) // finished
	walk(j, "00000000000000b2", linkflow.CreatingWorkflow, linkflow.WaitingForToken) // unfinished
	j.Close()

	now = t0.Add(6 * 24 * time.Hour) // within DefaultRetain: both kept
	j = open(t, dir, clock)
	if n := len(j.Entries()); n != 2 {
		t.Errorf("after 6 days %d entries, want 2", n)
	}
	j.Close()
	now = t0.Add(8 * 24 * time.Hour) // the finished one goes, the unfinished stays
	j = open(t, dir, clock)
	defer j.Close()
	es := j.Entries()
	if len(es) != 1 || es[0].ID != "00000000000000b2" {
		t.Errorf("after 8 days entries = %+v, want only the unfinished attempt", es)
	}
	if l := lines(t, j.Path()); len(l) != 1 {
		t.Errorf("file has %d lines after compaction, want 1", len(l))
	}
}

// A kill -9 can cut the last write anywhere. Whatever the cut, Open keeps
// every earlier record, reports the cut line, and leaves a clean file.
func TestCutLastLineIsDroppedAndReportedNothingElseLost(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, nil)
	walk(j, "00000000000000a1", linkflow.CreatingWorkflow, linkflow.WaitingForToken, linkflow.LinkOpen)
	walk(j, "00000000000000b2", linkflow.CreatingWorkflow)
	path := j.Path()
	j.Close()
	whole, _ := os.ReadFile(path)
	lastStart := bytes.LastIndexByte(whole[:len(whole)-1], '\n') + 1
	for cut := lastStart + 1; cut < len(whole)-1; cut++ {
		if err := os.WriteFile(path, whole[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		j := open(t, dir, nil)
		es := j.Entries()
		notes := j.Notes()
		j.Close()
		if len(es) != 1 || es[0].ID != "00000000000000a1" || es[0].State != linkflow.LinkOpen {
			t.Fatalf("cut at byte %d: entries = %+v, want a1 in link_open", cut, es)
		}
		if len(notes) != 1 || !strings.Contains(notes[0], "last line") || !strings.Contains(notes[0], "cut short") {
			t.Fatalf("cut at byte %d: notes = %q", cut, notes)
		}
		if l := lines(t, path); len(l) != 1 { // lines() fails on any line that is not JSON
			t.Fatalf("cut at byte %d: %d lines after Open", cut, len(l))
		}
	}
	// Only the newline missing: the record is whole and is kept.
	os.WriteFile(path, append(whole[:lastStart:lastStart], bytes.TrimRight(whole[lastStart:], "\n")...), 0o600)
	j = open(t, dir, nil)
	defer j.Close()
	if n, notes := len(j.Entries()), j.Notes(); n != 2 || len(notes) != 0 {
		t.Errorf("a last line without its newline: %d entries, notes %q", n, notes)
	}
	// Appending after it starts on a new line.
	walk(j, "00000000000000c3", linkflow.CreatingWorkflow)
	if l := lines(t, path); len(l) != 3 {
		t.Errorf("%d lines after appending, want 3", len(l))
	}
}

func TestDamagedLineInsideIsReportedAndTheFileKept(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, nil)
	walk(j, "00000000000000a1", linkflow.CreatingWorkflow)
	walk(j, "00000000000000b2", linkflow.CreatingWorkflow)
	path := j.Path()
	j.Close()
	whole, _ := os.ReadFile(path)
	damaged := append([]byte("{\"v\":1,\"id\":\"00000000000000a1\",\"sta\x00\x01garbage\n"), whole...)
	os.WriteFile(path, damaged, 0o600)
	j = open(t, dir, nil)
	defer j.Close()
	if n := len(j.Entries()); n != 2 {
		t.Errorf("%d entries, want both whole records", n)
	}
	notes := j.Notes()
	if len(notes) != 1 || !strings.Contains(notes[0], "Line 1") || !strings.Contains(notes[0], "damaged") {
		t.Errorf("notes = %q", notes)
	}
	copies, _ := filepath.Glob(path + ".damaged-*")
	if len(copies) != 1 {
		t.Fatalf("copies of the damaged file: %v", copies)
	}
	if b, _ := os.ReadFile(copies[0]); !bytes.Equal(b, damaged) {
		t.Error("the kept copy is not the file as found")
	}
	if fi, _ := os.Stat(copies[0]); runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("the kept copy has mode %v", fi.Mode().Perm())
	}
}

func TestFileAndDirectoryArePrivate(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Unix permissions")
	}
	parent := t.TempDir()
	dir := filepath.Join(parent, "linkdesk")
	os.Mkdir(dir, 0o755) // an existing directory with a loose mode is tightened
	j := open(t, dir, nil)
	walk(j, "00000000000000a1", linkflow.CreatingWorkflow)
	defer j.Close()
	for path, want := range map[string]os.FileMode{dir: 0o700, j.Path(): 0o600, j.Path() + ".lock": 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	// A fresh directory is created 0700 whatever the umask allows.
	fresh := filepath.Join(parent, "a", "b")
	j2, err := journal.Open(journal.Options{Dir: fresh, Env: "production"})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if fi, _ := os.Stat(fresh); fi.Mode().Perm() != 0o700 {
		t.Errorf("new state directory has mode %v", fi.Mode().Perm())
	}
}

func TestOneWriterPerJournal(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, nil)
	_, err := journal.Open(journal.Options{Dir: dir, Env: "sandbox"})
	if !errors.Is(err, journal.ErrBusy) || !strings.Contains(err.Error(), "close the other linkdesk") {
		t.Fatalf("second Open = %v, want ErrBusy saying what to do", err)
	}
	// Another environment is another journal.
	p, err := journal.Open(journal.Options{Dir: dir, Env: "production"})
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
	j.Close()
	j = open(t, dir, nil)
	j.Close()
}

func TestFileNames(t *testing.T) {
	for _, c := range []struct{ env, url, want string }{
		{"sandbox", "", "journal-sandbox.jsonl"},
		{"sandbox", "https://bank.sandbox.cybrid.app/", "journal-sandbox.jsonl"},
		{"production", "https://bank.production.cybrid.app", "journal-production.jsonl"},
		{"sandbox", "http://127.0.0.1:8090", "journal-sandbox-"},
	} {
		got, err := journal.FileName(c.env, c.url)
		if err != nil || !strings.HasPrefix(got, c.want) || !strings.HasSuffix(got, ".jsonl") {
			t.Errorf("FileName(%q, %q) = %q, %v", c.env, c.url, got, err)
		}
	}
	a, _ := journal.FileName("sandbox", "http://127.0.0.1:8090")
	b, _ := journal.FileName("sandbox", "http://127.0.0.1:8091")
	if a == b {
		t.Error("two Bank API URLs share a journal")
	}
	for _, bad := range []string{"", "../x", "Sandbox", "a/b"} {
		if _, err := journal.FileName(bad, ""); err == nil {
			t.Errorf("FileName(%q) accepted", bad)
		}
	}
}

func TestDismissIsKeptAcrossStarts(t *testing.T) {
	dir := t.TempDir()
	j := open(t, dir, nil)
	walk(j, "00000000000000a1", linkflow.CreatingWorkflow, linkflow.WaitingForToken, linkflow.LinkOpen)
	j.Close()
	j = open(t, dir, nil)
	if err := j.Dismiss("00000000000000a1"); err == nil {
		t.Error("an attempt still being checked was dismissed")
	}
	rs := j.Reconcile(t.Context(), nil) // link_open needs no call to Cybrid
	if len(rs) != 1 || rs[0].Outcome != journal.OutcomeNothingLinked || rs[0].Action != journal.ActionStartLink {
		t.Fatalf("Reconcile = %+v", rs)
	}
	for _, bad := range []string{"", "xyz", strings.Repeat("0", 17)} {
		if err := j.Dismiss(bad); err == nil || !strings.Contains(err.Error(), "16 lowercase hexadecimal") {
			t.Errorf("Dismiss(%q) = %v", bad, err)
		}
	}
	j.Close()
	j = open(t, dir, nil)
	if rs := j.Recovered(); len(rs) != 1 || rs[0].Outcome != journal.OutcomeNothingLinked {
		t.Fatalf("after a restart Recovered() = %+v, want the reconciled attempt until dismissed", rs)
	}
	if err := j.Dismiss("00000000000000a1"); err != nil {
		t.Fatal(err)
	}
	j.Close()
	j = open(t, dir, nil)
	defer j.Close()
	if rs := j.Recovered(); len(rs) != 0 {
		t.Errorf("after dismissing: %+v", rs)
	}
}

func TestMatchRule(t *testing.T) {
	cust := strings.Repeat("c", 32)
	asked := t0.Add(time.Minute)
	// In account_retry since 10 minutes: the first request is what counts.
	e := journal.Entry{ID: "00000000000000a1", CustomerGUID: cust, State: linkflow.AccountRetry, StartedAt: t0,
		AccountRequestedAt: asked, UpdatedAt: asked.Add(10 * time.Minute),
		InstitutionID: "ins_109508", PlaidAccountName: "Plaid Checking", PlaidAccountMask: "0000"}
	acct := func(guid, name string, created time.Time, inst, mask string) cybrid.ExternalBankAccount {
		return cybrid.ExternalBankAccount{GUID: strings.Repeat(guid, 32), Name: name, CustomerGUID: cust, AccountKind: cybrid.AccountKindPlaid,
			CreatedAt: created, PlaidInstitutionID: inst, PlaidAccountMask: mask, State: cybrid.AccountUnverified}
	}
	accts := []cybrid.ExternalBankAccount{
		acct("1", "Plaid Checking", asked.Add(time.Second), "", ""),                                                      // storing: no details yet → matches
		acct("2", "Plaid Saving", asked.Add(time.Second), "ins_109508", "1111"),                                          // other account
		acct("3", "Plaid Checking", asked.Add(-time.Hour), "ins_109508", "0000"),                                         // before the request
		acct("4", "Plaid Checking", asked.Add(time.Second), "ins_109509", "0000"),                                        // other bank
		acct("5", "Plaid Checking", asked.Add(time.Second), "ins_109508", "9999"),                                        // other mask
		acct("6", "Plaid Checking", asked.Add(time.Second), "ins_109508", "0000"),                                        // claimed by another attempt
		acct("7", "Plaid Checking", asked.Add(-time.Minute), "ins_109508", "0000"),                                       // within the clock skew → matches
		{GUID: strings.Repeat("8", 32), Name: "Plaid Checking", CustomerGUID: strings.Repeat("d", 32), CreatedAt: asked}, // other customer
	}
	// The journal's rule is linkflow's, applied to what the entry asked for.
	got := linkflow.MatchCreated(e.AccountRequest(), accts, func(g string) bool { return g == strings.Repeat("6", 32) })
	var guids []string
	for _, a := range got {
		guids = append(guids, a.GUID[:1])
	}
	if strings.Join(guids, ",") != "1,7" {
		t.Errorf("matched %v, want 1,7", guids)
	}
	// Without the chosen account (journal from before the selection was kept), any
	// new unclaimed plaid account of the customer is a candidate.
	e.PlaidAccountName, e.PlaidAccountMask, e.InstitutionID = "", "", ""
	if got := linkflow.MatchCreated(e.AccountRequest(), accts[:2], nil); len(got) != 2 {
		t.Errorf("without a selection matched %d, want 2 (ambiguous)", len(got))
	}
	// A live account comes before a failed one (a retried request that
	// Cybrid failed); with none live, the newest failed one.
	failedOld, failedNew := acct("9", "Plaid Checking", asked, "", ""), acct("a", "Plaid Checking", asked.Add(time.Second), "", "")
	failedOld.State, failedNew.State = cybrid.AccountFailed, cybrid.AccountFailed
	if got := linkflow.MatchCreated(e.AccountRequest(), []cybrid.ExternalBankAccount{failedNew, accts[0], failedOld}, nil); len(got) != 1 || got[0].GUID != accts[0].GUID {
		t.Errorf("live and failed: matched %v", got)
	}
	if got := linkflow.MatchCreated(e.AccountRequest(), []cybrid.ExternalBankAccount{failedOld, failedNew}, nil); len(got) != 1 || got[0].GUID != failedNew.GUID {
		t.Errorf("only failed: matched %v", got)
	}
	if linkflow.PostedName("  ") != "Bank account" || linkflow.PostedName(" X ") != "X" || linkflow.PostedName(strings.Repeat("é", 200)) != strings.Repeat("é", 128) {
		t.Error("PostedName does not follow the flow's naming")
	}
}

// BenchmarkObserveStateChange measures what a state change costs the flow:
// one line appended and fsynced.
func BenchmarkObserveStateChange(b *testing.B) {
	j, err := journal.Open(journal.Options{Dir: b.TempDir(), Env: "sandbox"})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	a := linkflow.Attempt{ID: "00000000000000a1", Kind: linkflow.KindLink, CustomerGUID: strings.Repeat("c", 32), StartedAt: t0}
	states := []linkflow.State{linkflow.CreatingWorkflow, linkflow.WaitingForToken}
	for i := 0; b.Loop(); i++ {
		a.State = states[i%2]
		j.Observe(a, linkflow.Event{Type: "state"})
	}
}
