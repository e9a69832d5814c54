package redact

import (
	"errors"
	"strings"
	"testing"
)

const clientSecret = "s3cr3t-client-secret-value-42"

var tokenSamples = map[string]string{
	"JWT":                "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjMifQ.abcDEF123_-x",
	"public sandbox":     "public-sandbox-6f4e2c1a-0000-4000-8000-123456789abc",
	"public production":  "public-production-6f4e2c1a-0000-4000-8000-123456789abc",
	"access token":       "access-sandbox-6f4e2c1a-0000-4000-8000-123456789abc",
	"link sandbox":       "link-sandbox-6f4e2c1a-0000-4000-8000-123456789abc",
	"link production":    "link-production-6f4e2c1a-0000-4000-8000-123456789abc",
	"bearer":             "Bearer abcdefghijklmnop.qrstu",
	"configured secret":  clientSecret,
	"processor token":    "processor-production-6f4e2c1a-0000-4000-8000-123456789abc",
	"development public": "public-development-6f4e2c1a",
}

func TestScrubReplacesEveryTokenShape(t *testing.T) {
	s := New([]string{clientSecret, "abc"}) // "abc" is too short to be used
	for name, tok := range tokenSamples {
		got := s.String("before " + tok + " after")
		if strings.Contains(got, tok) || !strings.HasPrefix(got, "before ") || !strings.HasSuffix(got, " after") {
			t.Errorf("%s: %q", name, got)
		}
		if err := s.Check([]byte(got)); err != nil {
			t.Errorf("%s: the scrubbed text fails the final check: %v", name, err)
		}
	}
	if got := s.String("link-sandbox-6f4e2c1a-0000 public-production-ab12"); got != "[redacted link token] [redacted Plaid token]" {
		t.Errorf("tokens → %q", got)
	}
	if got := s.String("abc GET /api/workflows/0123456789abcdef0123456789abcdef"); got != "abc GET /api/workflows/0123456789abcdef0123456789abcdef" {
		t.Errorf("ordinary text changed: %q", got)
	}
	// Keys that name a secret lose their value whatever it looks like.
	m := s.Map(map[string]any{"Public-Token": "anything", "password": "hunter2", "nested": map[string]any{"link_token": "x", "ok": "fine"},
		"list": []any{"public-sandbox-abcdef12", 3.0, nil}})
	if m["Public-Token"] != redactedValue || m["password"] != redactedValue || m["nested"].(map[string]any)["link_token"] != redactedValue ||
		m["nested"].(map[string]any)["ok"] != "fine" || m["list"].([]any)[0] != "[redacted Plaid token]" {
		t.Errorf("scrubbed map = %v", m)
	}
}

func TestFinalCheckRefusesAnExportHoldingASecret(t *testing.T) {
	s := New([]string{clientSecret, `sec"ret<&>value`})
	for name, tok := range tokenSamples {
		err := s.Check([]byte(`{"message":"x ` + tok + ` y"}`))
		var se *ErrSecretInExport
		if !errors.As(err, &se) {
			t.Errorf("%s passed the final check", name)
			continue
		}
		if strings.Contains(err.Error(), tok) {
			t.Errorf("%s: the refusal repeats the value: %v", name, err)
		}
	}
	// The configured secret is found in its JSON and HTML forms too.
	for _, form := range []string{`sec\"ret\u003c\u0026\u003evalue`, `sec&#34;ret&lt;&amp;&gt;value`} {
		if err := s.Check([]byte("x " + form)); err == nil {
			t.Errorf("escaped secret %s passed", form)
		}
	}

}

// Values under secret keys are scrubbed in text too: a server's answer
// quoted in an error (even cut short) and a form body.
func TestSecretKeysInText(t *testing.T) {
	s := New(nil)
	for in, want := range map[string]string{
		`502: {"access_token":"at-CANARY-1a2b","scope":"x"}`:     `502: {"access_token":"[redacted]","scope":"x"}`,
		`{"Client-Secret" : "sh\"hh", "n": 1}`:                   `{"Client-Secret" : "[redacted]", "n": 1}`,
		`{"public_token":"pt-cut-short…`:                         `{"public_token":"[redacted]`,
		`grant_type=client_credentials&client_secret=s3cr3t&x=1`: `grant_type=client_credentials&client_secret=[redacted]&x=1`,
		`{"token_type":"bearer","name":"plain"}`:                 `{"token_type":"bearer","name":"plain"}`,
	} {
		if got := s.String(in); got != want {
			t.Errorf("String(%s)\n got %s\nwant %s", in, got, want)
		}
	}
}
