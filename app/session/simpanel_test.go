package session_test

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// activeOptions reads the simulator's active scenario and its options over
// its HTTP hook, as a QA script would.
func activeOptions(t *testing.T, bankURL string) (string, map[string]string) {
	t.Helper()
	resp, err := http.Get(bankURL + "/sim/scenarios/active")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a struct {
		ID      string            `json:"id"`
		Options map[string]string `json:"options"`
	}
	json.NewDecoder(resp.Body).Decode(&a)
	return a.ID, a.Options
}

// The window says where the simulator is, with commands that work when
// pasted into a shell; the scenario picker applies on OK with the options
// the tester typed, Cancel changes nothing, Normal needs no dialog, and a
// scenario applied from outside shows up in the picker.
func simulatorPanelAndScenarioPicker(a *app) {
	t := a.t
	defer a.sim().ResetScenario() // it ends with slow_workflow applied
	bank := a.sim().BankURL

	a.click("sim-details")
	a.waitJS(`document.querySelector('[data-testid="dialog"]').open`, 3*time.Second)
	if got := a.text("sim-bank-url"); got != bank {
		t.Errorf("the panel shows the bank API at %q; the simulator is at %s", got, bank)
	}
	var lines []string
	a.js(`[...document.querySelectorAll('[data-testid="sim-command"]')].map((e) => e.innerText)`, &lines)
	if len(lines) < 5 {
		t.Fatalf("the panel offers %d commands", len(lines))
	}
	// The first command, pasted into a shell, lists the scenarios.
	out, err := exec.Command("sh", "-c", lines[0]).Output()
	if err != nil || !strings.Contains(string(out), `"slow_workflow"`) {
		t.Errorf("%q printed %.200q (%v)", lines[0], out, err)
	}
	a.click("copy-sim-bank-url")
	a.waitJS(`document.querySelector('[data-testid="copy-sim-bank-url"]').innerText === "Copied"`, 3*time.Second)
	a.shot("simulator-panel")
	a.click("dialog-ok") // Close

	pick := func(id string) {
		t.Helper()
		a.js(`(() => { const s = document.querySelector('[data-testid="scenario-select"]'); s.value = "`+id+`"; s.dispatchEvent(new Event("change")); return true; })()`, nil)
	}
	// Cancel: nothing applied, the picker back on Normal.
	pick("slow_workflow")
	a.waitJS(`document.querySelector('[data-testid="dialog"]').open && document.querySelector('[data-testid="scenario-option-delay"]')`, 3*time.Second)
	a.shot("scenario-dialog")
	a.click("dialog-cancel")
	time.Sleep(300 * time.Millisecond)
	if id, _ := activeOptions(t, bank); id != "normal" {
		t.Errorf("Cancel applied %q", id)
	}
	var shown string
	a.js(`document.querySelector('[data-testid="scenario-select"]').value`, &shown)
	if shown != "normal" {
		t.Errorf("after Cancel the picker shows %q", shown)
	}
	// OK, with the delay the tester typed.
	pick("slow_workflow")
	a.waitJS(`document.querySelector('[data-testid="scenario-option-delay"]')`, 3*time.Second)
	a.js(`(document.querySelector('[data-testid="scenario-option-delay"]').value = "3s", true)`, nil)
	a.click("dialog-ok")
	a.waitJS(`document.querySelector('[data-testid="scenario-select"]').dataset.active === "slow_workflow"`, 3*time.Second)
	if id, opts := activeOptions(t, bank); id != "slow_workflow" || opts["delay"] != "3s" {
		t.Errorf("after OK the simulator has %q %v, want slow_workflow with delay 3s", id, opts)
	}
	// Normal applies at once, without a dialog.
	pick("normal")
	a.waitJS(`document.querySelector('[data-testid="scenario-select"]').dataset.active === "normal"`, 3*time.Second)
	var open bool
	a.js(`document.querySelector('[data-testid="dialog"]').open`, &open)
	if open {
		t.Error("Normal opened a dialog")
	}
	if id, _ := activeOptions(t, bank); id != "normal" {
		t.Errorf("Normal left %q active", id)
	}
	// A scenario applied from a shell shows up in the picker.
	if out, err := exec.Command("sh", "-c", lines[1]).CombinedOutput(); err != nil {
		t.Fatalf("%q: %v %s", lines[1], err, out)
	}
	// The tester comes back to the window: the picker looks at once (it
	// also looks every 5 s).
	a.js(`window.dispatchEvent(new Event("focus"))`, nil)
	a.waitJS(`document.querySelector('[data-testid="scenario-select"]').value === "slow_workflow"`, 2*time.Second)
}
