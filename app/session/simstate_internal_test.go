package session

// The built-in simulator's state in the session, without a window: a
// second linkdesk on the same state folder gets a simulator in memory and
// says so, and the operator's Reset simulator starts it afresh for good.

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"linkdesk/app/desk"
	"linkdesk/app/internal/simlink"
	"linkdesk/app/internal/wait"
	"linkdesk/app/journal"
	"linkdesk/app/keychain"
	"linkdesk/app/linkflow"
	"linkdesk/app/pageapi"
	"linkdesk/app/sim"
	"linkdesk/app/timeline"
)

func startSim(t *testing.T, dir string) (*Session, *pageClient) {
	t.Helper()
	s, err := Start(simOn(t), "test", slog.New(slog.DiscardHandler), keychain.NewMemory(),
		Options{StateDir: dir, RuntimeDir: t.TempDir(), Sim: simCrashDelays})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, newPageClient(t, s)
}

func TestASecondLinkdeskOnTheStateFolderGetsASimulatorInMemoryAndSaysSo(t *testing.T) {
	dir := t.TempDir()
	_, page1 := startSim(t, dir)
	var info1 pageapi.SessionInfo
	page1.call(t, "info", nil, &info1)
	if info1.Simulator == nil || !strings.HasSuffix(info1.Simulator.StateFile, sim.StateFileName) || info1.Simulator.StateNote != "" {
		t.Fatalf("the first linkdesk's simulator: %+v", info1.Simulator)
	}
	_, page2 := startSim(t, dir)
	var info2 pageapi.SessionInfo
	page2.call(t, "info", nil, &info2)
	if s := info2.Simulator; s == nil || s.StateFile != "" || !strings.Contains(s.StateNote, "Another linkdesk") {
		t.Errorf("the second linkdesk's Simulator panel: %+v", s)
	}
	var st journal.Status
	if page2.call(t, "recovered.list", nil, &st); st.On || !strings.Contains(st.Off, "memory only") {
		t.Errorf("the second linkdesk's crash journal: %+v", st)
	}
	if page1.call(t, "recovered.list", nil, &st); !st.On {
		t.Errorf("the first linkdesk's crash journal: %+v", st)
	}
}

func TestResetSimulatorStartsItAfreshForGood(t *testing.T) {
	dir := t.TempDir()
	s, page := startSim(t, dir)
	e, _ := s.Env()
	cust := e.Target.Sim.Cybrid.Customers()[0].GUID
	var a linkflow.Attempt
	page.call(t, "startLink", map[string]any{"customer_guid": cust}, &a)
	var at linkflow.Attempt
	wait.True(t, 15*time.Second, "link_open", func() bool { at, _ = e.Flow.Get(a.ID); return at.State == linkflow.LinkOpen })
	pub, meta := simlink.Link(t, e.Target.Sim.PlaidURL, at.LinkToken)
	page.call(t, "plaid.onSuccess", map[string]any{"attempt_id": a.ID, "seq": 1, "at": time.Now().UnixMilli(), "public_token": pub, "metadata": meta}, nil)
	wait.True(t, 15*time.Second, "the attempt done", func() bool { at, _ = e.Flow.Get(a.ID); return at.State == linkflow.Done })
	var rows []desk.Account
	if page.call(t, "listAccounts", map[string]any{"customer_guid": cust}, &rows); len(rows) != 1 {
		t.Fatalf("before the reset the customer has %d accounts", len(rows))
	}
	port := e.Target.BankURL

	var info pageapi.SessionInfo
	page.call(t, "resetSimulator", nil, &info)
	if info.Environment != "sim" || info.Simulator == nil || info.Simulator.BankURL != port {
		t.Errorf("after the reset: %+v (the simulator was at %s)", info.Simulator, port)
	}
	if page.call(t, "listAccounts", map[string]any{"customer_guid": cust}, &rows); len(rows) != 0 {
		t.Errorf("after the reset the customer has %d accounts", len(rows))
	}
	var tl timeline.TimelineResult
	page.call(t, "timeline", map[string]any{"attempt_id": "", "since": 0}, &tl)
	noted := false
	for _, en := range tl.Entries {
		noted = noted || strings.Contains(en.Message, "The simulator was reset")
	}
	if !noted {
		t.Error("the timeline does not note the reset")
	}
	s.Close()

	_, page2 := startSim(t, dir)
	if page2.call(t, "listAccounts", map[string]any{"customer_guid": cust}, &rows); len(rows) != 0 {
		t.Errorf("after the reset and a restart the customer has %d accounts", len(rows))
	}
}
