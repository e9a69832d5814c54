// Package contract validates HTTP traffic against Cybrid's published OpenAPI
// specifications, for tests of both sides of the wire: the API client
// (app/cybrid) and the simulator (app/sim).
//
// The specs are Cybrid's files and are not part of this repository. They are
// looked up in $LINKDESK_SPEC_DIR, else in shared/reference beside the
// checkout (../shared/reference from the module root), which is where CI puts
// them.
//
// Two kinds of test use them. A contract test exists to compare traffic with
// the specs: it calls Load, which skips it when the specs are absent. A
// behaviour test (the simulator's own, the flow rig's) stands without them:
// it calls Optional and validates only when they are present. With
// LINKDESK_REQUIRE_SPECS=1 (set by the test task, as LINKDESK_REQUIRE_DISPLAY
// and LINKDESK_REQUIRE_KEYRING are) absent specs fail both kinds instead: CI
// cannot pass by skipping what it was meant to check.
package contract

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"linkdesk/app/internal/testneeds"
)

// File names of Cybrid's specs inside the spec directory.
const (
	BankSpecFile     = "cybrid-bank-openapi.yaml"
	IdentitySpecFile = "cybrid-identity-openapi.yaml"
)

// Spec is one loaded OpenAPI document with a router over its paths.
type Spec struct {
	Doc    *openapi3.T
	router routers.Router
}

var (
	cacheMu sync.Mutex
	cache   = map[string]*Spec{}
)

// Dir returns the directory holding Cybrid's specs, or "" when none is found.
func Dir() string {
	if d := os.Getenv("LINKDESK_SPEC_DIR"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	// Walk up to the module root (the directory holding go.mod), then look
	// beside it.
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			cand := filepath.Join(filepath.Dir(d), "shared", "reference")
			if _, err := os.Stat(filepath.Join(cand, BankSpecFile)); err == nil {
				return cand
			}
			return ""
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

const missing = "Cybrid's OpenAPI specs not found (set LINKDESK_SPEC_DIR to the directory holding " + BankSpecFile + ", or put shared/reference beside the checkout)"

// Load returns the named spec (BankSpecFile or IdentitySpecFile) for a test
// whose point is the comparison with it. When the specs are absent it skips
// the test, or fails it when LINKDESK_REQUIRE_SPECS=1.
func Load(t testing.TB, file string) *Spec {
	t.Helper()
	dir := Dir()
	if dir == "" {
		testneeds.Missing(t, testneeds.Specs, "contract: %s", missing)
	}
	return load(t, filepath.Join(dir, file))
}

// Optional returns the named spec when present and nil otherwise, for a test
// that stands without it and validates when it can (a nil Spec in a
// Transport passes traffic through unchecked). With LINKDESK_REQUIRE_SPECS=1
// absent specs fail the test.
func Optional(t testing.TB, file string) *Spec {
	t.Helper()
	dir := Dir()
	if dir == "" {
		if testneeds.Required(testneeds.Specs) {
			t.Fatalf("contract: %s=1 but %s", testneeds.Specs, missing)
		}
		t.Logf("contract: %s; traffic is not checked against them", missing)
		return nil
	}
	return load(t, filepath.Join(dir, file))
}

func load(t testing.TB, path string) *Spec {
	t.Helper()
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if s, ok := cache[path]; ok {
		return s
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		t.Fatalf("contract: load %s: %v", path, err)
	}
	// Cybrid's examples use placeholder strings that violate their own
	// schemas ("guid" for a 32-char field); schemas themselves are sound.
	if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
		t.Fatalf("contract: %s is not a valid OpenAPI document: %v", path, err)
	}
	// Route on paths only: the servers listed are Cybrid's hosts, while tests
	// talk to loopback.
	doc.Servers = nil
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("contract: router for %s: %v", path, err)
	}
	s := &Spec{Doc: doc, router: r}
	cache[path] = s
	return s
}

