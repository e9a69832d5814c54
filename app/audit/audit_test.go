package audit_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/app/audit"
	"linkdesk/app/linkflow"
)

func open(t *testing.T, dir string, o audit.Options) *audit.Log {
	t.Helper()
	o.Dir = dir
	l, err := audit.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// guids are 32 lowercase hexadecimal characters, as Cybrid's.
func guidN(n int) string { return fmt.Sprintf("%032x", n) }

func TestRecordsAreKeptWithWhoWhenWhereAndSurviveARestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	l := open(t, dir, audit.Options{})
	before := time.Now()
	if err := l.For("sandbox", nil).Record(audit.Record{Action: audit.ActionUnlink, Outcome: audit.OutcomeSuccess,
		CustomerGUID: guidN(1), AccountGUID: guidN(2), Detail: "Unlinked Plaid Checking ••0000"}); err != nil {
		t.Fatal(err)
	}
	l.Close()

	// A new process on the same state directory reads it back.
	l2 := open(t, dir, audit.Options{})
	p, err := l2.List(audit.Filter{}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 1 || len(p.Records) != 1 || !p.Status.On || p.Status.File != filepath.Join(dir, audit.FileName) {
		t.Fatalf("after a restart: %+v", p)
	}
	r := p.Records[0]
	if r.Environment != "sandbox" || r.Action != audit.ActionUnlink || r.Outcome != audit.OutcomeSuccess ||
		r.CustomerGUID != guidN(1) || r.AccountGUID != guidN(2) || r.User != audit.CurrentUser() || r.User == "" {
		t.Errorf("record %+v", r)
	}
	if host, _ := os.Hostname(); r.Host != host {
		t.Errorf("host %q, want %q", r.Host, host)
	}
	if r.Time.Before(before.Add(-time.Second)) || r.Time.After(time.Now()) || r.Time.Location() != time.UTC {
		t.Errorf("time %v is not now in UTC", r.Time)
	}
	if runtime.GOOS != "windows" {
		for p, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, audit.FileName): 0o600} {
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
				t.Errorf("%s: mode %v (%v), want %v", p, fi.Mode().Perm(), err, want)
			}
		}
	}
	raw, _ := os.ReadFile(filepath.Join(dir, audit.FileName))
	if !bytes.HasPrefix(raw, []byte(`{"v":1,"time":"`)) || bytes.Count(raw, []byte("\n")) != 1 {
		t.Errorf("the file is not one JSON line with v:1: %s", raw)
	}
}

func TestListIsNewestFirstPagedAndFiltered(t *testing.T) {
	l := open(t, t.TempDir(), audit.Options{})
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	envs := []string{"sandbox", "production", "sim"}
	for i := range 10 {
		l.For(envs[i%3], nil).Record(audit.Record{Time: t0.Add(time.Duration(i) * time.Minute), Action: audit.ActionLink,
			Outcome: audit.OutcomeStarted, CustomerGUID: guidN(i % 2), Detail: fmt.Sprint("record ", i)})
	}
	p, err := l.List(audit.Filter{}, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 10 || len(p.Records) != 4 || p.Records[0].Detail != "record 9" || p.Records[3].Detail != "record 6" {
		t.Errorf("page 0: total %d, %v", p.Total, details(p.Records))
	}
	if p, _ := l.List(audit.Filter{}, 2, 4); len(p.Records) != 2 || p.Records[0].Detail != "record 1" || p.Records[1].Detail != "record 0" {
		t.Errorf("last page: %v", details(p.Records))
	}
	if p, _ := l.List(audit.Filter{}, 3, 4); len(p.Records) != 0 || p.Total != 10 {
		t.Errorf("past the end: %+v", p)
	}
	p, _ = l.List(audit.Filter{Environment: "sandbox", CustomerGUID: guidN(0)}, 0, 0)
	if got := details(p.Records); p.Total != 2 || strings.Join(got, ",") != "record 6,record 0" {
		t.Errorf("sandbox, customer 0: total %d %v", p.Total, got)
	}
	if p, _ := l.List(audit.Filter{Action: audit.ActionUnlink}, 0, 0); p.Total != 0 {
		t.Errorf("unlinks: %d", p.Total)
	}
	for _, bad := range []struct {
		f          audit.Filter
		page, per  int
		wantSubstr string
	}{
		{audit.Filter{CustomerGUID: "x"}, 0, 0, "customer GUID"},
		{audit.Filter{Environment: "Prod uction"}, 0, 0, "environment"},
		{audit.Filter{Action: "delete_everything"}, 0, 0, "action is not one of"},
		{audit.Filter{}, -1, 0, "pages start at 0"},
		{audit.Filter{}, 0, 501, "use 1 to 500"},
	} {
		if _, err := l.List(bad.f, bad.page, bad.per); err == nil || !strings.Contains(err.Error(), bad.wantSubstr) {
			t.Errorf("List(%+v, %d, %d) = %v, want %q", bad.f, bad.page, bad.per, err, bad.wantSubstr)
		}
	}
}

func details(rs []audit.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Detail)
	}
	return out
}

