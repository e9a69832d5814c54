package pageapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"linkdesk/app/environment"
	"linkdesk/app/internal/simapart"
	"linkdesk/app/internal/testneeds"
	"linkdesk/app/internal/wait"
	"linkdesk/app/journal"
	"linkdesk/app/linkflow"
	"linkdesk/app/pageapi"
	"linkdesk/app/sim"
)

// Issue 14, case 1, at the page's door. A real sandbox environment (its
// Cybrid is a simulator reached over loopback, so its journal is on) keeps
// its journal on a real 64 KiB tmpfs. Filled to 0 bytes: startLink,
// startRefresh and verifyAccount are refused with the reason and what to
// do, nothing starts at Cybrid, the page is told at once (the recovered
// push) and recovered.list carries the warning. Once space returns the
// same call starts the attempt, and the journal records it.
func TestNewAttemptsAreRefusedWhileTheJournalCannotWrite(t *testing.T) {
	stateDir := testneeds.MountTmpfs(t, 64<<10)
	apart := simapart.Start(t, sim.Options{WorkflowDelay: -1, AccountDelay: -1}, nil)
	other, tg := apart.Sim, apart.Target(t)
	var pushes atomic.Int32
	e, err := environment.Start(tg, environment.Hooks{Version: "test", Log: slog.New(slog.DiscardHandler), StateDir: stateDir,
		OnRecovered: func() { pushes.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if st := e.Journal.Status(); !st.On {
		t.Fatalf("the sandbox journal is off: %s", st.Off)
	}
	api := pageapi.New(envBackend{e}, slog.New(slog.DiscardHandler))
	cust := other.Cybrid.Customers()[0].GUID
	acct := strings.Repeat("a", 32)

	filler := filepath.Join(stateDir, "filler")
	f, _ := os.Create(filler)
	for {
		if _, err := f.Write(make([]byte, 4096)); err != nil {
			break
		}
	}
	f.Close()
	workflows := other.Cybrid.Stats().ByRoute["POST /api/workflows"]
	for _, c := range []struct{ method, params string }{
		{"startLink", `{"customer_guid":"` + cust + `"}`},
		{"startRefresh", `{"customer_guid":"` + cust + `","account_guid":"` + acct + `"}`},
		{"verifyAccount", `{"customer_guid":"` + cust + `","account_guid":"` + acct + `"}`},
	} {
		_, err := serve(t, api, c.method, c.params)
		if err == nil || !strings.Contains(err.Error(), "crash recovery is off") || !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), "Free space") {
			t.Errorf("%s on a full disk: %v; want it refused, saying why and what to do", c.method, err)
		}
	}
	t.Logf("refused: %v", func() error { _, err := serve(t, api, "startLink", `{"customer_guid":"`+cust+`"}`); return err }())
	if n := len(e.Flow.Running()); n != 0 || other.Cybrid.Stats().ByRoute["POST /api/workflows"] != workflows {
		t.Errorf("%d attempts running, workflows created: the refused calls started something", n)
	}
	if pushes.Load() == 0 {
		t.Error("the page was not told (no recovered push)")
	}
	got, err := serve(t, api, "recovered.list", `{}`)
	if err != nil {
		t.Fatal(err)
	}
	var st journal.Status
	raw, _ := json.Marshal(got)
	json.Unmarshal(raw, &st)
	if !strings.Contains(st.Failing, "Crash recovery is off") || !bytes.Contains(raw, []byte(`"failing":`)) {
		t.Errorf("recovered.list on a full disk: %s", raw)
	}

	os.Remove(filler)
	a, err := serve(t, api, "startLink", `{"customer_guid":"`+cust+`"}`)
	if err != nil {
		t.Fatalf("startLink once space returned: %v", err)
	}
	id := a.(linkflow.Attempt).ID
	wait.For(t, 10*time.Second, "the attempt started once space returned in the journal", func() (bool, error) {
		b, _ := os.ReadFile(e.Journal.Path())
		failing := e.Journal.Status().Failing
		return bytes.Contains(b, []byte(id)) && failing == "", fmt.Errorf("failing %q; the journal holds %s", failing, b)
	})
}