// Enum returns the values of the named enum schema in components/schemas
// (e.g. "WorkflowState", "ExternalBankAccountState"), or nil when there is no
// such schema. The spec often types a state field as a plain string and keeps
// its allowed values in a separate enum schema; tests check values with this.
func (s *Spec) Enum(schema string) []string {
	ref, ok := s.Doc.Components.Schemas[schema]
	if !ok || ref.Value == nil {
		return nil
	}
	var out []string
	for _, v := range ref.Value.Enum {
		if str, ok := v.(string); ok {
			out = append(out, str)
		}
	}
	return out
}

// route returns the spec operation for method and path, or an error when
// the spec has none (an undocumented endpoint).
func (s *Spec) route(method, rawURL string) (*routers.Route, map[string]string, *http.Request, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, nil, err
	}
	// Strip scheme/host: the router was built without servers.
	u2 := &url.URL{Path: u.Path, RawQuery: u.RawQuery}
	req, _ := http.NewRequest(method, u2.String(), nil)
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s %s is not an operation of the spec: %w", method, u.Path, err)
	}
	return route, params, req, nil
}

func options() *openapi3filter.Options {
	return &openapi3filter.Options{
		// Authentication is exercised by the tests themselves.
		AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
		IncludeResponseStatus: true,
		MultiError:            true,
	}
}

// CheckRequest validates a request (method, URL with query, JSON body) against
// the spec. It returns nil when the request is a valid call of a documented
// operation.
func (s *Spec) CheckRequest(method, rawURL string, header http.Header, body []byte) error {
	route, params, req, err := s.route(method, rawURL)
	if err != nil {
		return err
	}
	req.Header = header.Clone()
	if body != nil {
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: options()}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s: request does not match the spec: %w", method, req.URL.Path, err)
	}
	return nil
}

// CheckResponse validates a response to a request against the spec: the status
// must be documented for the operation and the body must match its schema.
func (s *Spec) CheckResponse(method, rawURL string, reqHeader http.Header, status int, header http.Header, body []byte) error {
	route, params, req, err := s.route(method, rawURL)
	if err != nil {
		return err
	}
	req.Header = reqHeader.Clone()
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: options()}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 status,
		Header:                 header,
		Options:                options(),
	}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return fmt.Errorf("%s %s → %d: response does not match the spec: %w", method, req.URL.Path, status, err)
	}
	return nil
}

// Transport is an http.RoundTripper that validates every request it sends and
// every response it receives against the spec, and records failures. Use it
// under a client in tests; call Errors (or Check) at the end. With a nil Spec
// (see Optional) it passes everything through and Check asserts nothing.
//
// Requests whose path is not under /api/ (e.g. /oauth/token) are passed
// through unchecked: the bank spec does not describe them.
type Transport struct {
	Spec *Spec
	Base http.RoundTripper

	mu      sync.Mutex
	errs    []error
	checked int
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if t.Spec == nil || !strings.HasPrefix(req.URL.Path, "/api/") {
		return base.RoundTrip(req)
	}
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		body = b
		req.Body = io.NopCloser(bytes.NewReader(b))
	}
	t.record(t.Spec.CheckRequest(req.Method, req.URL.String(), req.Header, body))
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	rb, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(rb))
	t.record(t.Spec.CheckResponse(req.Method, req.URL.String(), req.Header, resp.StatusCode, resp.Header, rb))
	return resp, nil
}

func (t *Transport) record(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.checked++
	if err != nil {
		t.errs = append(t.errs, err)
	}
}

// Errors returns every contract violation seen so far and how many messages
// were checked.
func (t *Transport) Errors() (errs []error, checked int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]error(nil), t.errs...), t.checked
}

// Check fails the test for every violation seen, and when nothing was checked
// at all (a contract test that validated nothing proves nothing).
func (t *Transport) Check(tb testing.TB) {
	tb.Helper()
	if t.Spec == nil {
		return
	}
	errs, n := t.Errors()
	if n == 0 {
		tb.Fatalf("contract: no request or response was validated")
	}
	for _, e := range errs {
		tb.Errorf("contract: %v", e)
	}
}
