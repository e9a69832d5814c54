// Package simlink is the tests' one client of the simulated Plaid Link's
// JSON API (package plaidsim): the calls the Link page makes, POSTed the way
// the page makes them (JSON, with the page's Origin), so that a test can go
// through Link without a window — the simulator's counterpart of Plaid's
// /sandbox/public_token/create.
//
// Three levels, each built on the one below:
//
//   - Client.Post, Try and Call: one call of the API by name ("init",
//     "open", "institution", "credentials", "mfa", "accounts", "exit",
//     "oauth/complete", "bank/decide", …), for tests of the API itself.
//   - Session: the calls of one Link session, which all carry the link
//     token and the link_session_id.
//   - Link: a whole successful Link as a customer goes through it, returning
//     what the page hands to onSuccess.
//
// It does not drive a window: the real-window tests use the page's own
// test driver.
package simlink

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"linkdesk/app/linkflow"
)

// APIPath is the path of the Link page's JSON API; a call's name follows it.
const APIPath = "/link/v2/stable/sim/"

// Sandbox choices Link makes unless told otherwise: the bank (First
// Platypus Bank, no OAuth) and Plaid's sandbox credentials.
const (
	Bank     = "ins_109508"
	Username = "user_good"
	Password = "pass_good"
)

// Client calls the Link API of one simulator. The zero value is not
// usable; New returns a Client that calls as a page served by the simulator
// itself does.
type Client struct {
	// URL is where the calls go: the simulator's Plaid base URL
	// (sim.Sim.PlaidURL), or a front's.
	URL string
	// Origin is the Origin header the calls carry (a page's origin); ""
	// sends none, as no browser does.
	Origin string
	// Host, when set, is the Host header (the hostname a front serves the
	// pages under).
	Host string
	// HTTP sends the calls (http.DefaultClient when nil).
	HTTP *http.Client
}

// New returns a Client for the simulator whose Plaid side is at plaidURL,
// calling from plaidURL's own origin as the Link page does.
func New(plaidURL string) *Client { return &Client{URL: plaidURL, Origin: plaidURL} }

