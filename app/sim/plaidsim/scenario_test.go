package plaidsim

import (
	"net/http"
	"testing"
)

func TestScenarioSwitches(t *testing.T) {
	ss := startSim(t, Options{})

	t.Run("multi-select is a property of tokens issued while on", func(t *testing.T) {
		ss.sim.SetScenario(Scenario{MultiSelect: true})
		on := ss.token(LinkTokenRequest{LinkCustomizationName: "default"})
		ss.sim.SetScenario(Scenario{})
		off := ss.token(LinkTokenRequest{LinkCustomizationName: "default"})
		if got := ss.link.Call(t, "init", map[string]any{"link_token": on})["account_select"]; got != "multi" {
			t.Errorf("token issued with MultiSelect: account_select %v", got)
		}
		if got := ss.link.Call(t, "init", map[string]any{"link_token": off})["account_select"]; got != "single" {
			t.Errorf("token issued after: account_select %v", got)
		}
	})

	t.Run("institution down: any bank, the session goes on", func(t *testing.T) {
		ss.sim.SetScenario(Scenario{InstitutionDown: true})
		defer ss.sim.SetScenario(Scenario{})
		tok := ss.token(LinkTokenRequest{})
		se := ss.link.Open(t, tok)
		for _, ins := range []string{"ins_127287", "ins_109508"} {
			r := se.Call(t, "institution", "institution_id", ins)
			if errType(r) != "INSTITUTION_ERROR" || errCode(r) != "INSTITUTION_DOWN" || r["health"] != "down" || r["oauth"] != nil {
				t.Errorf("selecting %s: %v", ins, r)
			}
		}
		// Credentials are refused: no institution that takes them is selected.
		if code, _ := se.Try(t, "credentials", "username", "user_good", "password", "pass_good"); code != http.StatusBadRequest {
			t.Errorf("credentials after a down institution: HTTP %d", code)
		}
	})

	t.Run("institution down in update mode fails the sign-in", func(t *testing.T) {
		pt, _ := ss.linkItem(ss.token(LinkTokenRequest{}), "ins_109508")
		it, err := ss.sim.ExchangePublicToken(pt)
		if err != nil {
			t.Fatal(err)
		}
		ss.sim.SetScenario(Scenario{InstitutionDown: true})
		defer ss.sim.SetScenario(Scenario{})
		tok := ss.token(LinkTokenRequest{UpdateItemID: it.ItemID})
		se := ss.link.Open(t, tok)
		r := se.Call(t, "credentials", "username", "user_good", "password", "pass_good")
		if r["status"] != "error" || r["retry"] == true || errType(r) != "INSTITUTION_ERROR" || errCode(r) != "INSTITUTION_DOWN" {
			t.Errorf("update-mode sign-in with the bank down: %v", r)
		}
	})

	t.Run("reject credentials", func(t *testing.T) {
		ss.sim.SetScenario(Scenario{RejectCredentials: true})
		defer ss.sim.SetScenario(Scenario{})
		tok := ss.token(LinkTokenRequest{})
		se := ss.link.Open(t, tok)
		se.Call(t, "institution", "institution_id", "ins_109508")
		for _, pw := range []string{"pass_good", "mfa_device"} {
			r := se.Call(t, "credentials", "username", "user_good", "password", pw)
			if r["status"] != "error" || r["retry"] != true || errType(r) != "ITEM_ERROR" || errCode(r) != "INVALID_CREDENTIALS" {
				t.Errorf("password %s: %v", pw, r)
			}
		}
	})

	t.Run("expired link tokens: the next n, or all", func(t *testing.T) {
		ss.sim.SetScenario(Scenario{ExpiredLinkTokens: 2})
		var codes []string
		for i := 0; i < 3; i++ {
			_, r := ss.link.Try(t, "init", map[string]any{"link_token": ss.token(LinkTokenRequest{})})
			codes = append(codes, errCode(r))
		}
		if codes[0] != "INVALID_LINK_TOKEN" || codes[1] != "INVALID_LINK_TOKEN" || codes[2] != "" {
			t.Errorf("error codes of three tokens after ExpiredLinkTokens=2: %q", codes)
		}
		if n := ss.sim.Scenario().ExpiredLinkTokens; n != 0 {
			t.Errorf("ExpiredLinkTokens left at %d", n)
		}
		ss.sim.SetScenario(Scenario{ExpiredLinkTokens: -1})
		defer ss.sim.SetScenario(Scenario{})
		for i := 0; i < 3; i++ {
			lt, err := ss.sim.CreateLinkToken(LinkTokenRequest{CustomerGUID: "c"})
			if err != nil {
				t.Fatal(err)
			}
			if !lt.Expiration.Equal(ss.clk.Now()) {
				t.Errorf("token %d expires %v, want now (%v)", i, lt.Expiration, ss.clk.Now())
			}
		}
	})
}
