package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"testing"
	"time"
)

// problemErr is an error that describes itself for the page (PageProblem),
// as package problem's errors do.
type problemErr struct {
	msg string
	p   any
}

func (e problemErr) Error() string    { return e.msg }
func (e problemErr) PageProblem() any { return e.p }

// TestFailedCallCarriesItsProblem: a call whose error describes itself is
// answered {"error", "problem"} — also when the error is wrapped — so that
// the page can tell a failed list from an empty one and say what to do; a
// plain error is answered {"error"} only, and a problem that is not a JSON
// object is left out.
func TestFailedCallCarriesItsProblem(t *testing.T) {
	srv := newTestServer(t)
	problem := map[string]string{"kind": "network", "headline": "linkdesk cannot reach Cybrid: check this computer's network connection, then try again."}
	srv.SetCalls(Calls{Serve: func(ctx context.Context, method string, params []byte) (any, error) {
		switch method {
		case "listCustomers":
			return nil, fmt.Errorf("listing customers failed: %w", problemErr{"cybrid: GET /api/customers: dial tcp: connection refused", problem})
		case "plain":
			return nil, errors.New("type a name or a customer GUID to search")
		case "odd":
			return nil, problemErr{"odd", "not an object"}
		case "unknown":
			return nil, fmt.Errorf("%w %q", ErrUnknownCall, method)
		}
		return map[string]any{"customers": []any{}, "total": 0}, nil
	}})
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	resp, err := c.Get(srv.LaunchURL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	call := func(method string) (int, map[string]json.RawMessage) {
		req, _ := http.NewRequest("POST", srv.URL+callPath+method, bytes.NewReader([]byte(`{}`)))
		req.Header.Set("Origin", srv.URL)
		req.Header.Set(CallHeader, srv.Secret)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]json.RawMessage
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("%s: answer is not a JSON object: %v", method, err)
		}
		return resp.StatusCode, body
	}

	st, body := call("listCustomers")
	if st != http.StatusUnprocessableEntity {
		t.Errorf("failed list: status %d", st)
	}
	var got map[string]string
	if err := json.Unmarshal(body["problem"], &got); err != nil || got["kind"] != "network" || got["headline"] != problem["headline"] {
		t.Errorf("failed list: problem %s (%v)", body["problem"], err)
	}
	var msg string
	if json.Unmarshal(body["error"], &msg); msg != "listing customers failed: cybrid: GET /api/customers: dial tcp: connection refused" {
		t.Errorf("failed list: error %q", msg)
	}

	st, body = call("empty")
	if _, failed := body["error"]; st != http.StatusOK || failed || string(body["total"]) != "0" {
		t.Errorf("empty list: status %d, %v", st, body)
	}

	for _, m := range []string{"plain", "odd"} {
		st, body = call(m)
		if _, ok := body["problem"]; st != http.StatusUnprocessableEntity || ok || len(body["error"]) == 0 {
			t.Errorf("%s: status %d, body %v: want 422 with an error and no problem", m, st, body)
		}
	}
	if st, _ = call("unknown"); st != http.StatusNotFound {
		t.Errorf("unknown call: status %d", st)
	}
}
