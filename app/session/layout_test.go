package session_test

import (
	"testing"
	"time"
)

// layoutProblems lists, for the page as it is shown, what an operator
// could not read or use: controls clipped or off the edge, an account row
// whose name is too narrow to read, a panel that scrolls sideways.
const layoutProblems = `(() => {
  const out = [];
  const vw = document.documentElement.clientWidth;
  for (const e of document.querySelectorAll("button, input, select, [data-testid='account-row'] td")) {
    if (!e.offsetParent || e.closest("[hidden]") || e.closest("dialog:not([open])")) continue;
    const r = e.getBoundingClientRect();
    if (r.width === 0) continue;
    if (r.right > vw + 1) out.push((e.dataset.testid || e.tagName) + " runs off the window's edge (" + Math.round(r.right) + " > " + vw + ")");
    if (e.tagName === "BUTTON" && e.scrollWidth > e.clientWidth + 2) out.push((e.dataset.testid || e.innerText) + " is clipped (" + e.scrollWidth + " > " + e.clientWidth + ")");
  }
  for (const n of document.querySelectorAll("[data-testid='account-row'] .name")) {
    if (n.getBoundingClientRect().width < 90) out.push("an account name is only " + Math.round(n.getBoundingClientRect().width) + " px wide");
  }
  for (const s of document.querySelectorAll(".work, .col, .customers")) {
    if (s.scrollWidth > s.clientWidth + 2) out.push(s.className + " scrolls sideways (" + s.scrollWidth + " > " + s.clientWidth + ")");
  }
  return out;
})()`

// The operator's screen works in a small window too: at 900×600 every
// control is whole and on screen, each account shows its name next to its
// buttons, and nothing scrolls sideways — with accounts in every state.
func TestNarrowWindow(t *testing.T) {
	windowWidth, windowHeight = 900, 600
	defer func() { windowWidth, windowHeight = 0, 0 }()
	a := startApp(t, quickSim)
	customer := a.pickFirstCustomer()
	a.linkAccount(func() { a.click("link-account") })
	// A second account, another of the bank's (the same one again would be
	// a duplicate, as at Cybrid).
	a.click("try-again")
	a.signInToPlatypus(false)
	a.inLink("pane-select-account", 10*time.Second)
	a.linkClick("account-1111")
	a.linkClick("account-continue")
	a.linkClick("connected-continue")
	a.waitJS(`document.querySelector('[data-testid="result"]') && document.querySelector('[data-testid="result"]').dataset.result === "done" && document.querySelectorAll('[data-testid="account-row"]').length === 2`, 15*time.Second)
	accts := a.sim().Cybrid.Accounts(customer)
	if len(accts) != 2 {
		t.Fatalf("the customer has %d accounts", len(accts))
	}
	if err := a.sim().Cybrid.ExpireConnection(accts[0].GUID); err != nil { // one needs a refresh
		t.Fatal(err)
	}
	a.click("accounts-reload")
	a.waitJS(`document.querySelector('[data-testid="refresh-account"]') && document.querySelector('[data-testid="verify-account"]')`, 5*time.Second)
	var width int
	a.js(`window.innerWidth`, &width)
	if width > 920 {
		t.Fatalf("the window is %d px wide; this test needs 900", width)
	}
	var problems []string
	a.js(layoutProblems, &problems)
	for _, p := range problems {
		t.Error(p)
	}
	a.shot("900x600")
	// The timeline tab, too.
	a.click("tab-timeline")
	a.waitJS(`document.querySelectorAll('[data-testid="timeline-entry"]').length > 3`, 5*time.Second)
	a.js(`(document.querySelector('[data-testid="timeline-entry"] button').click(), document.querySelector('[data-testid="tab-timeline"]').scrollIntoView(), true)`, nil)
	a.js(layoutProblems, &problems)
	for _, p := range problems {
		t.Error("timeline: " + p)
	}
	a.shot("900x600-timeline")
}
