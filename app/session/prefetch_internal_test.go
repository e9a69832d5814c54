package session

// Prepared link tokens and environment switches, through the page's calls
// over the app server's real HTTP route: the built-in simulator is "sim",
// another simulator on loopback stands in for Cybrid's sandbox. Each
// environment keeps its own prepared tokens across switches, and none
// reaches the other.

import (
	"log/slog"
	"testing"
	"time"

	"linkdesk/app/config"
	"linkdesk/app/internal/simapart"
	"linkdesk/app/internal/wait"
	"linkdesk/app/linkflow"
	"linkdesk/app/sim"
)

// readyToken asks prefetchLink for the customer until its token is ready.
func (p *pageClient) readyToken(t *testing.T, customer string) linkflow.Prepared {
	t.Helper()
	var got *linkflow.Prepared
	wait.True(t, 15*time.Second, "a prepared link token for "+customer, func() bool {
		got = nil
		p.call(t, "prefetchLink", map[string]any{"customer_guid": customer}, &got)
		return got != nil && got.State == linkflow.PreparedReady
	})
	return *got
}

func TestPreparedTokensStayWithTheirEnvironment(t *testing.T) {
	apart := simapart.Start(t, sim.Options{ClientID: "sandbox-id", ClientSecret: "sandbox-secret-9c2", WorkflowDelay: 100 * time.Millisecond}, quickPolls)
	other, store, cfg := apart.Sim, apart.Store, apart.Config
	cfg.Environment = config.Sim
	s, err := Start(cfg, "test", slog.New(slog.DiscardHandler), store, Options{StateDir: t.TempDir(), Sim: sim.Options{WorkflowDelay: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	page := newPageClient(t, s)
	builtin := s.env.Load().Target.Sim
	a, b := builtin.Cybrid.Customers()[0].GUID, builtin.Cybrid.Customers()[1].GUID

	// In sim: A's token, then B's; back to A: A's is kept (a customer
	// switch discards nothing still valid).
	simA := page.readyToken(t, a)
	page.readyToken(t, b)
	if again := page.readyToken(t, a); again.AttemptID != simA.AttemptID || again.LinkToken != simA.LinkToken {
		t.Errorf("A after B: %+v, want the token kept", again)
	}
	posts := func() int { return builtin.Cybrid.Stats().ByRoute["POST /api/workflows"] }
	if n := posts(); n != 2 {
		t.Fatalf("%d workflows at the built-in simulator, want 2", n)
	}

	// Sandbox (the other simulator, whose seeded customers have the same
	// GUIDs): A gets a token of its own there, never sim's.
	page.call(t, "switchEnvironment", map[string]any{"environment": "sandbox"}, nil)
	sandA := page.readyToken(t, a)
	if sandA.AttemptID == simA.AttemptID || sandA.LinkToken == simA.LinkToken || sandA.WorkflowGUID == simA.WorkflowGUID {
		t.Errorf("sandbox's token for A is sim's: %+v", sandA)
	}
	if n := other.Cybrid.Stats().ByRoute["POST /api/workflows"]; n != 1 {
		t.Errorf("%d workflows at the sandbox simulator, want 1", n)
	}
	var att linkflow.Attempt
	page.call(t, "startLink", map[string]any{"customer_guid": a}, &att)
	if att.ID != sandA.AttemptID || att.LinkToken != sandA.LinkToken {
		t.Errorf("sandbox click = %+v, want sandbox's prepared token", att)
	}
	if n := posts(); n != 2 {
		t.Errorf("the built-in simulator saw %d workflows while sandbox ran, want 2", n)
	}

	// Back in sim: A's token from before the switch is still there, and the
	// click takes it; nothing new is created.
	page.call(t, "switchEnvironment", map[string]any{"environment": "sim"}, nil)
	back := page.readyToken(t, a)
	if back.AttemptID != simA.AttemptID || back.LinkToken != simA.LinkToken {
		t.Errorf("sim's token for A after the switches: %+v, want %+v", back, simA)
	}
	page.call(t, "startLink", map[string]any{"customer_guid": a}, &att)
	if att.ID != simA.AttemptID || att.State != linkflow.LinkOpen || att.LinkToken != simA.LinkToken {
		t.Errorf("sim click after the switches = %+v", att)
	}
	if n := posts(); n != 2 {
		t.Errorf("%d workflows at the built-in simulator after the switches, want 2", n)
	}
}

// New credentials for an environment start a new shelf: tokens obtained
// with other credentials are not handed out.
func TestNewCredentialsDropPreparedTokens(t *testing.T) {
	apart := simapart.Start(t, sim.Options{ClientID: "sandbox-id", ClientSecret: "sandbox-secret-9c2", WorkflowDelay: 50 * time.Millisecond}, quickPolls)
	other, store := apart.Sim, apart.Store
	s, err := Start(apart.Config, "test", slog.New(slog.DiscardHandler), store, Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	page := newPageClient(t, s)
	a := other.Cybrid.Customers()[0].GUID
	first := page.readyToken(t, a)
	// The same credentials typed again on the first-run screen: the
	// environment restarts with its shelf (same secret)…
	page.call(t, "storeCredentials", map[string]any{"environment": "sandbox", "client_id": "sandbox-id", "client_secret": "sandbox-secret-9c2"}, nil)
	if again := page.readyToken(t, a); again.LinkToken != first.LinkToken {
		t.Errorf("same credentials: %+v, want the token kept", again)
	}
	// …other credentials (the simulator accepts only its own, so the
	// session is asked directly): a new shelf.
	s.switchMu.Lock()
	defer s.switchMu.Unlock()
	k := s.shelves[config.Sandbox]
	if s.shelfFor(config.Sandbox, "another-secret") == k.shelf {
		t.Error("other credentials got the same shelf")
	}
}
