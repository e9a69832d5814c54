package config_test

import (
	"errors"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"linkdesk/app/config"
)

// fuzzVars are the variables FuzzLoadFrom sets, in the order of its
// arguments.
var fuzzVars = []string{
	config.VarEnvironment, config.VarBankGUID, config.VarLanguage, config.VarLinkCustomizationName,
	config.VarRedirectURI, config.VarAsset, config.VarBankAPIURL, config.VarIdentityAPIURL,
	config.VarPollInitial, config.VarPollMax, config.VarWorkflowTimeout, config.VarAccountTimeout,
	config.VarLogLevel,
}

// validBase is a configuration in which every variable is set and valid;
// FuzzLoadFrom changes two of them (or starts from nothing set).
var validBase = [13]string{"sandbox", "0b1d2c3e4f5a6b7c8d9e0f1a2b3c4d5e", "fr", "spanish_customization",
	"http://localhost:8080/oauth-return", "USD", "https://bank.sandbox.cybrid.app", "https://id.sandbox.cybrid.app",
	"250ms", "2s", "30s", "2m", "debug"}

// FuzzLoadFrom gives LoadFrom arbitrary values for two variables (chosen by
// index among all of them) on top of a configuration where the others are
// set to valid values (or all unset when bare is true). LoadFrom must not
// panic; a refusal must consist of VarErrors, each naming a variable that was
// set, in one readable line that says what is allowed; an accepted
// configuration must hold exactly the values that were set (or the defaults)
// and nothing the documentation forbids; the process environment must be
// left as it was.
func FuzzLoadFrom(f *testing.F) {
	type seed struct {
		bare bool
		a    uint8
		va   string
		b    uint8
		vb   string
	}
	idx := func(name string) uint8 { return uint8(slices.Index(fuzzVars, name)) }
	seeds := []seed{
		{true, 0, "", 0, ""},
		{false, idx(config.VarEnvironment), "production", idx(config.VarRedirectURI), "https://linkdesk.example.com/oauth-return"},
		{false, idx(config.VarEnvironment), "production", idx(config.VarRedirectURI), "http://localhost:8080/oauth-return"},
		{false, idx(config.VarBankGUID), strings.Repeat("A", 32), idx(config.VarLanguage), "xx"},
		{false, idx(config.VarLinkCustomizationName), strings.Repeat("n", 129), idx(config.VarAsset), "EUR"},
		{false, idx(config.VarRedirectURI), "http://example.com/r?x#y", idx(config.VarBankAPIURL), "http://example.com"},
		{false, idx(config.VarIdentityAPIURL), "ftp://u:p@127.0.0.1", idx(config.VarPollInitial), "-1s"},
		{false, idx(config.VarPollInitial), "5s", idx(config.VarPollMax), "1s"},
		{true, idx(config.VarPollMax), "10ms", idx(config.VarWorkflowTimeout), "10ms"},
		{false, idx(config.VarAccountTimeout), "soon", idx(config.VarLogLevel), "trace"},
		{false, idx(config.VarEnvironment), "Sim ", idx(config.VarLanguage), "en\n"},
		{false, idx(config.VarLinkCustomizationName), "tab\tname", idx(config.VarRedirectURI), "https://user:pw@example.com/r"},
		{false, idx(config.VarBankAPIURL), "http://127.0.0.1:9/api/", idx(config.VarIdentityAPIURL), "http://[::1]:8/"},
		{false, idx(config.VarRedirectURI), "myapp://return", idx(config.VarBankAPIURL), "https://bank.example.com/#frag"},
		{false, idx(config.VarEnvironment), "sim\x00", idx(config.VarBankGUID), "0b1d2c3e4f5a6b7c8d9e0f1a2b3c4d5e\x00"},
	}
	// Valid values of each variable, for the fuzzer to mutate one at a time.
	for i, v := range validBase {
		seeds = append(seeds, seed{false, uint8(i), v, uint8(i), v}, seed{true, uint8(i), v, uint8(i), v})
	}
	for _, s := range seeds {
		f.Add(s.bare, s.a, s.va, s.b, s.vb)
	}
	// The process environment LoadFrom must leave alone, including values
	// that a failed os.Setenv would leave in place.
	before := map[string]string{}
	for _, k := range fuzzVars {
		if v, ok := os.LookupEnv(k); ok {
			before[k] = v
		}
	}
	f.Cleanup(func() {
		for _, k := range fuzzVars {
			if v, ok := before[k]; ok {
				os.Setenv(k, v)
			} else {
				os.Unsetenv(k)
			}
		}
	})
	os.Setenv(config.VarEnvironment, "production")
	os.Setenv(config.VarBankGUID, "ffffffffffffffffffffffffffffffff")
	os.Unsetenv(config.VarLanguage)
	f.Fuzz(func(t *testing.T, bare bool, a uint8, va string, b uint8, vb string) {
		set := map[string]string{}
		if !bare {
			for i, k := range fuzzVars {
				set[k] = validBase[i]
			}
		}
		for _, kv := range []struct {
			i uint8
			v string
		}{{a, va}, {b, vb}} {
			k := fuzzVars[int(kv.i)%len(fuzzVars)]
			if kv.v == "" {
				delete(set, k) // empty means unset
			} else {
				set[k] = kv.v
			}
		}
		envBefore := snapshotEnv()
		c, err := config.LoadFrom(func(k string) (string, bool) { v, ok := set[k]; return v, ok })
		if after := snapshotEnv(); !maps(envBefore, after) {
			t.Fatalf("LoadFrom changed the process environment: %v → %v", envBefore, after)
		}
		if err != nil {
			checkRefusal(t, err, set)
			return
		}
		checkAccepted(t, c, set)
	})
}

