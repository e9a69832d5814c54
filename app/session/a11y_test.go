package session_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"linkdesk/app/internal/testneeds"
)

// axeScript is axe-core, installed from npm into build/a11y by `go tool
// task deps:test`.
func axeScript(t *testing.T) []byte {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	p := filepath.Join(filepath.Dir(file), "..", "..", "build", "a11y", "node_modules", "axe-core", "axe.min.js")
	b, err := os.ReadFile(p)
	if err != nil {
		testneeds.Missing(t, testneeds.A11y, "axe-core is not installed (%v): run `go tool task deps:test` (npm ci --prefix build/a11y)", err)
	}
	return b
}

// axeRun loads axe-core into the page (from the app server: the page's CSP
// allows only its own scripts) and returns its serious and critical
// violations, one line each. Plaid's iframe (another origin, Plaid's page)
// is left out.
func (a *app) axeRun(what string) []string {
	a.t.Helper()
	var out []struct {
		ID     string `json:"id"`
		Impact string `json:"impact"`
		Help   string `json:"help"`
		Nodes  []string
	}
	a.js(`(async () => {
		if (!window.axe) await new Promise((res, rej) => { const s = document.createElement("script"); s.src = "/__test/axe.js"; s.onload = res; s.onerror = () => rej(new Error("axe did not load")); document.head.append(s); });
		const r = await axe.run({exclude: [['iframe[id^="plaid-link-iframe"]']]}, {resultTypes: ["violations"]});
		return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 4).map((n) => n.target.join(" ") + " — " + (n.failureSummary || "").split("\n").slice(1).join(" "))}));
	})()`, &out)
	var lines []string
	for _, v := range out {
		lines = append(lines, fmt.Sprintf("%s: %s %s (%s): %s", what, v.Impact, v.ID, v.Help, strings.Join(v.Nodes, "; ")))
	}
	return lines
}

// The operator page passes axe-core with no serious or critical violation,
// in both themes, with a customer, an attempt's result, a dialog and the
// timeline on screen; progress and results are announced (live regions).
func accessibility(a *app) {
	t := a.t
	axe := axeScript(t)
	a.s.Server.Handle("GET /__test/axe.js", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Write(axe)
	}))
	var problems []string
	problems = append(problems, a.axeRun("customer list")...)
	a.takeCustomer()
	a.linkAccount(func() { a.click("link-account") })
	problems = append(problems, a.axeRun("a linked account")...)
	var live string
	a.js(`document.querySelector('[data-testid="attempt"]').getAttribute("aria-live") + " " + document.querySelector('[data-testid="result"]').getAttribute("role")`, &live)
	if live != "polite status" {
		t.Errorf("the attempt panel announces as %q; want aria-live polite with the result a status", live)
	}
	a.click("tab-timeline")
	a.waitJS(`document.querySelectorAll('[data-testid="timeline-entry"]').length > 3`, 5*time.Second)
	a.js(`(document.querySelector('[data-testid="timeline-entry"] button').click(), true)`, nil)
	problems = append(problems, a.axeRun("the timeline")...)
	a.key("d") // dark theme
	a.waitJS(`document.documentElement.dataset.theme === "dark"`, 3*time.Second)
	problems = append(problems, a.axeRun("dark theme")...)
	a.click("unlink-account")
	a.waitJS(`document.querySelector('[data-testid="dialog"]').open`, 3*time.Second)
	problems = append(problems, a.axeRun("the unlink dialog (dark)")...)
	a.click("dialog-cancel")
	a.key("d")
	for _, p := range problems {
		t.Error(p)
	}
	b, _ := json.Marshal(problems)
	t.Logf("axe-core: %d serious or critical violations %s", len(problems), b)
}
