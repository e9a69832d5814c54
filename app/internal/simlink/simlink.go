// Package simlink lets tests go through the simulated Plaid Link without a
// window, by calling the Link page's own JSON API as the page does (the
// simulator's counterpart of Plaid's /sandbox/public_token/create).
package simlink

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"linkdesk/app/linkflow"
)

// Call posts body to the simulated Link page's JSON API call name (e.g.
// "open", "credentials") at plaidURL, with the page's Origin, and returns
// the answer; any status but 200 fails the test.
func Call(t testing.TB, plaidURL, name string, body map[string]any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", plaidURL+"/link/v2/stable/sim/"+name, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", plaidURL)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 {
		t.Fatalf("simulated Link %s: %d %v", name, resp.StatusCode, out)
	}
	return out
}

// Link goes through the simulated Link for linkToken: First Platypus Bank
// (unless the token is in update mode), Plaid's sandbox credentials
// user_good/pass_good, and the first n accounts. It returns the public token
// and the onSuccess metadata, as the page would receive them.
func Link(t testing.TB, plaidURL, linkToken string, n int) (string, linkflow.SuccessMetadata) {
	t.Helper()
	open := Call(t, plaidURL, "open", map[string]any{"link_token": linkToken})
	sid := open["link_session_id"]
	if open["institution"] == nil {
		Call(t, plaidURL, "institution", map[string]any{"link_token": linkToken, "link_session_id": sid, "institution_id": "ins_109508"})
	}
	sel := Call(t, plaidURL, "credentials", map[string]any{"link_token": linkToken, "link_session_id": sid, "username": "user_good", "password": "pass_good"})
	if sel["status"] == "connected" { // update mode: no account selection
		return sel["public_token"].(string), metadata(sel)
	}
	accts, _ := sel["accounts"].([]any)
	var ids []string
	for i := 0; i < n && i < len(accts); i++ {
		ids = append(ids, accts[i].(map[string]any)["id"].(string))
	}
	if len(ids) == 0 {
		t.Fatalf("simulated Link offered no accounts: %v", sel)
	}
	done := Call(t, plaidURL, "accounts", map[string]any{"link_token": linkToken, "link_session_id": sid, "account_ids": ids})
	if done["status"] != "connected" {
		t.Fatalf("simulated Link did not connect: %v", done)
	}
	return done["public_token"].(string), metadata(done)
}

func metadata(v map[string]any) linkflow.SuccessMetadata {
	var m linkflow.SuccessMetadata
	b, _ := json.Marshal(v["metadata"])
	json.Unmarshal(b, &m)
	if len(m.Accounts) == 0 {
		b, _ = json.Marshal(v["accounts"])
		json.Unmarshal(b, &m.Accounts)
	}
	if m.Institution == nil && v["institution"] != nil {
		// The Link page hands onSuccess the bank of the step's answer.
		b, _ = json.Marshal(v["institution"])
		json.Unmarshal(b, &m.Institution)
	}
	return m
}
