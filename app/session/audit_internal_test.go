package session

// The session's own audit records, without a window: credentials stored from
// the first-run screen and environment switches, made through the page's
// calls over the app server's real HTTP route.

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"linkdesk/app/audit"
	"linkdesk/app/config"
	"linkdesk/app/internal/simapart"
	"linkdesk/app/keychain"
	"linkdesk/app/sim"
)

func TestCredentialsAndSwitchesAreAudited(t *testing.T) {
	// Production, where this test switches, refuses a Plaid script of one's
	// own; the keychain starts empty, as at the first run.
	apart := simapart.Start(t, sim.Options{WorkflowDelay: -1, AccountDelay: -1}, config.Vars{config.VarPlaidScriptURL: ""})
	other := apart.Sim
	dir := t.TempDir()
	began := time.Now()
	s, err := Start(apart.Config, "test", slog.New(slog.DiscardHandler), keychain.NewMemory(), Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	page := newPageClient(t, s)
	// The first-run screen stores sandbox's credentials.
	page.call(t, "storeCredentials", map[string]any{"environment": "sandbox", "client_id": other.ClientID, "client_secret": other.ClientSecret}, nil)
	page.call(t, "switchEnvironment", map[string]any{"environment": "sim"}, nil)
	page.call(t, "switchEnvironment", map[string]any{"environment": "production"}, nil)
	if err := page.try("switchEnvironment", map[string]any{"environment": "staging"}, nil); err == nil {
		t.Error("switching to staging was accepted")
	}

	var p audit.Page
	page.call(t, "audit.list", map[string]any{}, &p)
	var got []string
	for _, r := range p.Records {
		if r.User != audit.CurrentUser() || r.Time.Before(began.Add(-time.Second)) || r.Time.After(time.Now()) {
			t.Errorf("record without who or when: %+v", r)
		}
		got = append(got, strings.Join([]string{r.Environment, string(r.Action), string(r.Outcome)}, " "))
	}
	want := []string{
		"production switch_environment success",
		"sim switch_environment success",
		"sandbox credentials_store success",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit.list:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(p.Records) == 3 {
		for i, want := range []string{"first-run screen asks for them", "Switched from sandbox to sim", "client id " + other.ClientID} {
			if !strings.Contains(p.Records[i].Detail, want) {
				t.Errorf("record %d says %q, want %q in it", i, p.Records[i].Detail, want)
			}
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, audit.FileName))
	if err != nil || bytes.Contains(raw, []byte(other.ClientSecret)) {
		t.Errorf("the audit file (%v) holds the client secret", err)
	}
}