// Post makes the call name with body as JSON and returns the HTTP status
// and the decoded answer. The error is for a call that got no JSON answer
// (transport failure, or a body that is not a JSON object); an error answer
// of the API is a status and an answer, not an error.
func (c *Client) Post(name string, body any) (int, map[string]any, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequest(http.MethodPost, c.URL+APIPath+name, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.Origin != "" {
		req.Header.Set("Origin", c.Origin)
	}
	if c.Host != "" {
		req.Host = c.Host
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("simulated Link %s: %w", name, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("simulated Link %s: HTTP %d, not a JSON object: %.200s", name, resp.StatusCode, raw)
	}
	return resp.StatusCode, out, nil
}

// Try is Post for a test: it fails t when the call got no JSON answer, and
// returns the status and the answer whatever the status.
func (c *Client) Try(t testing.TB, name string, body any) (int, map[string]any) {
	t.Helper()
	st, out, err := c.Post(name, body)
	if err != nil {
		t.Fatal(err)
	}
	return st, out
}

// Call is Try that also fails t unless the status is 200, and returns the
// answer.
func (c *Client) Call(t testing.TB, name string, body any) map[string]any {
	t.Helper()
	st, out := c.Try(t, name, body)
	if st != http.StatusOK {
		t.Fatalf("simulated Link %s: HTTP %d %v", name, st, out)
	}
	return out
}

// must is Post requiring 200, for Link.
func (c *Client) must(name string, body any) (map[string]any, error) {
	st, out, err := c.Post(name, body)
	if err == nil && st != http.StatusOK {
		err = fmt.Errorf("simulated Link %s: HTTP %d %v", name, st, out)
	}
	return out, err
}

// Session is one Link session of a link token.
type Session struct {
	c *Client
	// Token is the link token, ID the link_session_id open returned.
	Token, ID string
	// Opened is open's answer (in update mode it names the item's bank).
	Opened map[string]any
}

// Open loads Link for linkToken as the page does — init, then open — and
// returns the session open started; either call failing fails t.
func (c *Client) Open(t testing.TB, linkToken string) *Session {
	t.Helper()
	c.Call(t, "init", map[string]any{"link_token": linkToken})
	o := c.Call(t, "open", map[string]any{"link_token": linkToken})
	id, _ := o["link_session_id"].(string)
	if id == "" {
		t.Fatalf("simulated Link open: no link_session_id in %v", o)
	}
	return &Session{c: c, Token: linkToken, ID: id, Opened: o}
}

// Session returns the session id of linkToken, opened already (by an open
// call the test made itself, or by a resume).
func (c *Client) Session(linkToken, id string) *Session {
	return &Session{c: c, Token: linkToken, ID: id}
}

// Body is a call's body in this session: link_token, link_session_id and
// the key/value pairs kv (key1, value1, key2, value2, …).
func (s *Session) Body(kv ...any) map[string]any {
	m := map[string]any{"link_token": s.Token, "link_session_id": s.ID}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// Try is Client.Try of the call name with Body(kv...).
func (s *Session) Try(t testing.TB, name string, kv ...any) (int, map[string]any) {
	t.Helper()
	return s.c.Try(t, name, s.Body(kv...))
}

// Call is Client.Call of the call name with Body(kv...).
func (s *Session) Call(t testing.TB, name string, kv ...any) map[string]any {
	t.Helper()
	return s.c.Call(t, name, s.Body(kv...))
}

// Accounts returns the ids of the accounts an answer offers (Account
// Select's list, or a connected item's accounts).
func Accounts(answer map[string]any) []string {
	var ids []string
	list, _ := answer["accounts"].([]any)
	for _, a := range list {
		if m, ok := a.(map[string]any); ok {
			id, _ := m["id"].(string)
			ids = append(ids, id)
		}
	}
	return ids
}

// Linked is a successful Link: what the page hands to onSuccess.
type Linked struct {
	PublicToken string
	Metadata    linkflow.SuccessMetadata
}

// Link goes through Link for linkToken as a customer does: init and open;
// unless the token is in update mode (bound to its item's bank), Bank; the
// sandbox credentials; and, unless update mode connects at once, the
// accounts at the indexes given of those Account Select offers (the first
// when none is given). It returns an error when any step does not answer
// 200 or Link does not connect.
func (c *Client) Link(linkToken string, accounts ...int) (Linked, error) {
	if _, err := c.must("init", map[string]any{"link_token": linkToken}); err != nil {
		return Linked{}, err
	}
	open, err := c.must("open", map[string]any{"link_token": linkToken})
	if err != nil {
		return Linked{}, err
	}
	sid, _ := open["link_session_id"].(string)
	base := func(kv ...any) map[string]any {
		s := Session{Token: linkToken, ID: sid}
		return s.Body(kv...)
	}
	if open["institution"] == nil {
		if _, err := c.must("institution", base("institution_id", Bank)); err != nil {
			return Linked{}, err
		}
	}
	done, err := c.must("credentials", base("username", Username, "password", Password))
	if err != nil {
		return Linked{}, err
	}
	if done["status"] == "select_account" {
		offered := Accounts(done)
		if len(accounts) == 0 {
			accounts = []int{0}
		}
		var ids []string
		for _, i := range accounts {
			if i < 0 || i >= len(offered) {
				return Linked{}, fmt.Errorf("simulated Link offers %d accounts; there is no account %d", len(offered), i)
			}
			ids = append(ids, offered[i])
		}
		if done, err = c.must("accounts", base("account_ids", ids)); err != nil {
			return Linked{}, err
		}
	}
	pub, _ := done["public_token"].(string)
	if done["status"] != "connected" || pub == "" {
		return Linked{}, fmt.Errorf("simulated Link did not connect: %v", done)
	}
	return Linked{PublicToken: pub, Metadata: metadata(done, sid)}, nil
}

// Link is Client.Link on the simulator at plaidURL (see New) for a test:
// any failure fails t. It returns the public token and the onSuccess
// metadata.
func Link(t testing.TB, plaidURL, linkToken string, accounts ...int) (string, linkflow.SuccessMetadata) {
	t.Helper()
	l, err := New(plaidURL).Link(linkToken, accounts...)
	if err != nil {
		t.Fatal(err)
	}
	return l.PublicToken, l.Metadata
}

// metadata is what the Link page hands onSuccess for the connected answer
// v of session sid: the item's accounts and bank, and the session id.
func metadata(v map[string]any, sid string) linkflow.SuccessMetadata {
	var m linkflow.SuccessMetadata
	b, _ := json.Marshal(v["accounts"])
	json.Unmarshal(b, &m.Accounts)
	if v["institution"] != nil {
		b, _ = json.Marshal(v["institution"])
		json.Unmarshal(b, &m.Institution)
	}
	m.LinkSessionID = sid
	return m
}
