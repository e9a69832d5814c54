package journal_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"linkdesk/app/internal/testneeds"
	"linkdesk/app/internal/wait"
	"linkdesk/app/journal"
	"linkdesk/app/linkflow"
)

// fillDisk fills the file system that holds dir: it writes a file until
// the disk refuses. Removing the returned path gives the space back.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			return p
		}
	}
}

// recordOf is the last record of attempt id in the journal file.
func recordOf(t *testing.T, path, id string) map[string]any {
	t.Helper()
	var last map[string]any
	for _, l := range lines(t, path) {
		if l["id"] == id {
			last = l
		}
	}
	return last
}

// Issue 14, case 1, in one process: a full disk (a real 64 KiB tmpfs,
// filled to 0 bytes) turned crash safety off silently. Now the journal says
// so at once (OnChange, Status.Failing), refuses new attempts (CanRecord),
// keeps the running attempt's records in memory without leaving a partial
// line, and writes them by itself when space returns.
func TestFullDiskIsShownAtOnceAndWhatIsHeldIsWrittenWhenSpaceReturns(t *testing.T) {
	dir := testneeds.MountTmpfs(t, 64<<10)
	var changes atomic.Int32
	j, err := journal.Open(journal.Options{Dir: dir, Env: "sandbox", OnChange: func() { changes.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if err := j.CanRecord(); err != nil {
		t.Fatalf("CanRecord on an empty disk: %v", err)
	}
	filler := fillDisk(t, dir)

	// A new attempt is refused before it starts, with the reason.
	err = j.CanRecord()
	if !errors.Is(err, journal.ErrNotRecording) || !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), "Free space") {
		t.Fatalf("CanRecord on a full disk = %v; want ErrNotRecording saying why and what to do", err)
	}
	st := j.Status()
	t.Logf("warning: %s", st.Failing)
	if !strings.Contains(st.Failing, "Crash recovery is off") || !strings.Contains(st.Failing, "no space left on device") ||
		!strings.Contains(st.Failing, "refused") || changes.Load() == 0 {
		t.Fatalf("status on a full disk: failing %q, %d changes reported; want the warning, reported at once", st.Failing, changes.Load())
	}

	// An attempt that was already running goes on; what the journal keeps
	// of it is held in memory, and nothing partial reaches the file.
	const id = "00000000000000a1"
	walk(j, id, linkflow.CreatingWorkflow, linkflow.WaitingForToken, linkflow.LinkOpen, linkflow.CreatingAccount, linkflow.WaitingForAccount)
	st = j.Status()
	if st.Unsaved != 1 || !strings.Contains(st.Failing, "1 attempt is held in memory only") {
		t.Errorf("after the attempt moved on: unsaved %d, warning %q", st.Unsaved, st.Failing)
	}
	if raw, _ := os.ReadFile(j.Path()); len(raw) != 0 {
		t.Errorf("the journal on a full disk holds %d bytes: %q", len(raw), raw)
	}
	if err := j.CanRecord(); err == nil {
		t.Error("CanRecord let an attempt start on a full disk")
	}

	// Space returns: with no call, the held record is written and the
	// warning clears.
	before := changes.Load()
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	wait.True(t, 15*time.Second, "the journal writing again", func() bool { return j.Status().Failing == "" })
	t.Logf("the warning cleared %v after space returned (RetryEvery %v)", time.Since(began).Round(100*time.Millisecond), journal.RetryEvery)
	if changes.Load() == before {
		t.Error("the recovery was not reported (OnChange)")
	}
	rec := recordOf(t, j.Path(), id)
	if rec == nil || rec["state"] != string(linkflow.WaitingForAccount) || rec["account_guid"] != strings.Repeat("a", 32) {
		t.Fatalf("after space returned the file's record is %v; want waiting_for_account with its account", rec)
	}
	if notes := strings.Join(j.Status().Notes, "\n"); !strings.Contains(notes, "failed from") || !strings.Contains(notes, "was written when the disk took it again") {
		t.Errorf("notes %q do not say writing failed and what happened to the records", notes)
	}
	if err := j.CanRecord(); err != nil {
		t.Errorf("CanRecord after space returned: %v", err)
	}

	// What a kill now leaves is what the file holds: the next start shows it.
	j.Close()
	j2, err := journal.Open(journal.Options{Dir: dir, Env: "sandbox"})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if rs := j2.Recovered(); len(rs) != 1 || rs[0].Step != linkflow.WaitingForAccount || rs[0].AccountGUID != strings.Repeat("a", 32) {
		t.Errorf("the next start shows %+v", rs)
	}
}

// A start on a disk that is already full says so before any attempt, and
// keeps every record the file held: when space returns, nothing is missing
// and the warning goes.
func TestAStartOnAFullDiskSaysSoAtOnce(t *testing.T) {
	dir := testneeds.MountTmpfs(t, 64<<10)
	j, err := journal.Open(journal.Options{Dir: dir, Env: "sandbox"})
	if err != nil {
		t.Fatal(err)
	}
	walk(j, "00000000000000d1", linkflow.CreatingWorkflow, linkflow.WaitingForToken)
	j.Close()
	filler := fillDisk(t, dir)
	j, err = journal.Open(journal.Options{Dir: dir, Env: "sandbox"})
	if err != nil {
		t.Fatalf("Open on a full disk: %v", err)
	}
	defer j.Close()
	st := j.Status()
	if !strings.Contains(st.Failing, "Crash recovery is off") || len(st.Attempts) != 1 || st.Attempts[0].Step != linkflow.WaitingForToken {
		t.Fatalf("right after a start on a full disk: failing %q, attempts %+v", st.Failing, st.Attempts)
	}
	os.Remove(filler)
	wait.True(t, 15*time.Second, "the journal writing again", func() bool { return j.Status().Failing == "" })
}

// When the disk fills in the middle of a record (tmpfs takes what fits in
// the file's last page, then refuses), the part that reached the file is
// cut back out: the file holds whole lines only, and the record is
// written whole once space returns.
func TestAFailedWriteLeavesNoPartialLine(t *testing.T) {
	dir := testneeds.MountTmpfs(t, 64<<10)
	j, err := journal.Open(journal.Options{Dir: dir, Env: "sandbox"})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	walk(j, "00000000000000b1", linkflow.CreatingWorkflow)
	filler := fillDisk(t, dir)
	// The records that fit in the file's last page are written; the first
	// that does not fails.
	last := ""
	for i := 0; j.Status().Failing == "" && i < 100; i++ {
		last = fmt.Sprintf("%016x", 0xc000+i)
		walk(j, last, linkflow.CreatingWorkflow)
	}
	if j.Status().Failing == "" {
		t.Fatal("100 records were written on a full disk")
	}
	raw, _ := os.ReadFile(j.Path())
	t.Logf("on the full disk the file holds %d bytes; the record of %s failed", len(raw), last)
	if len(raw) == 0 || raw[len(raw)-1] != '\n' {
		t.Errorf("the file does not end with a whole line: %q", raw[max(0, len(raw)-80):])
	}
	for _, l := range lines(t, j.Path()) { // lines fails on a line that is not JSON
		if l["id"] == last {
			t.Errorf("the failed record is in the file: %v", l)
		}
	}
	os.Remove(filler)
	wait.True(t, 15*time.Second, "the journal writing again", func() bool { return j.Status().Failing == "" })
	if rec := recordOf(t, j.Path(), last); rec == nil || rec["state"] != string(linkflow.CreatingWorkflow) {
		t.Errorf("after space returned the record of %s is %v", last, rec)
	}
}

// Issue 14, case 1, as found: $HOME/.local/state on a 64 KiB tmpfs filled
// to 0 bytes, an account waiting in storing, kill -9, restart — the journal
// file had 0 bytes and the next start showed nothing. A real attempt runs
// in a child process against the simulator with its journal on the full
// tmpfs (the child starts it without asking CanRecord, as an attempt that
// was running when the disk filled). Once space returns the child's
// journal writes what it held by itself; the child is SIGKILLed; the next
// start shows the attempt and reconciles it with Cybrid: still storing.
func TestFullDiskThenKillShowsTheAttemptOnceSpaceReturned(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: runs a child process")
	}
	r := newCrashRig(t, time.Minute)
	r.dir = testneeds.MountTmpfs(t, 64<<10)
	name, _ := journal.FileName("sandbox", r.sim.BankURL)
	path := filepath.Join(r.dir, name)
	filler := fillDisk(t, r.dir)

	c := startChild(t, r.config("state:waiting_for_account"))
	c.waitFor(t, "dying")
	if raw, _ := os.ReadFile(path); len(raw) != 0 {
		t.Fatalf("the journal on the full disk holds %q", raw)
	}
	accts := r.sim.Cybrid.Accounts(r.cust)
	if len(accts) != 1 || accts[0].State != "storing" {
		t.Fatalf("the simulator has %+v, want one account storing", accts)
	}

	os.Remove(filler)
	wait.True(t, 15*time.Second, "the child's journal to write what it held", func() bool {
		raw, _ := os.ReadFile(path)
		return bytes.Contains(raw, []byte(accts[0].GUID)) && bytes.Contains(raw, []byte(`"state":"waiting_for_account"`))
	})
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()

	j, err := journal.Open(journal.Options{Dir: r.dir, Env: "sandbox", BankURL: r.sim.BankURL})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	shown := j.Recovered()
	if len(shown) != 1 || shown[0].Step != linkflow.WaitingForAccount {
		t.Fatalf("the next start shows %+v, want the attempt at waiting_for_account", shown)
	}
	got := j.Reconcile(t.Context(), r.client(t))
	if len(got) != 1 || got[0].Outcome != journal.OutcomeStoring || got[0].AccountGUID != accts[0].GUID || !strings.Contains(got[0].Message, "still storing") {
		t.Fatalf("reconciled %+v, want account %s still storing", got, accts[0].GUID)
	}
	t.Logf("%s: %s", got[0].Outcome, got[0].Message)
}
