package session_test

// The built-in simulator's kept state in the window: crash recovery
// rehearsed in the simulator shows in the page, and Reset simulator… in
// the Simulator panel asks first, then starts the simulator afresh.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"linkdesk/app/config"
	"linkdesk/app/internal/simclock"
	"linkdesk/app/keychain"
	"linkdesk/app/session"
	"linkdesk/app/sim"
)

func simConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.LoadFrom(func(k string) (string, bool) {
		if k == config.VarEnvironment {
			return "sim", true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestCrashRecoveryRehearsedInTheSimulatorWindow(t *testing.T) {
	dir := t.TempDir()
	said := session.KillSimLinkdesk(t, dir, "account_created")
	attempt, acct := said[0], said[2]

	// A minute later by the simulator's clock: Cybrid is done storing.
	clk := &simclock.Clock{}
	clk.Skip(time.Minute)
	a := startAppState(t, simConfig(t), sim.Options{Now: clk.Now}, keychain.NewMemory(), dir)
	a.waitJS(`(() => { const r = document.querySelector('[data-testid="recovered-attempt"]'); return r && r.dataset.outcome === "linked"; })()`, 15*time.Second)
	var box string
	a.js(`document.querySelector('[data-testid="recovered"]').innerText`, &box)
	if !strings.Contains(strings.ToLower(box), "interrupted attempts") || !strings.Contains(box, acct) {
		t.Errorf("the interrupted attempt %s is shown as %q; want it linked with account %s", attempt, box, acct)
	}
	a.shot("simulator-crash-recovered")
}

func TestResetSimulatorFromThePanel(t *testing.T) {
	dir := t.TempDir()
	said := session.KillSimLinkdesk(t, dir, "account_created") // an account in the kept simulator
	a := startAppState(t, simConfig(t), sim.Options{}, keychain.NewMemory(), dir)
	if n := len(a.sim().Cybrid.Accounts("")); n != 1 {
		t.Fatalf("the kept simulator has %d accounts", n)
	}
	a.click("sim-details")
	a.waitJS(`document.querySelector('[data-testid="dialog"]').open`, 3*time.Second)
	file := filepath.Join(dir, sim.StateFileName)
	if got := a.text("sim-state"); !strings.Contains(got, file) {
		t.Errorf("the panel says %q about the simulator's state; want where it is (%s)", got, file)
	}
	if panel := a.text("dialog-body"); strings.Contains(panel, "null") || strings.Contains(panel, "undefined") {
		t.Errorf("the panel shows a missing value:\n%s", panel)
	}
	a.js(`(window.beforeReset = true)`, nil)
	a.click("sim-reset")
	a.waitJS(`document.querySelector('[data-testid="dialog"]').open && document.querySelector('[data-testid="dialog-ok"]').innerText === "Reset simulator"`, 5*time.Second)
	body := a.text("dialog-body")
	for _, want := range []string{"deleted", "every customer", "cannot be brought back", "seed customers"} {
		if !strings.Contains(body, want) {
			t.Errorf("the confirmation does not say %q: %s", want, body)
		}
	}
	a.shot("simulator-reset-confirm")
	a.click("dialog-cancel") // Cancel changes nothing
	time.Sleep(300 * time.Millisecond)
	if n := len(a.sim().Cybrid.Accounts("")); n != 1 {
		t.Fatalf("Cancel left %d accounts", n)
	}
	a.click("sim-details")
	a.waitJS(`document.querySelector('[data-testid="dialog"]').open`, 3*time.Second)
	a.click("sim-reset")
	a.waitJS(`document.querySelector('[data-testid="dialog-ok"]').innerText === "Reset simulator"`, 5*time.Second)
	a.click("dialog-ok")
	a.waitJS(`!window.beforeReset && document.body.dataset.ready === "true"`, 15*time.Second) // the page reloaded
	if n := len(a.sim().Cybrid.Accounts("")); n != 0 {
		t.Errorf("after the reset the simulator has %d accounts", n)
	}
	raw, _ := os.ReadFile(file)
	if strings.Contains(string(raw), said[2]) {
		t.Error("the state file still holds the account")
	}
}
