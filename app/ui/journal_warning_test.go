package ui_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"linkdesk/app/audit"
	"linkdesk/app/config"
	"linkdesk/app/environment"
	"linkdesk/app/internal/simapart"
	"linkdesk/app/internal/testneeds"
	"linkdesk/app/internal/uitest"
	"linkdesk/app/journal"
	"linkdesk/app/keychain"
	"linkdesk/app/linkflow"
	"linkdesk/app/pageapi"
	"linkdesk/app/sim"
	"linkdesk/app/ui"
	"linkdesk/assets"
)

// pageBackend serves the real page's calls on one environment.
type pageBackend struct{ e *environment.Env }

func (b pageBackend) Env() (*environment.Env, error) { return b.e, nil }
func (b pageBackend) Info() pageapi.SessionInfo      { return pageapi.InfoOf(b.e, "test") }
func (b pageBackend) SwitchEnvironment(config.Environment) (pageapi.SessionInfo, error) {
	return b.Info(), nil
}
func (b pageBackend) StoreCredentials(config.Environment, keychain.Credentials) (pageapi.SessionInfo, error) {
	return b.Info(), nil
}
func (b pageBackend) RetryEnvironment() (pageapi.SessionInfo, error) { return b.Info(), nil }
func (pageBackend) PageReady()                                       {}
func (pageBackend) ResetSimulator() (pageapi.SessionInfo, error) {
	return pageapi.SessionInfo{}, nil
}
func (pageBackend) AuditLog() *audit.Log { return nil }

// Issue 14, cases 1 and 4, in the window: linkdesk's own page (assets/app) in a
// real WebKit window, over a real sandbox environment whose Cybrid is the
// simulator and whose journal sits on a real 1 MiB tmpfs, wired as the
// session wires it (the journal's changes are pushed to the page). Of 120
// interrupted attempts the panel lists 50 and counts the others. When the
// disk is full the page shows, at once and without a reload, a warning that
// crash recovery is off and why; when space returns the warning goes.
func TestTheWindowShowsAtOnceThatCrashRecoveryIsOff(t *testing.T) {
	uitest.NeedDisplay(t)
	stateDir := testneeds.MountTmpfs(t, 1<<20) // room for the 120 outcomes reconciliation writes
	apart := simapart.Start(t, sim.Options{WorkflowDelay: -1, AccountDelay: -1}, nil)
	other, tg := apart.Sim, apart.Target(t)
	// 120 attempts a crash interrupted while Link was open, from an
	// earlier run: the panel lists 50 and counts the rest.
	name, _ := journal.FileName("sandbox", other.BankURL)
	var lines []byte
	began := time.Now().Add(-time.Hour)
	for i := 0; i < 120; i++ {
		at := began.Add(time.Duration(i) * time.Second)
		b, _ := json.Marshal(struct {
			V int `json:"v"`
			journal.Entry
		}{journal.Version, journal.Entry{ID: fmt.Sprintf("%016x", i+1), Kind: linkflow.KindLink, CustomerGUID: other.Cybrid.Customers()[0].GUID,
			State: linkflow.LinkOpen, StartedAt: at, UpdatedAt: at}})
		lines = append(append(lines, b...), '\n')
	}
	if err := os.WriteFile(filepath.Join(stateDir, name), lines, 0o600); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	var win atomic.Pointer[ui.Window]
	var env atomic.Pointer[environment.Env]
	push := func() {
		if w, e := win.Load(), env.Load(); w != nil && e != nil {
			w.Push(pageapi.RecoveredPush(e.Journal.Status()))
		}
	}
	e, err := environment.Start(tg, environment.Hooks{Version: "test", Log: quiet, StateDir: stateDir, OnRecovered: push})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	env.Store(e)

	srv, err := ui.NewServer(assets.App(), ui.PageConfig{Environment: "sandbox", PlaidScriptURL: tg.PlaidScriptURL, Version: "test", CSP: ui.PageCSP(tg.PlaidScriptURL)}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.SetCalls(ui.Calls{Serve: pageapi.New(pageBackend{e}, quiet).Serve, MaxParams: pageapi.MaxParams})
	d := uitest.Open(t, func() (*ui.Window, error) {
		return ui.Open(ui.WindowOptions{Title: "linkdesk — journal warning", Server: srv, Logger: quiet})
	}, uitest.DriverOptions{})
	win.Store(d.Window())
	warning := func() (hidden bool, text string) {
		v, err := d.Eval(`(() => { const w = document.querySelector('[data-testid="journal-warning"]'); return w ? {hidden: w.hidden, text: w.textContent, role: w.getAttribute("role")} : null })()`, 2*time.Second)
		if err != nil || string(v) == "null" {
			return true, ""
		}
		var got struct {
			Hidden bool
			Text   string
		}
		json.Unmarshal(v, &got)
		return got.Hidden, got.Text
	}
	waitFor := func(what string, cond func() bool) time.Duration {
		t.Helper()
		began := time.Now()
		d.Until(20*time.Second, "the page "+what, func() (bool, error) { return cond(), nil })
		return time.Since(began)
	}
	d.WaitJS(`document.querySelector('[data-testid="customer-list"] li') !== null`, 20*time.Second)
	if hidden, text := warning(); !hidden {
		t.Fatalf("a warning before the disk filled: %q", text)
	}
	var panel struct {
		Listed int
		Older  string
	}
	waitFor("listing the interrupted attempts", func() bool {
		v, err := d.Eval(`({listed: document.querySelectorAll('[data-testid="recovered-attempt"]').length, older: (document.querySelector('[data-testid="recovered-older"]') || {}).textContent || ""})`, time.Second)
		return err == nil && json.Unmarshal(v, &panel) == nil && panel.Listed > 0 && panel.Older != ""
	})
	t.Logf("the panel lists %d attempts and says %q", panel.Listed, panel.Older)
	if panel.Listed != 50 || !strings.Contains(panel.Older, "70 older interrupted attempts not listed") {
		t.Errorf("the panel lists %d attempts, then %q; want 50, then the 70 others counted", panel.Listed, panel.Older)
	}

	// The disk fills; the next attempt asks the journal (as the page's
	// startLink does) and is refused: the window shows it at once.
	filler := filepath.Join(stateDir, "filler")
	f, _ := os.Create(filler)
	for {
		if _, err := f.Write(make([]byte, 4096)); err != nil {
			break
		}
	}
	f.Close()
	if err := e.Journal.CanRecord(); err == nil {
		t.Fatal("the journal records on a full disk")
	}
	shown := waitFor("showing the warning", func() bool { hidden, _ := warning(); return !hidden })
	_, text := warning()
	t.Logf("the window shows, %v after the refusal: %q", shown.Round(time.Millisecond), text)
	if !strings.Contains(text, "Crash recovery is off") || !strings.Contains(text, "no space left on device") || !strings.Contains(text, "refused") {
		t.Errorf("the warning says %q; want crash recovery off, why, and that attempts are refused", text)
	}
	d.Shot("journal-warning")

	// Space returns: the warning goes by itself (the journal retries).
	os.Remove(filler)
	gone := waitFor("clearing the warning", func() bool { hidden, _ := warning(); return hidden })
	t.Logf("the warning cleared %v after space returned", gone.Round(100*time.Millisecond))
}