func snapshotEnv() map[string]string {
	m := map[string]string{}
	for _, k := range fuzzVars {
		if v, ok := os.LookupEnv(k); ok {
			m[k] = v
		} else {
			m[k] = "(unset)"
		}
	}
	return m
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// checkRefusal: every problem is a VarError about a variable that was set,
// whose text starts with the variable's name and says what is allowed.
func checkRefusal(t *testing.T, err error, set map[string]string) {
	t.Helper()
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	if len(list) == 0 {
		t.Fatalf("refusal without a problem: %q", err)
	}
	for _, e := range list {
		var ve *config.VarError
		if !errors.As(e, &ve) {
			t.Fatalf("problem %q (%T) is not a *config.VarError naming the variable", e, e)
		}
		if _, ok := set[ve.Name]; !ok {
			t.Errorf("problem %q is about %s, which was not set (its default must be valid)", e, ve.Name)
		}
		msg := e.Error()
		if !strings.HasPrefix(msg, ve.Name+"=") {
			t.Errorf("problem %q does not start with the variable's name", msg)
		}
		if !utf8.ValidString(msg) || strings.ContainsAny(msg, "\n\r\x00") {
			t.Errorf("problem %q is not one readable line", msg)
		}
		if !regexp.MustCompile(`\b(use|remove|lower|raise|only|at most)\b`).MatchString(ve.Reason) {
			t.Errorf("problem %q does not say what to do", msg)
		}
	}
}

// checkAccepted: an accepted configuration holds what was set (or the
// default) and nothing the documentation forbids.
func checkAccepted(t *testing.T, c *config.Config, set map[string]string) {
	t.Helper()
	want := func(name, got, def string) {
		t.Helper()
		w, ok := set[name]
		if !ok {
			w = def
		}
		if got != w {
			t.Errorf("%s: set to %q, the configuration holds %q", name, w, got)
		}
	}
	want(config.VarEnvironment, string(c.Environment), "sim")
	want(config.VarBankGUID, c.BankGUID, "")
	want(config.VarLanguage, c.Language, "en")
	want(config.VarLinkCustomizationName, c.LinkCustomizationName, "default")
	want(config.VarRedirectURI, c.RedirectURI, "")
	want(config.VarAsset, c.Asset, "USD")
	want(config.VarBankAPIURL, c.BankAPIURL, "")
	want(config.VarIdentityAPIURL, c.IdentityAPIURL, "")
	want(config.VarLogLevel, c.LogLevel, "info")
	durations := []struct {
		name string
		got  time.Duration
		def  time.Duration
	}{
		{config.VarPollInitial, c.PollInitial, 100 * time.Millisecond},
		{config.VarPollMax, c.PollMax, time.Second},
		{config.VarWorkflowTimeout, c.WorkflowTimeout, 60 * time.Second},
		{config.VarAccountTimeout, c.AccountTimeout, 120 * time.Second},
	}
	for _, d := range durations {
		w := d.def
		if s, ok := set[d.name]; ok {
			var err error
			if w, err = time.ParseDuration(s); err != nil {
				t.Errorf("%s=%q is not a duration, yet it was accepted", d.name, s)
			}
		}
		if d.got != w {
			t.Errorf("%s: want %v, the configuration holds %v", d.name, w, d.got)
		}
	}

	if !c.Environment.Valid() {
		t.Errorf("accepted environment %q", c.Environment)
	}
	if c.BankGUID != "" && !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(c.BankGUID) {
		t.Errorf("accepted bank GUID %q", c.BankGUID)
	}
	if !slices.Contains([]string{"en", "fr", "es", "nl", "de"}, c.Language) {
		t.Errorf("accepted language %q", c.Language)
	}
	if n := utf8.RuneCountInString(c.LinkCustomizationName); n > config.MaxLinkCustomizationNameLen {
		t.Errorf("accepted a link customization name of %d characters", n)
	}
	if strings.IndexFunc(c.LinkCustomizationName, unicode.IsControl) >= 0 {
		t.Errorf("accepted a link customization name with a control character: %q", c.LinkCustomizationName)
	}
	if c.Asset != "USD" || !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		t.Errorf("accepted asset %q / log level %q", c.Asset, c.LogLevel)
	}
	if c.PollInitial < config.MinPoll || c.PollMax < c.PollInitial || c.WorkflowTimeout < config.MinTimeout || c.AccountTimeout < config.MinTimeout {
		t.Errorf("accepted durations %v %v %v %v", c.PollInitial, c.PollMax, c.WorkflowTimeout, c.AccountTimeout)
	}
	if r := c.RedirectURI; r != "" {
		u, err := url.Parse(r)
		if err != nil || utf8.RuneCountInString(r) > config.MaxRedirectURILen || (u.Scheme != "https" && u.Scheme != "http") ||
			u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.Contains(r, "#") ||
			(u.Scheme == "http" && (c.Environment == config.Production || u.Hostname() != "localhost" && u.Hostname() != "127.0.0.1" && !strings.EqualFold(u.Hostname(), "localhost"))) {
			t.Errorf("accepted redirect URI %q in %s", r, c.Environment)
		}
	}
	for _, b := range []struct{ name, v string }{{config.VarBankAPIURL, c.BankAPIURL}, {config.VarIdentityAPIURL, c.IdentityAPIURL}} {
		if b.v == "" {
			continue
		}
		u, err := url.Parse(b.v)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			t.Errorf("accepted %s=%q", b.name, b.v)
			continue
		}
		if u.Scheme == "http" {
			if h := u.Hostname(); !strings.EqualFold(h, "localhost") && !isLoopbackIP(h) {
				t.Errorf("accepted %s=%q: http for a non-loopback host", b.name, b.v)
			}
		}
	}
}

func isLoopbackIP(h string) bool {
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
