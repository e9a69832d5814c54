package config

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

// env is a lookup over a fixed map, for LoadFrom.
func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// varErrors lists the VarErrors inside a Load error.
func varErrors(t *testing.T, err error) []*VarError {
	t.Helper()
	var out []*VarError
	var walk func(error)
	walk = func(e error) {
		if ve, ok := e.(*VarError); ok {
			out = append(out, ve)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		t.Errorf("error %q (%T) is not a VarError", e, e)
	}
	walk(err)
	return out
}

func TestDefaults(t *testing.T) {
	c, err := LoadFrom(env(nil))
	if err != nil {
		t.Fatalf("LoadFrom(empty): %v", err)
	}
	want := Config{
		Environment:           Sim,
		Language:              "en",
		LinkCustomizationName: "default",
		Asset:                 "USD",
		PollInitial:           100 * time.Millisecond,
		PollMax:               time.Second,
		WorkflowTimeout:       60 * time.Second,
		AccountTimeout:        120 * time.Second,
		LogLevel:              "info",
		SimAddr:               "127.0.0.1:0",
		Prefetch:              true,
		OAuthRoute:            "auto",
		OAuthBrowserBanks:     "ins_56,ins_3",
		OAuthReturnPort:       47615,
	}
	if *c != want {
		t.Errorf("defaults:\n got %+v\nwant %+v", *c, want)
	}
	if c.BankURL() != "" || c.IdentityURL() != "" {
		t.Errorf("sim URLs = %q, %q; want empty (the simulator sets them)", c.BankURL(), c.IdentityURL())
	}
	if c.SlogLevel() != slog.LevelInfo {
		t.Errorf("SlogLevel = %v, want INFO", c.SlogLevel())
	}
}

func TestEmptyMeansDefault(t *testing.T) {
	m := map[string]string{}
	for _, k := range varNames() {
		m[k] = ""
	}
	c, err := LoadFrom(env(m))
	if err != nil {
		t.Fatalf("all variables set to empty: %v", err)
	}
	if c.Environment != Sim || c.PollMax != time.Second || c.LogLevel != "info" {
		t.Errorf("empty variables did not take defaults: %+v", *c)
	}
}

func TestGoodEnvironments(t *testing.T) {
	tests := []struct {
		name  string
		vars  map[string]string
		check func(t *testing.T, c *Config)
	}{
		{"sandbox defaults to Cybrid sandbox URLs", map[string]string{VarEnvironment: "sandbox"}, func(t *testing.T, c *Config) {
			if c.BankURL() != "https://bank.sandbox.cybrid.app" || c.IdentityURL() != "https://id.sandbox.cybrid.app" {
				t.Errorf("URLs = %q, %q", c.BankURL(), c.IdentityURL())
			}
		}},
		{"production defaults to Cybrid production URLs", map[string]string{VarEnvironment: "production"}, func(t *testing.T, c *Config) {
			if c.BankURL() != "https://bank.production.cybrid.app" || c.IdentityURL() != "https://id.production.cybrid.app" {
				t.Errorf("URLs = %q, %q", c.BankURL(), c.IdentityURL())
			}
		}},
		{"overrides win, trailing slash dropped, loopback http allowed", map[string]string{
			VarEnvironment:    "sandbox",
			VarBankAPIURL:     "http://127.0.0.1:8080/",
			VarIdentityAPIURL: "http://[::1]:9090",
		}, func(t *testing.T, c *Config) {
			if c.BankURL() != "http://127.0.0.1:8080" || c.IdentityURL() != "http://[::1]:9090" {
				t.Errorf("URLs = %q, %q", c.BankURL(), c.IdentityURL())
			}
		}},
		{"override for sim", map[string]string{VarBankAPIURL: "http://localhost:1234/api-proxy"}, func(t *testing.T, c *Config) {
			if c.BankURL() != "http://localhost:1234/api-proxy" {
				t.Errorf("BankURL = %q", c.BankURL())
			}
		}},
		{"every field set", map[string]string{
			VarEnvironment:           "production",
			VarBankGUID:              "0123456789abcdef0123456789abcdef",
			VarLanguage:              "nl",
			VarLinkCustomizationName: "spanish_customization",
			VarRedirectURI:           "https://linkdesk.example.com/oauth-return",
			VarAsset:                 "USD",
			VarBankAPIURL:            "https://bank.example.com",
			VarIdentityAPIURL:        "https://id.example.com",
			VarPollInitial:           "50ms",
			VarPollMax:               "50ms",
			VarWorkflowTimeout:       "1s",
			VarAccountTimeout:        "5m",
			VarLogLevel:              "debug",
		}, func(t *testing.T, c *Config) {
			want := Config{Production, "0123456789abcdef0123456789abcdef", "nl", "spanish_customization",
				"https://linkdesk.example.com/oauth-return", "USD", "https://bank.example.com", "https://id.example.com",
				50 * time.Millisecond, 50 * time.Millisecond, time.Second, 5 * time.Minute, "debug", "127.0.0.1:0", "", true, "auto", "ins_56,ins_3", 47615}
			if *c != want {
				t.Errorf("\n got %+v\nwant %+v", *c, want)
			}
			if c.SlogLevel() != slog.LevelDebug {
				t.Errorf("SlogLevel = %v", c.SlogLevel())
			}
		}},
		{"sandbox redirect to http localhost", map[string]string{VarEnvironment: "sandbox", VarRedirectURI: "http://localhost:4200/bank-account-connect"}, nil},
		{"sandbox redirect to http 127.0.0.1", map[string]string{VarEnvironment: "sandbox", VarRedirectURI: "http://127.0.0.1:4200/return"}, nil},
		{"redirect of exactly 128 characters", map[string]string{VarRedirectURI: "https://example.com/" + strings.Repeat("a", 128-len("https://example.com/"))}, nil},
		{"customization of 128 characters", map[string]string{VarLinkCustomizationName: strings.Repeat("é", 128)}, nil},
		{"simulator address and a loopback Plaid script for sandbox", map[string]string{VarEnvironment: "sandbox", VarSimAddr: "localhost:8090",
			VarPlaidScriptURL: "http://localhost:8090/link/v2/stable/link-initialize.js"}, func(t *testing.T, c *Config) {
			if c.SimAddr != "localhost:8090" || c.PlaidScriptURL != "http://localhost:8090/link/v2/stable/link-initialize.js" {
				t.Errorf("SimAddr %q, PlaidScriptURL %q", c.SimAddr, c.PlaidScriptURL)
			}
		}},
		{"prefetch off", map[string]string{VarPrefetch: "false"}, func(t *testing.T, c *Config) {
			if c.Prefetch {
				t.Error("LINKDESK_PREFETCH=false left prefetching on")
			}
		}},
		{"prefetch off as 0", map[string]string{VarPrefetch: "0"}, func(t *testing.T, c *Config) {
			if c.Prefetch {
				t.Error("LINKDESK_PREFETCH=0 left prefetching on")
			}
		}},
		{"log levels", map[string]string{VarLogLevel: "warn"}, func(t *testing.T, c *Config) {
			if c.SlogLevel() != slog.LevelWarn {
				t.Errorf("SlogLevel = %v", c.SlogLevel())
			}
		}},
		{"error level", map[string]string{VarLogLevel: "error"}, func(t *testing.T, c *Config) {
			if c.SlogLevel() != slog.LevelError {
				t.Errorf("SlogLevel = %v", c.SlogLevel())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadFrom(env(tt.vars))
			if err != nil {
				t.Fatalf("LoadFrom: %v", err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestBadEnvironments(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		// The single error must name want[0] and contain every other string.
		want []string
	}{
		{"unknown environment", map[string]string{VarEnvironment: "staging"},
			[]string{`LINKDESK_ENVIRONMENT="staging" is not allowed: use sim, sandbox or production`}},
		{"environment is case sensitive", map[string]string{VarEnvironment: "Sandbox"},
			[]string{VarEnvironment, `"Sandbox"`, "sim, sandbox or production"}},
		{"short bank guid", map[string]string{VarBankGUID: "abc123"},
			[]string{VarBankGUID, `"abc123"`, "32 lowercase hex"}},
		{"uppercase bank guid", map[string]string{VarBankGUID: "0123456789ABCDEF0123456789ABCDEF"},
			[]string{VarBankGUID, "32 lowercase hex"}},
		{"language", map[string]string{VarLanguage: "it"},
			[]string{VarLanguage, `"it"`, "en, fr, es, nl or de"}},
		{"customization too long", map[string]string{VarLinkCustomizationName: strings.Repeat("x", 129)},
			[]string{VarLinkCustomizationName, "129 characters", "at most 128"}},
		{"customization with newline", map[string]string{VarLinkCustomizationName: "a\nb"},
			[]string{VarLinkCustomizationName, "control character"}},
		{"asset", map[string]string{VarAsset: "EUR"},
			[]string{VarAsset, `"EUR"`, "only USD"}},
		{"log level", map[string]string{VarLogLevel: "verbose"},
			[]string{VarLogLevel, `"verbose"`, "debug, info, warn or error"}},
		{"prefetch neither on nor off", map[string]string{VarPrefetch: "sometimes"},
			[]string{VarPrefetch, `"sometimes"`, "use true or false"}},
		{"simulator on another host", map[string]string{VarSimAddr: "0.0.0.0:8090"},
			[]string{VarSimAddr, "not a loopback address"}},
		{"simulator address without a port", map[string]string{VarSimAddr: "127.0.0.1"},
			[]string{VarSimAddr, "not host:port"}},
		{"simulator port out of range", map[string]string{VarSimAddr: "127.0.0.1:70000"},
			[]string{VarSimAddr, "no valid port"}},
		{"Plaid script elsewhere", map[string]string{VarPlaidScriptURL: "https://cdn.example.com/link-initialize.js"},
			[]string{VarPlaidScriptURL, "not on this machine"}},
		{"Plaid script in production", map[string]string{VarEnvironment: "production", VarPlaidScriptURL: "http://localhost:8090/link/v2/stable/link-initialize.js"},
			[]string{VarPlaidScriptURL, "production always loads Plaid's own script"}},
		{"Plaid script that is not a URL", map[string]string{VarPlaidScriptURL: "localhost:8090/x.js"},
			[]string{VarPlaidScriptURL, "not an absolute http(s) URL"}},
		{"duration that is not one", map[string]string{VarPollMax: "soon"},
			[]string{`LINKDESK_POLL_MAX="soon" is not a duration: use a value such as 500ms or 2s`}},
		{"duration without unit", map[string]string{VarWorkflowTimeout: "60"},
			[]string{VarWorkflowTimeout, `"60"`, "is not a duration"}},
		{"zero poll delay", map[string]string{VarPollInitial: "0s"},
			[]string{VarPollInitial, `"0s"`, "positive"}},
		{"negative poll max", map[string]string{VarPollMax: "-1s"},
			[]string{VarPollMax, `"-1s"`, "positive"}},
		{"poll just under the floor", map[string]string{VarPollInitial: "49ms"},
			[]string{VarPollInitial, `"49ms"`, "too short", "at least 50ms"}},
		{"initial poll above max", map[string]string{VarPollInitial: "2s"},
			[]string{VarPollInitial, `"2s"`, "LINKDESK_POLL_MAX (1s, the default)"}},
		{"max poll below default initial", map[string]string{VarPollMax: "50ms"},
			[]string{VarPollMax, `"50ms"`, "LINKDESK_POLL_INITIAL (100ms, the default)"}},
		{"workflow timeout below 1s", map[string]string{VarWorkflowTimeout: "500ms"},
			[]string{VarWorkflowTimeout, `"500ms"`, "at least 1s"}},
		{"account timeout below 1s", map[string]string{VarAccountTimeout: "10ms"},
			[]string{VarAccountTimeout, "at least 1s"}},
		{"bank URL not absolute", map[string]string{VarBankAPIURL: "bank.example.com"},
			[]string{VarBankAPIURL, `"bank.example.com"`, "absolute http or https URL"}},
		{"bank URL ftp", map[string]string{VarBankAPIURL: "ftp://bank.example.com"},
			[]string{VarBankAPIURL, "absolute http or https URL"}},
		{"bank URL http to a remote host", map[string]string{VarBankAPIURL: "http://bank.example.com"},
			[]string{VarBankAPIURL, "use https", "127.0.0.1, ::1 and localhost"}},
		{"identity URL with query", map[string]string{VarIdentityAPIURL: "https://id.example.com/?x=1"},
			[]string{VarIdentityAPIURL, "query or fragment"}},
		{"identity URL with fragment", map[string]string{VarIdentityAPIURL: "https://id.example.com/#a"},
			[]string{VarIdentityAPIURL, "query or fragment"}},
		{"URL with a password is shown redacted", map[string]string{VarBankAPIURL: "https://u:hunter2@bank.example.com"},
			[]string{VarBankAPIURL, "user info", "xxxxx"}},
		{"redirect not absolute", map[string]string{VarRedirectURI: "/oauth-return"},
			[]string{VarRedirectURI, "absolute URL"}},
		{"redirect with custom scheme", map[string]string{VarRedirectURI: "linkdesk://oauth"},
			[]string{VarRedirectURI, "no custom schemes"}},
		{"redirect with query", map[string]string{VarRedirectURI: "https://example.com/r?x=1"},
			[]string{VarRedirectURI, "query or fragment", "Plaid rejects"}},
		{"redirect hash-routed", map[string]string{VarRedirectURI: "https://example.com/#/r"},
			[]string{VarRedirectURI, "query or fragment"}},
		{"redirect too long", map[string]string{VarRedirectURI: "https://example.com/" + strings.Repeat("a", 129-len("https://example.com/"))},
			[]string{VarRedirectURI, "129 characters", "at most 128"}},
		{"sandbox redirect http remote host", map[string]string{VarEnvironment: "sandbox", VarRedirectURI: "http://example.com/r"},
			[]string{VarRedirectURI, `"example.com"`, "in sandbox Plaid allows http only for localhost or 127.0.0.1"}},
		{"sim redirect http remote host", map[string]string{VarRedirectURI: "http://example.com/r"},
			[]string{VarRedirectURI, "in sim Plaid allows http only for localhost"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadFrom(env(tt.vars))
			if err == nil {
				t.Fatalf("LoadFrom accepted %v: %+v", tt.vars, *c)
			}
			errs := varErrors(t, err)
			if len(errs) != 1 {
				t.Fatalf("want 1 error, got %d: %v", len(errs), err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tt.want[0]) {
				t.Errorf("message %q does not start with %q", msg, tt.want[0])
			}
			for _, w := range tt.want[1:] {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not contain %q", msg, w)
				}
			}
			if strings.Contains(msg, "envconfig") || strings.Contains(msg, "hunter2") {
				t.Errorf("message leaks internals or a password: %q", msg)
			}
		})
	}
}

func TestProductionRedirectNeedsHTTPS(t *testing.T) {
	const local = "http://localhost:4200/bank-account-connect"
	if _, err := LoadFrom(env(map[string]string{VarEnvironment: "sandbox", VarRedirectURI: local})); err != nil {
		t.Fatalf("sandbox must accept %s: %v", local, err)
	}
	_, err := LoadFrom(env(map[string]string{VarEnvironment: "production", VarRedirectURI: local}))
	if err == nil {
		t.Fatalf("production accepted %s", local)
	}
	for _, w := range []string{VarRedirectURI, local, "production", "Cybrid enforces SSL", "use https"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("message %q does not contain %q", err, w)
		}
	}
	if _, err := LoadFrom(env(map[string]string{VarEnvironment: "production", VarRedirectURI: "https://localhost:3000/"})); err != nil {
		t.Errorf("production must accept https://localhost:3000/: %v", err)
	}
}

func TestSeveralErrorsReportedTogether(t *testing.T) {
	_, err := LoadFrom(env(map[string]string{
		VarEnvironment:     "staging",
		VarLanguage:        "it",
		VarPollInitial:     "soon",
		VarPollMax:         "later",
		VarWorkflowTimeout: "1ms",
		VarRedirectURI:     "https://x.example/?a=b",
		VarLogLevel:        "loud",
	}))
	if err == nil {
		t.Fatal("no error")
	}
	got := map[string]bool{}
	for _, ve := range varErrors(t, err) {
		got[ve.Name] = true
	}
	for _, name := range []string{VarEnvironment, VarLanguage, VarPollInitial, VarPollMax, VarWorkflowTimeout, VarRedirectURI, VarLogLevel} {
		if !got[name] {
			t.Errorf("%s not reported in:\n%v", name, err)
		}
	}
	if len(got) != 7 {
		t.Errorf("want exactly 7 variables reported, got %d:\n%v", len(got), err)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 7 {
		t.Errorf("want one line per problem (7), got %d:\n%v", n, err)
	}
	// Both unparsable durations are reported with their own value, and the
	// cross-check between them is not (it would compare defaults).
	for _, w := range []string{`LINKDESK_POLL_INITIAL="soon" is not a duration`, `LINKDESK_POLL_MAX="later" is not a duration`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
}

func TestLoadReadsProcessEnvironment(t *testing.T) {
	t.Setenv(VarEnvironment, "sandbox")
	t.Setenv(VarPollMax, "3s")
	t.Setenv("LOG_LEVEL", "debug") // unprefixed names must be ignored
	t.Setenv("ENVIRONMENT", "production")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.Environment != Sandbox || c.PollMax != 3*time.Second || c.LogLevel != "info" {
		t.Errorf("Load = %+v", *c)
	}
}

func TestLoadFromLeavesProcessEnvironmentAlone(t *testing.T) {
	t.Setenv(VarLogLevel, "debug")
	t.Setenv(VarPollMax, "")
	t.Setenv(VarLanguage, "") // registers the restore; then make it unset
	os.Unsetenv(VarLanguage)
	c, err := LoadFrom(env(map[string]string{VarLanguage: "fr"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.LogLevel != "info" || c.Language != "fr" {
		t.Errorf("LoadFrom saw the process environment: %+v", *c)
	}
	if v, ok := os.LookupEnv(VarLogLevel); !ok || v != "debug" {
		t.Errorf("%s = %q, %v after LoadFrom; want \"debug\"", VarLogLevel, v, ok)
	}
	if v, ok := os.LookupEnv(VarPollMax); !ok || v != "" {
		t.Errorf("%s = %q, %v after LoadFrom; want set and empty", VarPollMax, v, ok)
	}
	if _, ok := os.LookupEnv(VarLanguage); ok {
		t.Errorf("%s leaked into the process environment", VarLanguage)
	}
	// A failing load restores too.
	if _, err := LoadFrom(env(map[string]string{VarPollMax: "soon"})); err == nil {
		t.Fatal("no error for soon")
	}
	if v := os.Getenv(VarLogLevel); v != "debug" {
		t.Errorf("%s = %q after a failed LoadFrom", VarLogLevel, v)
	}
}

func TestUsageListsEveryVariable(t *testing.T) {
	var b bytes.Buffer
	Usage(&b)
	out := b.String()
	want := map[string]string{ // variable → default as printed
		"LINKDESK_ENVIRONMENT":             "sim",
		"LINKDESK_BANK_GUID":               "-",
		"LINKDESK_LANGUAGE":                "en",
		"LINKDESK_LINK_CUSTOMIZATION_NAME": "default",
		"LINKDESK_REDIRECT_URI":            "-",
		"LINKDESK_ASSET":                   "USD",
		"LINKDESK_BANK_API_URL":            "-",
		"LINKDESK_IDENTITY_API_URL":        "-",
		"LINKDESK_POLL_INITIAL":            "100ms",
		"LINKDESK_POLL_MAX":                "1s",
		"LINKDESK_WORKFLOW_TIMEOUT":        "60s",
		"LINKDESK_ACCOUNT_TIMEOUT":         "120s",
		"LINKDESK_LOG_LEVEL":               "info",
		"LINKDESK_SIM_ADDR":                "127.0.0.1:0",
		"LINKDESK_PLAID_SCRIPT_URL":        "-",
		"LINKDESK_PREFETCH":                "true",
	}
	// The OAuth route's variables.
	want["LINKDESK_OAUTH_ROUTE"] = "auto"
	want["LINKDESK_OAUTH_BROWSER_INSTITUTIONS"] = "ins_56,ins_3"
	want["LINKDESK_OAUTH_RETURN_PORT"] = "47615"
	seen := 0
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "LINKDESK_") {
			continue
		}
		seen++
		def, ok := want[f[0]]
		if !ok {
			t.Errorf("unexpected variable in usage: %q", line)
			continue
		}
		if len(f) < 4 {
			t.Errorf("usage line lacks type, default or description: %q", line)
			continue
		}
		if f[2] != def {
			t.Errorf("%s: default %q, want %q (line %q)", f[0], f[2], def, line)
		}
		typ := "String"
		if strings.Contains(f[0], "POLL") || strings.Contains(f[0], "TIMEOUT") {
			typ = "Duration"
		}
		if strings.HasSuffix(f[0], "_PORT") {
			typ = "Integer"
		}
		if f[0] == "LINKDESK_PREFETCH" {
			typ = "Boolean"
		}
		if f[1] != typ {
			t.Errorf("%s: type %q, want %q", f[0], f[1], typ)
		}
	}
	if seen != len(want) {
		t.Errorf("usage lists %d variables, want %d:\n%s", seen, len(want), out)
	}
	// The names in usage are the names Load reads.
	if got := varNames(); len(got) != len(want) {
		t.Errorf("varNames = %v", got)
	}
}

func TestEnvironmentValid(t *testing.T) {
	for _, e := range Environments {
		if !e.Valid() {
			t.Errorf("%q not valid", e)
		}
	}
	for _, e := range []Environment{"", "Sim", "staging", "prod"} {
		if e.Valid() {
			t.Errorf("%q valid", e)
		}
	}
}

func TestVarErrorIsInspectable(t *testing.T) {
	_, err := LoadFrom(env(map[string]string{VarAsset: "EUR"}))
	var ve *VarError
	if !errors.As(err, &ve) || ve.Name != VarAsset || ve.Value != "EUR" {
		t.Errorf("errors.As: %#v", ve)
	}
}

// Issue 14: LINKDESK_POLL_INITIAL=1ns LINKDESK_POLL_MAX=1ns made one link
// token cost 4,549 GET /api/workflows/{guid} in 3.3 s. Both are refused,
// each with the reason and the floor; the floor itself is accepted.
func TestPollsBelowTheFloorAreRefusedWithTheReason(t *testing.T) {
	_, err := LoadFrom(env(map[string]string{VarPollInitial: "1ns", VarPollMax: "1ns"}))
	if err == nil {
		t.Fatal("1ns polls were accepted")
	}
	errs := varErrors(t, err)
	if len(errs) != 2 || errs[0].Name != VarPollInitial || errs[1].Name != VarPollMax {
		t.Fatalf("errors %v, want one for %s and one for %s", err, VarPollInitial, VarPollMax)
	}
	for _, e := range errs {
		for _, w := range []string{`"1ns"`, "would flood Cybrid's API", "at least 50ms"} {
			if !strings.Contains(e.Error(), w) {
				t.Errorf("%q does not say %q", e.Error(), w)
			}
		}
	}
	c, err := LoadFrom(env(map[string]string{VarPollInitial: MinPoll.String(), VarPollMax: MinPoll.String()}))
	if err != nil || c.PollInitial != MinPoll || c.PollMax != MinPoll {
		t.Fatalf("the floor itself (%s) was refused: %v", MinPoll, err)
	}
}

func TestOAuthRouteVariables(t *testing.T) {
	c, err := LoadFrom(env(map[string]string{VarOAuthRoute: "browser", VarOAuthBrowserInstitutions: " ins_56 , ins_127287,", VarOAuthReturnPort: "0"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.OAuthBrowserInstitutions(); c.OAuthRoute != "browser" || c.OAuthReturnPort != 0 || len(got) != 2 || got[1] != "ins_127287" {
		t.Errorf("route %q, institutions %v, port %d", c.OAuthRoute, got, c.OAuthReturnPort)
	}
	c, err = LoadFrom(env(map[string]string{VarOAuthBrowserInstitutions: "none"}))
	if err != nil || len(c.OAuthBrowserInstitutions()) != 0 {
		t.Errorf("none: %v, %v", err, c)
	}
	_, err = LoadFrom(env(map[string]string{VarOAuthRoute: "sideways", VarOAuthBrowserInstitutions: "ins_56,Chase", VarOAuthReturnPort: "80"}))
	msgs := fmt.Sprint(err)
	for _, want := range []string{VarOAuthRoute + `="sideways" is not allowed: use auto, browser or popup`,
		`names "Chase", which is not a Plaid institution id`, VarOAuthReturnPort + `="80" is not a usable port`} {
		if !strings.Contains(msgs, want) {
			t.Errorf("errors %q lack %q", msgs, want)
		}
	}
	if _, err := LoadFrom(env(map[string]string{VarOAuthReturnPort: "4x"})); !strings.Contains(fmt.Sprint(err), "is not a whole number") {
		t.Errorf("port 4x: %v", err)
	}
}
