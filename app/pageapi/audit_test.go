package pageapi_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/app/audit"
	"linkdesk/app/desk"
	"linkdesk/app/environment"
	"linkdesk/app/institutions"
	"linkdesk/app/internal/flowrig"
	"linkdesk/app/internal/wait"
	"linkdesk/app/keychain"
	"linkdesk/app/linkflow"
	"linkdesk/app/pageapi"
	"linkdesk/app/sim"
	"linkdesk/app/target"
)

// startEnvOn starts an environment on the run's simulator sims with its
// audit log and bank names in dir, as a session does; stop (also run at
// cleanup) closes it and the log, as quitting linkdesk does.
func startEnvOn(t *testing.T, sims *target.Simulator, dir string) (env *environment.Env, stop func()) {
	t.Helper()
	tg, err := target.Resolve(simConfig(t), keychain.NewMemory(), sims)
	if err != nil {
		t.Fatal(err)
	}
	al, err := audit.Open(audit.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	names, err := institutions.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := environment.Start(tg, environment.Hooks{Version: "test", Log: slog.New(slog.DiscardHandler), StateDir: dir, Audit: al, Institutions: names})
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() { once.Do(func() { e.Close(); al.Close() }) }
	t.Cleanup(stop)
	return e, stop
}

// The audit trail through the page's calls, over a restart: a link (its
// start and end), an unlink refused and one done, an attempt left running
// when linkdesk quits; after the restart the unlinked account is listed
// with who unlinked it and when, the bank has its name, and the records
// page, filter and export — and no file in the state folder holds a secret.
func TestTheAuditTrailAnswersWhoDidWhatWhen(t *testing.T) {
	dir := t.TempDir()
	downloads := t.TempDir()
	t.Setenv("XDG_DOWNLOAD_DIR", downloads)
	sims := target.NewSimulator(sim.Options{WorkflowDelay: -1, AccountDelay: -1})
	t.Cleanup(sims.Close)
	began := time.Now()

	env, stop := startEnvOn(t, sims, dir)
	api := pageapi.New(envBackend{env}, slog.New(slog.DiscardHandler))
	sm := env.Target.Sim
	a, b := sm.Cybrid.Customers()[0].GUID, sm.Cybrid.Customers()[1].GUID
	at, pub, linkTok := linkWalk(t, api, env, a)
	if at.State != linkflow.Done || at.Account == nil {
		t.Fatalf("the link ended %s: %s", at.State, at.Error)
	}
	acct := at.Account.GUID
	// The bank chosen in the simulated Link is named in the account rows.
	v, err := serve(t, api, "listAccounts", `{"customer_guid":"`+a+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	rows := v.([]desk.Account)
	if len(rows) != 1 || rows[0].InstitutionID != "ins_109508" || rows[0].InstitutionName != "First Platypus Bank" {
		t.Fatalf("account rows after Link: %+v", rows)
	}
	if _, err := serve(t, api, "unlinkAccount", `{"customer_guid":"`+b+`","account_guid":"`+acct+`"}`); err == nil {
		t.Fatal("unlinking with another customer's GUID was accepted")
	}
	v, err = serve(t, api, "unlinkAccount", `{"customer_guid":"`+a+`","account_guid":"`+acct+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	unlinked := time.Now()
	if row := v.(desk.Account); row.UnlinkedBy != audit.CurrentUser() || row.UnlinkedAt == "" {
		t.Errorf("the unlinked row does not say who unlinked it and when: %+v", row)
	}
	// Customer b's Link is open when linkdesk quits.
	v, err = serve(t, api, "startLink", `{"customer_guid":"`+b+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	left := waitAttempt(t, env, v.(linkflow.Attempt).ID, "link_open", func(a linkflow.Attempt) bool { return a.State == linkflow.LinkOpen })
	wait.True(t, flowrig.Timeout, "the account deleted", func() bool { x, _ := sm.Cybrid.Account(acct); return x.State == "deleted" })
	stop()

	// linkdesk starts again on the same state folder.
	env, _ = startEnvOn(t, sims, dir)
	api = pageapi.New(envBackend{env}, slog.New(slog.DiscardHandler))
	if v, _ := serve(t, api, "listAccounts", `{"customer_guid":"`+a+`"}`); len(v.([]desk.Account)) != 0 {
		t.Errorf("the deleted account is listed without include_deleted: %+v", v)
	}
	v, err = serve(t, api, "listAccounts", `{"customer_guid":"`+a+`","include_deleted":true}`)
	if err != nil {
		t.Fatal(err)
	}
	rows = v.([]desk.Account)
	if len(rows) != 1 || rows[0].State != "deleted" || rows[0].UnlinkedBy != audit.CurrentUser() || rows[0].InstitutionName != "First Platypus Bank" {
		t.Fatalf("with include_deleted: %+v", rows)
	}
	if when, err := time.Parse(time.RFC3339, rows[0].UnlinkedAt); err != nil || when.Before(began.Truncate(time.Second)) || when.After(unlinked) {
		t.Errorf("unlinked_at %q (%v) is not when it was unlinked", rows[0].UnlinkedAt, err)
	}

	v, err = serve(t, api, "audit.list", `{}`)
	if err != nil {
		t.Fatal(err)
	}
	page := v.(audit.Page)
	var got []string
	for _, r := range page.Records {
		if r.User != audit.CurrentUser() || r.Environment != "sim" || r.Time.Before(began.Add(-time.Second)) || r.Time.After(time.Now()) {
			t.Errorf("record without who, where or when: %+v", r)
		}
		who := map[string]string{a: "a", b: "b"}[r.CustomerGUID]
		got = append(got, fmt.Sprintf("%s %s %s %t %s", who, r.Action, r.Outcome, r.AccountGUID == acct, r.Institution))
	}
	want := []string{
		"b link abandoned false ",
		"b link started false ",
		"a unlink success true First Platypus Bank",
		"b unlink failure true ",
		"a link success true First Platypus Bank",
		"a link started false ",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || page.Total != len(want) {
		t.Errorf("audit.list, newest first:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r := page.Records[0]; r.AttemptID != left.ID || !strings.Contains(r.Detail, "link_open") {
		t.Errorf("the abandoned attempt: %+v", r)
	}
	if r := page.Records[3]; !strings.Contains(r.Detail, "belongs to another customer") {
		t.Errorf("the refused unlink says %q", r.Detail)
	}

	// Paging and filters.
	v, _ = serve(t, api, "audit.list", `{"customer_guid":"`+a+`","action":"unlink","page":0,"per_page":1}`)
	if p := v.(audit.Page); p.Total != 1 || len(p.Records) != 1 || p.Records[0].Outcome != audit.OutcomeSuccess {
		t.Errorf("a's unlinks: %+v", p)
	}
	v, _ = serve(t, api, "audit.list", `{"environment":"sim","page":1,"per_page":4}`)
	if p := v.(audit.Page); p.Total != 6 || len(p.Records) != 2 || p.Records[1].Outcome != audit.OutcomeStarted {
		t.Errorf("page 1 of 4: %+v", p)
	}
	v, _ = serve(t, api, "audit.list", `{"environment":"production"}`)
	if p := v.(audit.Page); p.Total != 0 || p.Records == nil {
		t.Errorf("production: %+v", p)
	}
	for params, wantErr := range map[string]string{
		`{"customer_guid":"x"}`: "customer GUID", `{"page":-1}`: "pages start at 0", `{"action":"nope"}`: "action is not one of",
		`{"per_page":1000}`: "use 1 to 500", `{"who":"me"}`: "unknown parameter",
	} {
		if _, err := serve(t, api, "audit.list", params); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("audit.list %s: %v, want %q", params, err, wantErr)
		}
	}
	if _, err := serve(t, api, "audit.export", `{"format":"pdf"}`); err == nil || !strings.Contains(err.Error(), "use csv, jsonl or both") {
		t.Errorf("audit.export pdf: %v", err)
	}

	// The export goes to the Downloads folder, as the timeline's do.
	v, err = serve(t, api, "audit.export", `{"format":"both","customer_guid":"`+a+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	ex := v.(audit.Exported)
	if ex.Dir != downloads || len(ex.Files) != 2 || ex.Records != 3 {
		t.Fatalf("audit.export = %+v", ex)
	}
	csvB, _ := os.ReadFile(ex.Files[0].Path)
	if !bytes.Contains(csvB, []byte(",unlink,success,"+a+","+acct+",First Platypus Bank,ins_109508,")) {
		t.Errorf("the CSV export lacks the unlink:\n%s", csvB)
	}

	// No file in the state folder or the export holds a secret.
	secrets := map[string]string{"client secret": env.Target.Credentials.ClientSecret, "Plaid public token": pub, "Plaid link token": linkTok}
	files := 0
	for _, root := range []string{dir, downloads} {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			files++
			raw, _ := os.ReadFile(p)
			for what, s := range secrets {
				if s == "" || bytes.Contains(raw, []byte(s)) {
					t.Errorf("%s holds the %s", p, what)
				}
			}
			return nil
		})
	}
	for _, name := range []string{audit.FileName, institutions.FileName} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("the state folder has no %s: %v", name, err)
		}
	}
	t.Logf("searched %d files for %d secrets", files, len(secrets))
}

// Refreshing a connection and verifying ownership, through the page's
// calls on the simulator, are audited like links: start and end, with the
// account and its bank.
func TestRefreshAndVerifyAreAudited(t *testing.T) {
	dir := t.TempDir()
	sims := target.NewSimulator(sim.Options{WorkflowDelay: -1, AccountDelay: -1})
	t.Cleanup(sims.Close)
	env, _ := startEnvOn(t, sims, dir)
	api := pageapi.New(envBackend{env}, slog.New(slog.DiscardHandler))
	sm := env.Target.Sim
	cust := sm.Cybrid.Customers()[2].GUID
	at, _, _ := linkWalk(t, api, env, cust)
	if at.State != linkflow.Done || at.Account == nil {
		t.Fatalf("the link ended %s: %s", at.State, at.Error)
	}
	acct := at.Account.GUID
	ids := map[string]string{}

	// Verify the (unverified) account; the verification passes through its
	// states at once (what is checked is the audit, not the wait).
	sc := sm.Cybrid.Scenario()
	sc.VerificationDelay = flowrig.Brief
	sm.Cybrid.SetScenario(sc)
	v, err := serve(t, api, "verifyAccount", `{"customer_guid":"`+cust+`","account_guid":"`+acct+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	ver := waitAttempt(t, env, v.(linkflow.Attempt).ID, "ended", func(a linkflow.Attempt) bool { return a.State.Final() })
	ids[ver.ID] = "verify"

	// Expire its connection and renew it in update mode.
	if err := sm.Cybrid.ExpireConnection(acct); err != nil {
		t.Fatal(err)
	}
	v, err = serve(t, api, "startRefresh", `{"customer_guid":"`+cust+`","account_guid":"`+acct+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	ref, _, _ := throughLink(t, api, env, v.(linkflow.Attempt).ID)
	ids[ref.ID] = "refresh"

	v, err = serve(t, api, "audit.list", `{"account_guid":"`+acct+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range v.(audit.Page).Records {
		got = append(got, fmt.Sprintf("%s %s %s %s", ids[r.AttemptID], r.Action, r.Outcome, r.Institution))
	}
	want := []string{
		"refresh refresh " + outcomeOf(ref) + " First Platypus Bank",
		"refresh refresh started ",
		"verify verify " + outcomeOf(ver) + " First Platypus Bank",
		"verify verify started ",
		" link success First Platypus Bank",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the account's records:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if ver.State != linkflow.Done || ref.State != linkflow.Done {
		t.Errorf("verify ended %s (%s), refresh ended %s (%s)", ver.State, ver.Error, ref.State, ref.Error)
	}
}

func outcomeOf(a linkflow.Attempt) string {
	if a.State == linkflow.Done {
		return "success"
	}
	return "failure"
}
