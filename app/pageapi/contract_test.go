package pageapi_test

import (
	"io/fs"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"linkdesk/app/pageapi"
	"linkdesk/assets"
)

// The page's mirror of the contract (assets/app/contract.js) names exactly
// the calls and pushes Go serves, and the page calls nothing else.
func TestThePageMirrorsTheContract(t *testing.T) {
	js := read(t, "contract.js")
	calls := quotedList(t, js, `export const CALLS = Object.freeze\(\[([^\]]*)\]\)`)
	if !slices.Equal(calls, pageapi.Calls()) {
		t.Errorf("contract.js CALLS = %v\nGo's calls       = %v", calls, pageapi.Calls())
	}
	pushes := regexp.MustCompile(`(?s)export const PUSH = Object.freeze\(\{(.*?)\}\)`).FindStringSubmatch(js)
	if pushes == nil {
		t.Fatal("contract.js has no PUSH")
	}
	var got []string
	for _, m := range regexp.MustCompile(`[A-Z_]+:\s*"([^"]+)"`).FindAllStringSubmatch(pushes[1], -1) {
		got = append(got, m[1])
	}
	sort.Strings(got)
	if !slices.Equal(got, pageapi.Pushes()) {
		t.Errorf("contract.js PUSH = %v\nGo's pushes     = %v", got, pageapi.Pushes())
	}

	// The page's other modules call Go only through contract.js, and only
	// by known names.
	var app string
	mods, _ := fs.Glob(assets.App(), "*.js")
	for _, m := range mods {
		if m == "contract.js" {
			continue
		}
		src := read(t, m)
		if strings.Contains(src, "fetch(") || strings.Contains(src, "linkdesk_rpc") {
			t.Errorf("%s reaches Go other than through contract.js's call", m)
		}
		app += src
	}
	used := regexp.MustCompile(`\bcall\(\s*"([^"]+)"`).FindAllStringSubmatch(app, -1)
	if len(used) < 10 {
		t.Fatalf("found only %d calls in the page; the pattern no longer matches it", len(used))
	}
	for _, m := range used {
		if !slices.Contains(calls, m[1]) {
			t.Errorf("the page calls %q, which the contract does not have", m[1])
		}
	}
	// Plaid's callbacks are forwarded by name through one function.
	for _, cb := range []string{"plaid.onLoad", "plaid.onEvent", "plaid.onExit", "plaid.onSuccess"} {
		if !strings.Contains(app, `"`+cb+`"`) {
			t.Errorf("the page does not forward %s", cb)
		}
	}
	for _, p := range regexp.MustCompile(`PUSH\.([A-Z_]+)`).FindAllStringSubmatch(app, -1) {
		if !strings.Contains(pushes[1], p[1]+":") {
			t.Errorf("the page handles PUSH.%s, which contract.js does not define", p[1])
		}
	}
}

// Every call is described with its parameters' JSON names.
func TestDescribeListsEveryCallWithItsParameters(t *testing.T) {
	d := pageapi.Describe()
	if len(d) != len(pageapi.Calls()) {
		t.Fatalf("Describe lists %d calls, Calls %d", len(d), len(pageapi.Calls()))
	}
	for _, want := range []string{"startRefresh {customer_guid, account_guid}", "plaid.onSuccess {attempt_id, seq, at, public_token, metadata}", "info {}"} {
		if !slices.Contains(d, want) {
			t.Errorf("Describe has no %q:\n%s", want, strings.Join(d, "\n"))
		}
	}
}

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := fs.ReadFile(assets.App(), name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func quotedList(t *testing.T, js, pattern string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?s)` + pattern).FindStringSubmatch(js)
	if m == nil {
		t.Fatalf("contract.js does not match %s", pattern)
	}
	var out []string
	for _, q := range regexp.MustCompile(`"([^"]+)"`).FindAllStringSubmatch(m[1], -1) {
		out = append(out, q[1])
	}
	return out
}
