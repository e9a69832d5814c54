package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// preflight sends a browser's CORS preflight and returns the response.
func preflight(t *testing.T, url, origin, method, headers string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodOptions, url, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	if headers != "" {
		req.Header.Set("Access-Control-Request-Headers", headers)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// TestCORSForBrowserClients: a page on a loopback origin, or on an origin
// named in Options.CORSOrigins, may call the Cybrid side from a browser —
// preflight answered with the methods and headers, answers carrying
// Access-Control-Allow-Origin — and no other origin may; Plaid's side stays
// same-origin only.
func TestCORSForBrowserClients(t *testing.T) {
	s, err := Start(Options{CORSOrigins: []string{"https://App.Example.test:443", "http://192.0.2.10:8080,https://other.example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := strings.Join(s.CORSOrigins, " "); got != "https://app.example.test http://192.0.2.10:8080 https://other.example.test" {
		t.Errorf("CORSOrigins = %q, want the origins normalized as browsers send them", got)
	}

	for _, origin := range []string{"http://localhost:5173", "http://127.0.0.1:4200", "https://localhost", "http://[::1]:3000",
		"http://127.1.2.3:8000", "https://app.example.test", "http://192.0.2.10:8080"} {
		resp := preflight(t, s.BankURL+"/api/external_bank_accounts/0123456789abcdef0123456789abcdef", origin, "PATCH", "authorization,content-type")
		h := resp.Header
		if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != origin {
			t.Errorf("preflight from %s: %d, Allow-Origin %q", origin, resp.StatusCode, h.Get("Access-Control-Allow-Origin"))
			continue
		}
		if got := h.Get("Access-Control-Allow-Methods"); got != "DELETE, GET, PATCH" {
			t.Errorf("preflight from %s: Allow-Methods %q, want the methods served on the path", origin, got)
		}
		for _, want := range []string{"Authorization", "Content-Type"} {
			if !strings.Contains(h.Get("Access-Control-Allow-Headers"), want) {
				t.Errorf("preflight from %s: Allow-Headers %q lacks %s", origin, h.Get("Access-Control-Allow-Headers"), want)
			}
		}
		if h.Get("Access-Control-Allow-Credentials") != "" || !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
			t.Errorf("preflight from %s: credentials %q, Vary %v", origin, h.Get("Access-Control-Allow-Credentials"), h.Values("Vary"))
		}
	}
	if resp := preflight(t, s.BankURL+"/sim/scenarios/active", "http://localhost:8080", "PUT", "content-type"); resp.StatusCode != 204 ||
		resp.Header.Get("Access-Control-Allow-Methods") != "DELETE, GET, PUT" {
		t.Errorf("preflight of /sim/scenarios/active: %d %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Methods"))
	}

	// Refused: another origin (with what to do), an unknown path, Plaid's side.
	for _, origin := range []string{"https://evil.example", "null", "http://localhost.evil.example", "https://app.example.test:8443"} {
		resp := preflight(t, s.BankURL+"/api/workflows", origin, "POST", "authorization")
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight from %s: %d, Allow-Origin %q; want 403 without it", origin, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
	req, _ := http.NewRequest(http.MethodOptions, s.BankURL+"/api/workflows", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if msg, _ := body["error_message"].(string); resp.StatusCode != 403 || body["message_code"] != "forbidden_origin" ||
		!strings.Contains(msg, "--cors-origin https://evil.example") {
		t.Errorf("refused preflight: %d %v, want 403 forbidden_origin naming the flag that allows the origin", resp.StatusCode, body)
	}
	if resp := preflight(t, s.BankURL+"/api/nowhere", "http://localhost:1", "GET", ""); resp.StatusCode != 404 {
		t.Errorf("preflight of an unknown path: %d", resp.StatusCode)
	}
	if resp := preflight(t, s.PlaidURL+"/link/v2/stable/sim/init", "http://localhost:1", "POST", "content-type"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("Plaid's Link API answered a cross-origin preflight with Allow-Origin %q", resp.Header.Get("Access-Control-Allow-Origin"))
	}

	// Simple requests: the public asset list and a token request.
	get := func(origin string) *http.Response {
		req, _ := http.NewRequest("GET", s.BankURL+"/api/assets", nil)
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := get("http://localhost:4200"); resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:4200" ||
		resp.Header.Get("Access-Control-Expose-Headers") != "Retry-After" {
		t.Errorf("GET /api/assets from a loopback page: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := get("https://evil.example"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET /api/assets from another origin carries Allow-Origin %q", resp.Header.Get("Access-Control-Allow-Origin"))
	}
	// Without Origin (not a browser) nothing changes; OPTIONS that is not a
	// preflight is still 405.
	if st, _ := call(t, http.DefaultClient, "OPTIONS", s.BankURL+"/api/workflows", "", nil); st != 405 {
		t.Errorf("OPTIONS without a preflight's headers: %d, want 405", st)
	}
}

func TestCORSOriginsAreChecked(t *testing.T) {
	for _, bad := range []string{"*", "app.example.com", "ftp://app.example.com", "https://app.example.com/path",
		"https://user@app.example.com", "https://app.example.com?x=1", "https://"} {
		if _, err := Start(Options{CORSOrigins: []string{bad}}); !errors.Is(err, ErrCORSOrigin) {
			t.Errorf("CORSOrigins %q: err = %v, want ErrCORSOrigin", bad, err)
		}
	}
	var out, errb bytes.Buffer
	if code := Run(context.Background(), []string{"--cors-origin", "https://app.example.com/x"}, &out, &errb); code != 2 ||
		!strings.Contains(errb.String(), "no path") {
		t.Errorf("--cors-origin with a path: exit %d, stderr %q", code, errb.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out.Reset()
	if code := Run(ctx, []string{"--addr", "127.0.0.1:0", "--cors-origin", "https://a.example.test", "--cors-origin", "https://b.example.test",
		"--verification-review"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"CORS for loopback origins", "https://a.example.test, https://b.example.test", "/sim/identity_verifications/{guid}/review"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("banner lacks %q:\n%s", want, out.String())
		}
	}
}

// TestVerificationReviewOption: sim.Options.VerificationReview is part of
// the simulator's normal state (applying a scenario keeps it).
func TestVerificationReviewOption(t *testing.T) {
	s, err := Start(Options{VerificationReview: true, AccountDelay: -1, WorkflowDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.ApplyScenario("slow_workflow", nil); err != nil {
		t.Fatal(err)
	}
	s.ResetScenario()
	if !s.Cybrid.Scenario().VerificationReview {
		t.Error("VerificationReview was lost when the scenario was reset to normal")
	}
}