// Nothing secret reaches the file: the secrets the caller names, Plaid
// tokens and JWTs are scrubbed; identifier fields without their shape are
// left out; a line never breaks.
func TestNoSecretReachesTheFile(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, audit.Options{})
	const secret = "CANARY-client-secret-4242"
	secrets := map[string]string{
		"client secret": secret,
		"link token":    "link-sandbox-0f9c1d2e-aaaa-bbbb-cccc-123456789abc",
		"public token":  "public-sandbox-5c224a01-8314-4491-a06f-39e193d5cddc",
		"access token":  "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
	}
	var all []string
	for _, v := range secrets {
		all = append(all, v)
	}
	leaky := strings.Join(all, " and ")
	rec := l.For("production", nil, secret)
	rec.Record(audit.Record{Action: audit.ActionLink, Outcome: audit.OutcomeFailure, Detail: "Cybrid said: " + leaky + "\nsecond line",
		Code: secret, Institution: "Bank " + secrets["public token"], CustomerGUID: secrets["link token"], AccountGUID: secret,
		AttemptID: secret, InstitutionID: secrets["access token"]})
	l.Append(audit.Record{Environment: "sandbox", Action: audit.ActionCredentialsStore, Outcome: audit.OutcomeSuccess, Detail: "stored " + secret}, secret)
	raw, err := os.ReadFile(filepath.Join(dir, audit.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for what, v := range secrets {
		if bytes.Contains(raw, []byte(v)) {
			t.Errorf("the audit file holds the %s:\n%s", what, raw)
		}
	}
	if n := bytes.Count(raw, []byte("\n")); n != 2 {
		t.Errorf("%d lines, want 2 (a newline in a detail must not split a record):\n%s", n, raw)
	}
	p, _ := l.List(audit.Filter{}, 0, 0)
	if len(p.Records) != 2 {
		t.Fatalf("%d records were written, want 2", len(p.Records))
	}
	r := p.Records[1]
	if r.CustomerGUID != "" || r.AccountGUID != "" || r.AttemptID != "" || r.InstitutionID != "" {
		t.Errorf("fields without their shape were kept: %+v", r)
	}
	if !strings.Contains(r.Detail, "[redacted") || !strings.HasPrefix(r.Detail, "Cybrid said: ") {
		t.Errorf("detail %q", r.Detail)
	}
}

// The file is bounded: past MaxBytes it is rotated to audit.1.jsonl, the
// previous generation is dropped, and List reads both generations.
func TestTheFileIsRotatedAtMaxBytes(t *testing.T) {
	dir := t.TempDir()
	const maxBytes = 4 << 10
	l := open(t, dir, audit.Options{MaxBytes: maxBytes})
	rec := l.For("sandbox", nil)
	for i := range 200 {
		if err := rec.Record(audit.Record{Action: audit.ActionLink, Outcome: audit.OutcomeSuccess, CustomerGUID: guidN(i), Detail: fmt.Sprint("record ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{audit.FileName, audit.PrevFileName} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Size() > maxBytes || fi.Size() == 0 {
			t.Errorf("%s: %v, size %d; want 1 to %d bytes", name, err, fi.Size(), maxBytes)
		}
	}
	p, err := l.List(audit.Filter{}, 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	if p.Total >= 200 || p.Total < 2*maxBytes/400 || p.Records[0].Detail != "record 199" {
		t.Errorf("after rotation: total %d, newest %q", p.Total, p.Records[0].Detail)
	}
	// What is kept is the newest records, in order, without a gap.
	for i, r := range p.Records {
		if want := fmt.Sprint("record ", 199-i); r.Detail != want {
			t.Fatalf("record %d is %q, want %q", i, r.Detail, want)
		}
	}
}

// A line cut short (linkdesk killed while writing) is skipped and counted;
// later appends go on.
func TestADamagedLineIsSkippedAndCounted(t *testing.T) {
	dir := t.TempDir()
	l := open(t, dir, audit.Options{})
	rec := l.For("sim", nil)
	rec.Record(audit.Record{Action: audit.ActionLink, Outcome: audit.OutcomeStarted, Detail: "one"})
	f, _ := os.OpenFile(filepath.Join(dir, audit.FileName), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"v":1,"time":"2025-01-0`)
	f.Close()
	rec.Record(audit.Record{Action: audit.ActionLink, Outcome: audit.OutcomeSuccess, Detail: "two"})
	p, err := l.List(audit.Filter{}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The cut line and the next record share a line: that line is lost.
	if p.Damaged != 1 || p.Total != 1 || p.Records[0].Detail != "one" {
		t.Errorf("damaged %d, %v", p.Damaged, details(p.Records))
	}
	rec.Record(audit.Record{Action: audit.ActionLink, Outcome: audit.OutcomeSuccess, Detail: "three"})
	if p, _ := l.List(audit.Filter{}, 0, 0); p.Total != 2 || p.Records[0].Detail != "three" {
		t.Errorf("after the damage: %v", details(p.Records))
	}
}

// Two linkdesks on one state directory append and rotate without losing or
// tearing a line (each Log holds its own lock file handle, as two processes
// would).
func TestTwoWritersShareTheFile(t *testing.T) {
	// One rotation happens while they write: the file holds about 150 of
	// the 200 records.
	probe := t.TempDir()
	open(t, probe, audit.Options{}).For("sandbox", nil).Record(audit.Record{Action: audit.ActionLink, Outcome: audit.OutcomeStarted, Detail: "w0-100"})
	one, _ := os.Stat(filepath.Join(probe, audit.FileName))
	dir := t.TempDir()
	a := open(t, dir, audit.Options{MaxBytes: one.Size() * 150})
	b := open(t, dir, audit.Options{MaxBytes: one.Size() * 150})
	var wg sync.WaitGroup
	for w, l := range []*audit.Log{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				l.For("sandbox", nil).Record(audit.Record{Action: audit.ActionLink, Outcome: audit.OutcomeStarted, Detail: fmt.Sprintf("w%d-%d", w, i)})
			}
		}()
	}
	wg.Wait()
	p, err := a.List(audit.Filter{}, 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	if p.Total != 200 || p.Damaged != 0 {
		t.Errorf("total %d, damaged %d; want 200, 0", p.Total, p.Damaged)
	}
	if _, err := os.Stat(filepath.Join(dir, audit.PrevFileName)); err != nil {
		t.Errorf("no rotation happened: %v", err)
	}
	seen := map[string]bool{}
	for _, r := range p.Records {
		if seen[r.Detail] {
			t.Errorf("%s twice", r.Detail)
		}
		seen[r.Detail] = true
	}
}

func TestExportWritesCSVForASpreadsheetAndJSONLines(t *testing.T) {
	l := open(t, t.TempDir(), audit.Options{})
	out := t.TempDir()
	rec := l.For("production", nil)
	rec.Record(audit.Record{Action: audit.ActionLink, Outcome: audit.OutcomeSuccess, CustomerGUID: guidN(1), AccountGUID: guidN(2),
		Institution: `=HYPERLINK("http://evil.example","First Platypus Bank")`, InstitutionID: "ins_109508", Detail: "Account linked, \"ready\""})
	rec.Record(audit.Record{Action: audit.ActionUnlink, Outcome: audit.OutcomeSuccess, CustomerGUID: guidN(1), AccountGUID: guidN(2), Detail: "Unlinked"})
	l.For("sandbox", nil).Record(audit.Record{Action: audit.ActionUnlink, Outcome: audit.OutcomeFailure, CustomerGUID: guidN(3), Detail: "-1 is not valid"})

	got, err := l.Export(out, audit.Filter{Environment: "production"}, audit.CSV, audit.JSONL)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Files) != 2 || got.Records != 2 || got.Dir != out {
		t.Fatalf("export = %+v", got)
	}
	csvB, _ := os.ReadFile(got.Files[0].Path)
	if !strings.HasPrefix(filepath.Base(got.Files[0].Path), "linkdesk-audit-production-") || filepath.Ext(got.Files[0].Path) != ".csv" {
		t.Errorf("CSV file name %s", got.Files[0].Path)
	}
	lines := strings.Split(strings.TrimSuffix(string(csvB), "\r\n"), "\r\n")
	if !strings.HasPrefix(lines[0], "\ufefftime_local,time_utc,environment,user,host,action,outcome,customer_guid") || len(lines) != 3 {
		t.Fatalf("CSV:\n%s", csvB)
	}
	if !strings.Contains(lines[1], `"'=HYPERLINK(""http://evil.example"",""First Platypus Bank"")"`) || !strings.Contains(lines[1], `"Account linked, ""ready"""`) {
		t.Errorf("CSV row does not neutralise the formula or quote: %s", lines[1])
	}
	if !strings.Contains(lines[2], ",unlink,success,") || !strings.Contains(lines[1], ","+audit.CurrentUser()+",") {
		t.Errorf("CSV rows are not oldest first with the user: %q", lines[1:])
	}
	jl, _ := os.ReadFile(got.Files[1].Path)
	jlines := strings.Split(strings.TrimSpace(string(jl)), "\n")
	var h map[string]any
	json.Unmarshal([]byte(jlines[0]), &h)
	if h["type"] != "header" || h["schema"] != audit.SchemaVersion || h["records"] != float64(2) || len(jlines) != 3 {
		t.Errorf("JSON Lines export:\n%s", jl)
	}
	if runtime.GOOS != "windows" {
		for _, f := range got.Files {
			if fi, _ := os.Stat(f.Path); fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v", f.Path, fi.Mode().Perm())
			}
		}
	}
	// A second export in the same second never overwrites the first.
	again, err := l.Export(out, audit.Filter{Environment: "production"}, audit.CSV)
	if err != nil || again.Files[0].Path == got.Files[0].Path {
		t.Errorf("second export: %+v, %v", again, err)
	}
	if _, err := audit.ParseFormats("pdf"); err == nil || !strings.Contains(err.Error(), "use csv, jsonl or both") {
		t.Errorf("ParseFormats(pdf) = %v", err)
	}
}

func TestALogThatIsOffSaysWhy(t *testing.T) {
	l := audit.Off("the state folder is read-only")
	if err := l.For("sandbox", nil).Record(audit.Record{Action: audit.ActionLink, Outcome: audit.OutcomeStarted}); err != nil {
		t.Errorf("Record on an off log: %v", err)
	}
	p, err := l.List(audit.Filter{}, 0, 0)
	if err != nil || p.Status.On || p.Status.Off != "the state folder is read-only" || len(p.Records) != 0 {
		t.Errorf("List = %+v, %v", p, err)
	}
	if _, err := l.Export(t.TempDir(), audit.Filter{}, audit.CSV); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("Export = %v", err)
	}
	var nilLog *audit.Log
	if p, err := nilLog.List(audit.Filter{}, 0, 0); err != nil || p.Status.On {
		t.Errorf("nil log: %+v %v", p, err)
	}
	// A state folder that cannot be created (a file is in the way; root
	// ignores permissions, so this is the failure every user can have).
	blocker := filepath.Join(t.TempDir(), "blocker")
	os.WriteFile(blocker, nil, 0o600)
	if _, err := audit.Open(audit.Options{Dir: filepath.Join(blocker, "state")}); err == nil || !strings.Contains(err.Error(), "Check its permissions") {
		t.Errorf("Open where the folder cannot be made: %v", err)
	}
}

// An attempt is recorded twice, when it starts and when it ends, with its
// outcome; events in between and after are not.
func TestAttemptsAreRecordedAtTheirStartAndEnd(t *testing.T) {
	l := open(t, t.TempDir(), audit.Options{})
	names := map[string]string{"ins_109508": "First Platypus Bank"}
	rec := l.For("sandbox", func(id string) string { return names[id] }, "sekrit-value")
	cust, acct := guidN(7), guidN(8)
	at := linkflow.Attempt{ID: "0123456789abcdef", Kind: linkflow.KindLink, CustomerGUID: cust, State: linkflow.CreatingWorkflow, StartedAt: time.Now()}
	rec.ObserveAttempt(at, linkflow.Event{Type: "state", Message: "Creating a Plaid link token", Time: time.Now()})
	at.State = linkflow.LinkOpen
	rec.ObserveAttempt(at, linkflow.Event{Type: "state", Message: "Link token ready"})
	at.State, at.Account = linkflow.Done, &linkflow.Account{GUID: acct, State: "completed", InstitutionID: "ins_109508"}
	rec.ObserveAttempt(at, linkflow.Event{Type: "state", Message: "Account linked and ready"})
	rec.ObserveAttempt(at, linkflow.Event{Type: "account", Message: "The account was unlinked by the operator"})

	ref := linkflow.Attempt{ID: "fedcba9876543210", Kind: linkflow.KindRefresh, CustomerGUID: cust, AccountGUID: acct, State: linkflow.CreatingWorkflow}
	rec.ObserveAttempt(ref, linkflow.Event{Type: "state"})
	ref.State, ref.ExitStatus, ref.Error = linkflow.Exited, "cancelled", "Cancelled by the operator."
	rec.ObserveAttempt(ref, linkflow.Event{Type: "state"})

	ver := linkflow.Attempt{ID: "00000000000000aa", Kind: linkflow.KindVerify, CustomerGUID: cust, AccountGUID: acct, State: linkflow.CreatingVerification}
	rec.ObserveAttempt(ver, linkflow.Event{Type: "state"})
	ver.State, ver.Code, ver.Error = linkflow.Failed, "verification_failed", "Cybrid could not verify that the customer owns this account"
	rec.ObserveAttempt(ver, linkflow.Event{Type: "state"})

	left := linkflow.Attempt{ID: "00000000000000bb", Kind: linkflow.KindLink, CustomerGUID: cust, State: linkflow.CreatingWorkflow}
	rec.ObserveAttempt(left, linkflow.Event{Type: "state"})
	left.State = linkflow.LinkOpen
	rec.ObserveAttempt(left, linkflow.Event{Type: "state"})
	rec.Abandon("The environment closed")

	p, _ := l.List(audit.Filter{}, 0, 0)
	var got []string
	for i := len(p.Records) - 1; i >= 0; i-- {
		r := p.Records[i]
		got = append(got, fmt.Sprintf("%s %s %s %s %s %s", r.AttemptID, r.Action, r.Outcome, r.AccountGUID, r.Institution, r.Code))
	}
	want := []string{
		"0123456789abcdef link started   ",
		"0123456789abcdef link success " + acct + " First Platypus Bank ",
		"fedcba9876543210 refresh started " + acct + "  ",
		"fedcba9876543210 refresh cancelled " + acct + "  ",
		"00000000000000aa verify started " + acct + "  ",
		"00000000000000aa verify failure " + acct + "  verification_failed",
		"00000000000000bb link started   ",
		"00000000000000bb link abandoned   ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if d := p.Records[0].Detail; !strings.Contains(d, "The environment closed") || !strings.Contains(d, "link_open") {
		t.Errorf("abandoned detail %q", d)
	}
	if d := p.Records[len(p.Records)-2].Detail; d != "Account linked and ready (account completed)" {
		t.Errorf("success detail %q", d)
	}
}

// Rotating under the lock: however two writers interleave, no append fails
// and no file grows past MaxBytes, even when they rotate every few records.
func TestTwoWritersRotateUnderTheLock(t *testing.T) {
	probe := t.TempDir()
	open(t, probe, audit.Options{}).For("sandbox", nil).Record(audit.Record{Action: audit.ActionLink, Outcome: audit.OutcomeStarted, Detail: "w0-100"})
	one, _ := os.Stat(filepath.Join(probe, audit.FileName))
	maxB := one.Size()*5 + 4
	dir := t.TempDir()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for w := range 2 {
		l := open(t, dir, audit.Options{MaxBytes: maxB})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				if err := l.For("sandbox", nil).Record(audit.Record{Action: audit.ActionLink, Outcome: audit.OutcomeStarted, Detail: fmt.Sprintf("w%d-%d", w, i%100)}); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
				if fi, err := os.Stat(filepath.Join(dir, audit.FileName)); err == nil && fi.Size() > maxB {
					mu.Lock()
					errs = append(errs, fmt.Errorf("the file grew to %d bytes (max %d)", fi.Size(), maxB))
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Errorf("%d failures, e.g. %v", len(errs), errs[0])
	}
}

// BenchmarkListAFullLog lists a page of a log at its largest (two full
// generations, about 8 MiB), filtered by customer and not.
func BenchmarkListAFullLog(b *testing.B) {
	dir := b.TempDir()
	l, err := audit.Open(audit.Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	// Written directly (Append fsyncs each record): the same lines.
	line, _ := json.Marshal(map[string]any{"v": 1, "time": time.Now().UTC(), "environment": "production", "action": "link", "outcome": "success",
		"customer_guid": guidN(1), "account_guid": guidN(2), "attempt_id": "0123456789abcdef", "institution_id": "ins_109508",
		"institution": "First Platypus Bank", "detail": strings.Repeat("Account linked and ready ", 4), "user": "operator", "host": "desk-17"})
	line = append(line, '\n')
	full := bytes.Repeat(line, audit.DefaultMaxBytes/len(line))
	os.WriteFile(filepath.Join(dir, audit.PrevFileName), full, 0o600)
	os.WriteFile(filepath.Join(dir, audit.FileName), full, 0o600)
	b.Logf("%d records, %d MiB", 2*len(full)/len(line), 2*len(full)>>20)
	for _, f := range []audit.Filter{{}, {CustomerGUID: guidN(3)}} {
		b.Run(fmt.Sprintf("customer=%t", f.CustomerGUID != ""), func(b *testing.B) {
			for b.Loop() {
				if _, err := l.List(f, 0, 50); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
