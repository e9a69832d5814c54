package oauthroute

import "testing"

func TestDecide(t *testing.T) {
	const sim = "http://localhost:4321/link/v2/stable/sandbox-oauth-login.html?oauth_state_id=abc"
	for _, c := range []struct {
		name    string
		mode    Mode
		url     string
		linkIns string
		first   bool
		browser bool
		ins     string
	}{
		{"listed institution from Link's events", Auto, sim, "ins_56", true, true, "ins_56"},
		{"unlisted institution stays in the pop-up", Auto, sim, "ins_127287", true, false, "ins_127287"},
		{"unknown institution stays in the pop-up", Auto, sim, "", true, false, ""},
		{"listed bank's host, before Link named it", Auto, "https://secure01a.chase.com/web/auth/oauth?x=1", "", true, true, "ins_56"},
		{"a look-alike host is not the bank", Auto, "https://notchase.com/login", "", true, false, ""},
		{"institution_id in the address", Auto, "https://oauth.example/start?institution_id=ins_3", "", true, true, "ins_3"},
		{"a pop-up heading for a listed host later", Auto, "https://secure.chase.com/auth", "ins_127287", false, true, "ins_56"},
		{"later pages of an unlisted bank stay", Auto, sim, "ins_56", false, false, ""},
		{"browser mode sends every bank", Browser, sim, "ins_127287", true, true, "ins_127287"},
		{"browser mode leaves a page already in the pop-up", Browser, sim, "", false, false, ""},
		{"popup mode keeps even listed banks", Popup, sim, "ins_56", true, false, "ins_56"},
		{"about:blank cannot go to a browser", Browser, "about:blank", "ins_56", true, false, ""},
		{"a custom scheme cannot go to a browser", Browser, "plaidlink://connected", "ins_56", true, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := New(c.mode, DefaultBrowserInstitutions)
			d := r.Decide(c.url, c.linkIns, c.first)
			if d.Browser != c.browser || d.InstitutionID != c.ins {
				t.Errorf("Decide(%q, %q, %v) = %+v, want browser=%v institution=%q", c.url, c.linkIns, c.first, d, c.browser, c.ins)
			}
			if d.Reason == "" {
				t.Error("no reason given")
			}
		})
	}
}

func TestRouterMode(t *testing.T) {
	r := New("", []string{"ins_56", "bogus", "ins_56", "ins_9"})
	if r.Mode() != Auto {
		t.Errorf("default mode %q", r.Mode())
	}
	if got := r.Institutions(); len(got) != 2 || got[0] != "ins_56" || got[1] != "ins_9" {
		t.Errorf("institutions %v", got)
	}
	if err := r.SetMode("sideways"); err == nil {
		t.Error("an unknown mode was accepted")
	}
	if err := r.SetMode(Browser); err != nil || r.Mode() != Browser {
		t.Errorf("SetMode(browser): %v, mode %q", err, r.Mode())
	}
}
