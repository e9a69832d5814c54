package timeline_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/html"

	"linkdesk/app/cybrid"
	"linkdesk/app/internal/simlink"
	"linkdesk/app/linkflow"
	"linkdesk/app/sim"
	"linkdesk/app/timeline"
)

// rig is the real flow over the real Cybrid client against the real
// simulator on loopback, with a Recorder fed by both observers exactly as
// the session wires it.
type rig struct {
	t     *testing.T
	sim   *sim.Sim
	flow  *linkflow.Flow
	rec   *timeline.Recorder
	snaps chan linkflow.Attempt
	dir   string
}

func newRig(t *testing.T, env string) *rig {
	t.Helper()
	s, err := sim.Start(sim.Options{WorkflowDelay: 150 * time.Millisecond, AccountDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := &rig{t: t, sim: s, snaps: make(chan linkflow.Attempt, 1000), dir: t.TempDir()}
	r.rec = timeline.New(timeline.Options{
		Environment: env, BankGUID: s.Cybrid.BankGUID(), Version: "1.2.3-test",
		Dir: r.dir, Secrets: []string{s.ClientSecret},
	})
	c, err := cybrid.New(cybrid.Options{BankURL: s.BankURL, IdentityURL: s.IdentityURL, ClientID: s.ClientID, ClientSecret: s.ClientSecret,
		HTTPClient: &http.Client{Timeout: 10 * time.Second}, Observer: r.rec.ObserveCall})
	if err != nil {
		t.Fatal(err)
	}
	r.flow = linkflow.New(c, linkflow.Settings{Language: "en", Asset: "USD", LinkCustomizationName: "default",
		PollInitial: 20 * time.Millisecond, PollMax: 100 * time.Millisecond}, nil,
		func(a linkflow.Attempt, ev linkflow.Event) {
			r.rec.ObserveAttempt(a, ev)
			r.snaps <- a
		})
	t.Cleanup(r.flow.Close)
	return r
}

func (r *rig) until(id string, want linkflow.State) linkflow.Attempt {
	r.t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case a := <-r.snaps:
			if a.ID != id {
				continue
			}
			if a.State == want {
				return a
			}
			if a.State.Final() {
				r.t.Fatalf("attempt ended %s (%s: %s), want %s", a.State, a.Code, a.Error, want)
			}
		case <-timeout:
			r.t.Fatalf("attempt not %s after 15s", want)
		}
	}
}

// linkInPlaid goes through the simulated Link for one account.
func (r *rig) linkInPlaid(linkToken string) (string, linkflow.SuccessMetadata) {
	r.t.Helper()
	return simlink.Link(r.t, r.sim.PlaidURL, linkToken, 1)
}

// A canary the page might forward by mistake inside Plaid metadata.
const (
	canaryPublic = "public-sandbox-0c4a11e5-ca9a-4d1e-9d11-5ec2e7c0ffee"
	canaryJWT    = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjYW5hcnkifQ.c2lnbmF0dXJlY2FuYXJ5"
	canaryLink   = "link-production-5a1e0000-c0de-4bad-8bad-0000feedface"
)

// linkedAttempt runs one whole link attempt through the flow, feeding the
// page-side callbacks the way the desk forwards them, and returns it with
// its link and public tokens.
func (r *rig) linkedAttempt() (linkflow.Attempt, string, string) {
	t := r.t
	cust := r.sim.Cybrid.Customers()[0].GUID
	a, err := r.flow.StartLink(cust)
	if err != nil {
		t.Fatal(err)
	}
	open := r.until(a.ID, linkflow.LinkOpen)
	if err := r.flow.Loaded(a.ID); err != nil {
		t.Fatal(err)
	}
	r.flow.PlaidEvent(a.ID, "OPEN", map[string]any{"link_session_id": "sess-1", "view_name": nil, "timestamp": "2025-01-01T00:00:00Z"})
	r.flow.PlaidEvent(a.ID, "SELECT_INSTITUTION", map[string]any{"institution_id": "ins_109508", "institution_name": "First Platypus Bank",
		"public_token": canaryPublic, "note": "Bearer " + canaryJWT, "echo": "token " + canaryPublic + " for " + canaryLink})
	r.flow.LinkWindowEvent("The bank's sign-in window opened", map[string]any{"popup": "opened"})
	pub, meta := r.linkInPlaid(open.LinkToken)
	r.flow.PlaidEvent(a.ID, "HANDOFF", map[string]any{"link_session_id": meta.LinkSessionID})
	if err := r.flow.Success(a.ID, pub, meta); err != nil {
		t.Fatal(err)
	}
	done := r.until(a.ID, linkflow.Done)
	return done, open.LinkToken, pub
}

func TestTimelineHoldsEveryStepOfALinkAttempt(t *testing.T) {
	r := newRig(t, "sim")
	a, _, _ := r.linkedAttempt()
	entries := r.rec.Entries(a.ID, 0)

	var states []string
	api := map[string][]int{} // "METHOD path" → statuses
	var kinds = map[timeline.Kind]int{}
	var lastSeq int64
	for _, e := range entries {
		if e.Seq <= lastSeq {
			t.Errorf("entries out of order: seq %d after %d", e.Seq, lastSeq)
		}
		lastSeq = e.Seq
		if e.Time.Location() != time.UTC {
			t.Errorf("entry %d time is not UTC: %v", e.Seq, e.Time)
		}
		kinds[e.Kind]++
		if e.AttemptID == a.ID && e.Kind != timeline.KindAPI {
			// Every attempt entry says the state after it; the one that
			// moved the attempt on says where from.
			s, _ := e.Data["state"].(string)
			from, _ := e.Data["from"].(string)
			switch {
			case s == "":
				t.Errorf("entry %d (%s) does not say the state", e.Seq, e.Message)
			case len(states) == 0:
				states = append(states, s)
			case from != "":
				if from != states[len(states)-1] {
					t.Errorf("entry %d moves from %s, but the attempt was %s", e.Seq, from, states[len(states)-1])
				}
				states = append(states, s)
			case s != states[len(states)-1]:
				t.Errorf("entry %d says %s without a from (was %s)", e.Seq, s, states[len(states)-1])
			}
		}
		switch e.Kind {
		case timeline.KindAPI:
			if e.AttemptID != a.ID {
				continue // a token request shown alongside
			}
			key := e.Data["method"].(string) + " " + e.Data["path"].(string)
			api[key] = append(api[key], e.Data["status"].(int))
			if d, _ := e.Data["duration_ms"].(float64); d <= 0 {
				t.Errorf("%s has no duration: %v", key, e.Data)
			}
		}
	}
	want := []string{"creating_workflow", "waiting_for_token", "link_open", "creating_account", "waiting_for_account", "done"}
	if strings.Join(states, ",") != strings.Join(want, ",") {
		t.Errorf("state changes = %v, want %v", states, want)
	}
	checkCalls := func(key string, status int, atLeast int) {
		t.Helper()
		got := api[key]
		if len(got) < atLeast {
			t.Errorf("%s: %d calls attributed to the attempt, want at least %d (all API entries: %v)", key, len(got), atLeast, api)
			return
		}
		if got[len(got)-1] != status {
			t.Errorf("%s: last status %d, want %d", key, got[len(got)-1], status)
		}
	}
	checkCalls("POST /api/workflows", 201, 1)
	checkCalls("GET /api/workflows/"+a.WorkflowGUID, 200, 1)
	checkCalls("POST /api/external_bank_accounts", 201, 1)
	checkCalls("GET /api/external_bank_accounts/"+a.AccountGUID, 200, 1)
	for _, k := range []timeline.Kind{timeline.KindPlaidCallback, timeline.KindPlaidEvent, timeline.KindLinkWindow} {
		if kinds[k] == 0 {
			t.Errorf("no %s entry in the attempt's timeline", k)
		}
	}
	if kinds[timeline.KindPlaidEvent] != 3 {
		t.Errorf("%d Plaid events, want the 3 fed", kinds[timeline.KindPlaidEvent])
	}
	// The POST that created the workflow comes before the state it led to.
	var postSeq, waitSeq int64
	for _, e := range entries {
		if e.Kind == timeline.KindAPI && e.Data["path"] == "/api/workflows" && postSeq == 0 {
			postSeq = e.Seq
		}
		if e.Kind == timeline.KindState && e.Data["state"] == "waiting_for_token" && waitSeq == 0 {
			waitSeq = e.Seq
		}
	}
	if !(postSeq > 0 && postSeq < waitSeq) {
		t.Errorf("POST /api/workflows (seq %d) is not before waiting_for_token (seq %d)", postSeq, waitSeq)
	}
	// The token request is session-level, shown in the attempt's export.
	session := r.rec.Entries("", 0)
	var token bool
	for _, e := range session {
		if e.Kind == timeline.KindAPI && e.Data["path"] == "/oauth/token" {
			token = true
			if e.AttemptID != "" {
				t.Errorf("token request attributed to attempt %s", e.AttemptID)
			}
		}
	}
	if !token {
		t.Error("no POST /oauth/token in the session timeline")
	}
	// The summary.
	s, ok := r.rec.Attempt(a.ID)
	if !ok || s.State != linkflow.Done || !s.Ended || s.WorkflowGUID != a.WorkflowGUID || s.AccountGUID != a.AccountGUID ||
		s.CustomerGUID != a.CustomerGUID || s.DurationMS <= 0 || s.EndedAt.IsZero() {
		t.Errorf("summary = %+v", s)
	}
}

func TestExportsRoundTripAndCarryNoSecret(t *testing.T) {
	r := newRig(t, "sim")
	a, linkToken, pub := r.linkedAttempt()
	// A second attempt that ends with a Plaid error, for the session report.
	b, _ := r.flow.StartLink(r.sim.Cybrid.Customers()[1].GUID)
	r.until(b.ID, linkflow.LinkOpen)
	r.flow.Loaded(b.ID)
	r.flow.PlaidEvent(b.ID, "ERROR", map[string]any{"error_code": "INVALID_CREDENTIALS", "error_type": "ITEM_ERROR", "view_name": "CREDENTIAL", "institution_name": "First Platypus Bank"})
	status := "requires_credentials"
	r.flow.Exit(b.ID, &linkflow.LinkError{ErrorType: "ITEM_ERROR", ErrorCode: "INVALID_CREDENTIALS", ErrorMessage: "the provided credentials were not correct"},
		linkflow.ExitMetadata{Status: &status, LinkSessionID: "sess-2", RequestID: "req-2", Institution: &linkflow.Institution{Name: "First Platypus Bank", InstitutionID: "ins_109508"}})
	r.until(b.ID, linkflow.Failed)

	files, err := r.rec.Export(a.ID, timeline.JSONL, timeline.HTML)
	if err != nil {
		t.Fatal(err)
	}
	sessionFiles, err := r.rec.Export("", timeline.JSONL, timeline.HTML)
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, sessionFiles...)
	if dir := os.Getenv("LINKDESK_ARTIFACTS"); dir != "" {
		// Kept for people (and screenshots) to look at.
		os.MkdirAll(filepath.Join(dir, "timeline"), 0o755)
		for _, f := range sessionFiles {
			b, _ := os.ReadFile(f.Path)
			os.WriteFile(filepath.Join(dir, "timeline", "session-report."+string(f.Format)), b, 0o644)
		}
	}
	if len(files) != 4 {
		t.Fatalf("files = %+v", files)
	}
	nameRE := regexp.MustCompile(`^linkdesk-sim-(attempt-[0-9a-f]+|session)-\d{8}T\d{6}Z(-\d+)?\.(jsonl|html)$`)
	forbidden := map[string]string{
		"link token": linkToken, "public token": pub, "client secret": r.sim.ClientSecret,
		"canary public token": canaryPublic, "canary JWT": canaryJWT, "canary link token": canaryLink,
		"canary link token's tail":   strings.TrimPrefix(canaryLink, "link-production-"),
		"canary public token's tail": strings.TrimPrefix(canaryPublic, "public-sandbox-"),
		"link token's tail":          strings.TrimPrefix(linkToken, "link-sandbox-"),
	}
	for _, f := range files {
		if filepath.Dir(f.Path) != r.dir || !nameRE.MatchString(filepath.Base(f.Path)) {
			t.Errorf("export at %s: want %s/linkdesk-sim-<attempt-id|session>-<time>.<ext>", f.Path, r.dir)
		}
		fi, err := os.Stat(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f.Path, fi.Mode().Perm())
		}
		if fi.Size() != int64(f.Bytes) {
			t.Errorf("%s is %d bytes, result says %d", f.Path, fi.Size(), f.Bytes)
		}
		b, _ := os.ReadFile(f.Path)
		for what, v := range forbidden {
			if v != "" && bytes.Contains(b, []byte(v)) {
				t.Errorf("%s contains the %s", filepath.Base(f.Path), what)
			}
		}
		for _, guid := range []string{a.WorkflowGUID, a.AccountGUID, a.CustomerGUID, a.ID} {
			if !bytes.Contains(b, []byte(guid)) {
				t.Errorf("%s lacks %s", filepath.Base(f.Path), guid)
			}
		}
		if !bytes.Contains(b, []byte("[redacted link token]")) || bytes.Contains(b, []byte("link-sandbox-")) || bytes.Contains(b, []byte("public-sandbox-")) {
			t.Errorf("%s does not show that a link token was redacted, or shows a token prefix", filepath.Base(f.Path))
		}
		switch f.Format {
		case timeline.JSONL:
			checkJSONL(t, b, a)
		case timeline.HTML:
			checkHTML(t, b, a)
		}
	}
}

func checkJSONL(t *testing.T, b []byte, a linkflow.Attempt) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	var h timeline.Header
	n := 0
	kinds := map[string]bool{}
	for sc.Scan() {
		line := sc.Bytes()
		dec := json.NewDecoder(bytes.NewReader(line))
		if n == 0 {
			dec.DisallowUnknownFields()
			if err := dec.Decode(&h); err != nil {
				t.Fatalf("header line does not parse: %v: %s", err, line)
			}
		} else {
			var e timeline.Entry
			dec.DisallowUnknownFields()
			if err := dec.Decode(&e); err != nil {
				t.Fatalf("line %d does not parse as an entry: %v: %s", n+1, err, line)
			}
			if e.Time.IsZero() || e.Kind == "" || e.Message == "" {
				t.Errorf("line %d is incomplete: %s", n+1, line)
			}
			var raw map[string]any
			json.Unmarshal(line, &raw)
			if _, err := time.Parse(time.RFC3339Nano, raw["time"].(string)); err != nil || !strings.HasSuffix(raw["time"].(string), "Z") {
				t.Errorf("line %d time %v is not RFC 3339 UTC", n+1, raw["time"])
			}
			kinds[string(e.Kind)] = true
		}
		n++
	}
	if h.Type != "header" || h.Schema != timeline.SchemaVersion || h.Version != "1.2.3-test" || h.Environment != "sim" || h.BankGUID == "" || h.ExportedAt == "" {
		t.Errorf("header = %+v", h)
	}
	if h.Entries != n-1 {
		t.Errorf("header says %d entries, %d lines follow", h.Entries, n-1)
	}
	found := false
	for _, s := range h.Attempts {
		if s.ID == a.ID && s.WorkflowGUID == a.WorkflowGUID && s.State == linkflow.Done {
			found = true
		}
	}
	if !found {
		t.Errorf("header attempts lack the attempt: %+v", h.Attempts)
	}
	for _, k := range []string{"state", "api", "plaid_callback", "plaid_event", "link_window"} {
		if !kinds[k] {
			t.Errorf("no %s line", k)
		}
	}
}

func checkHTML(t *testing.T, b []byte, a linkflow.Attempt) {
	t.Helper()
	// golang.org/x/net/html parses like a browser and never fails; check
	// the structure a browser would build and that nothing loads from
	// elsewhere or runs.
	doc, err := html.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var tables, rows, styles int
	var text strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script", "iframe", "object", "embed", "link", "img":
				t.Errorf("report has a <%s> element", n.Data)
			case "table":
				tables++
			case "tr":
				rows++
			case "style":
				styles++
			}
			for _, at := range n.Attr {
				if at.Key == "src" || at.Key == "href" || strings.HasPrefix(at.Key, "on") {
					t.Errorf("report has %s=%q on <%s>", at.Key, at.Val, n.Data)
				}
			}
		}
		if n.Type == html.TextNode && n.Parent != nil && n.Parent.Data != "style" {
			text.WriteString(n.Data)
			text.WriteString(" ")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if styles != 1 || tables == 0 || rows < 10 {
		t.Errorf("report structure: %d styles, %d tables, %d rows", styles, tables, rows)
	}
	if bytes.Contains(b, []byte("url(")) || bytes.Contains(b, []byte("@import")) {
		t.Error("the report's CSS loads something")
	}
	txt := text.String()
	for _, want := range []string{"SIMULATOR", a.WorkflowGUID, a.AccountGUID, "POST", "/api/workflows", "201", "onEvent SELECT_INSTITUTION",
		"institution_name=", "First Platypus Bank", "waiting_for_account", "done", "1.2.3-test"} {
		if !strings.Contains(txt, want) {
			t.Errorf("report text lacks %q", want)
		}
	}
}

func TestHTMLEscapesWhatThePageSends(t *testing.T) {
	rec := timeline.New(timeline.Options{Environment: "production", BankGUID: strings.Repeat("b", 32), Dir: t.TempDir()})
	now := time.Now()
	a := linkflow.Attempt{ID: "a1", Kind: linkflow.KindLink, CustomerGUID: strings.Repeat("c", 32), State: linkflow.LinkOpen, StartedAt: now, UpdatedAt: now, StateSince: now}
	rec.ObserveAttempt(a, linkflow.Event{Type: "plaid_event", Message: "Plaid Link event <b>X</b>", Time: now,
		Data: map[string]any{"event": "<script>alert(1)</script>", "metadata": map[string]any{"view_name": `"><img src=x onerror=alert(2)>`}}})
	var buf bytes.Buffer
	if err := rec.WriteHTML(&buf, "a1"); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if strings.Contains(out, "<script>") || strings.Contains(out, "<img") {
		t.Errorf("page-supplied markup reached the report unescaped")
	}
	if !strings.Contains(out, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the event name is not shown escaped")
	}
	if !strings.Contains(out, "PRODUCTION — real customers") || !strings.Contains(out, `class="banner production"`) {
		t.Error("a production report is not marked as production")
	}
}

func TestOldestEntriesAreDroppedWithAMarker(t *testing.T) {
	rec := timeline.New(timeline.Options{Environment: "sim", MaxEntries: 5, Dir: t.TempDir()})
	for i := 0; i < 8; i++ {
		rec.Note("", "note "+string(rune('a'+i)), nil)
	}
	got := rec.Entries("", 0)
	if len(got) != 6 {
		t.Fatalf("%d entries, want the marker and 5", len(got))
	}
	if got[0].Seq != 0 || got[0].Kind != timeline.KindNote || !strings.Contains(got[0].Message, "3 earlier entries were dropped") {
		t.Errorf("marker = %+v", got[0])
	}
	if got[1].Message != "note d" || got[5].Message != "note h" || got[5].Seq != 8 {
		t.Errorf("kept %q..%q (seq %d), want note d..note h", got[1].Message, got[5].Message, got[5].Seq)
	}
	if since := rec.Entries("", 7); len(since) != 1 || since[0].Seq != 8 {
		t.Errorf("since 7 = %+v", since)
	}
	var buf bytes.Buffer
	rec.WriteJSONL(&buf, "")
	var h timeline.Header
	json.Unmarshal(bytes.SplitN(buf.Bytes(), []byte("\n"), 2)[0], &h)
	if h.Dropped != 3 || h.Entries != 6 {
		t.Errorf("header dropped=%d entries=%d, want 3 and 6", h.Dropped, h.Entries)
	}
}

// Two attempts creating workflows at once: the POST cannot be told apart and
// stays session-level with both as candidates; GETs by GUID are exact.
func TestAPICallsAreAttributedOnlyWhenUnambiguous(t *testing.T) {
	rec := timeline.New(timeline.Options{Environment: "sim", Dir: t.TempDir()})
	now := time.Now()
	mk := func(id string, st linkflow.State, wf string) linkflow.Attempt {
		return linkflow.Attempt{ID: id, Kind: linkflow.KindLink, CustomerGUID: strings.Repeat("c", 32), State: st, StartedAt: now, UpdatedAt: now, StateSince: now, WorkflowGUID: wf}
	}
	rec.ObserveAttempt(mk("one", linkflow.CreatingWorkflow, ""), linkflow.Event{Type: "state", Message: "start"})
	rec.ObserveCall(cybrid.Call{Method: "POST", Path: "/api/workflows", Status: 201, Duration: time.Millisecond})
	rec.ObserveAttempt(mk("two", linkflow.CreatingWorkflow, ""), linkflow.Event{Type: "state", Message: "start"})
	rec.ObserveCall(cybrid.Call{Method: "POST", Path: "/api/workflows", Status: 201, Duration: time.Millisecond})
	wf := strings.Repeat("f", 32)
	rec.ObserveAttempt(mk("one", linkflow.WaitingForToken, wf), linkflow.Event{Type: "state", Message: "waiting"})
	rec.ObserveCall(cybrid.Call{Method: "GET", Path: "/api/workflows/" + wf, Status: 200})
	rec.ObserveCall(cybrid.Call{Method: "GET", Path: "/api/customers?page&per_page", Status: 200})

	var got []string
	for _, e := range rec.Entries("", 0) {
		if e.Kind == timeline.KindAPI {
			got = append(got, e.Data["method"].(string)+" "+e.AttemptID+" "+strings.Join(asStrings(e.Data["candidates"]), "+"))
		}
	}
	want := []string{"POST one ", "POST  one+two", "GET one ", "GET  "}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("attribution = %q, want %q", got, want)
	}
	// The ambiguous POST shows in both attempts' timelines.
	for _, id := range []string{"one", "two"} {
		n := 0
		for _, e := range rec.Entries(id, 0) {
			if e.Kind == timeline.KindAPI && e.Data["path"] == "/api/workflows" {
				n++
			}
		}
		if want := map[string]int{"one": 2, "two": 1}[id]; n != want {
			t.Errorf("attempt %s shows %d workflow POSTs, want %d", id, n, want)
		}
	}
}

func asStrings(v any) []string {
	s, _ := v.([]string)
	return s
}

// The client's retries are marked: a proxy in front of the simulator answers
// the first GET of the customer list with 502, the client retries.
func TestRetriesAreMarked(t *testing.T) {
	s, err := sim.Start(sim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	target, _ := url.Parse(s.BankURL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var failed atomic.Bool
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/api/customers" && failed.CompareAndSwap(false, true) {
			http.Error(w, `{"status":502,"error_message":"bad gateway"}`, http.StatusBadGateway)
			return
		}
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(front.Close)
	rec := timeline.New(timeline.Options{Environment: "sim", Dir: t.TempDir()})
	c, err := cybrid.New(cybrid.Options{BankURL: front.URL, IdentityURL: s.IdentityURL, ClientID: s.ClientID, ClientSecret: s.ClientSecret,
		Observer: rec.ObserveCall, Retry: cybrid.RetryPolicy{BaseDelay: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListCustomers(context.Background(), cybrid.ListCustomersParams{PerPage: 10}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range rec.Entries("", 0) {
		if p, _ := e.Data["path"].(string); strings.HasPrefix(p, "/api/customers") {
			got = append(got, fmt.Sprintf("%v try=%v retry=%v", e.Data["status"], e.Data["try"], e.Data["retry"]))
		}
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], "502 try=<nil> retry=<nil>") || !strings.HasPrefix(got[1], "200 try=2 retry=502") {
		t.Errorf("customer-list calls = %q, want a 502 then a 200 marked as the second try after the 502", got)
	}
	var buf bytes.Buffer
	rec.WriteHTML(&buf, "")
	if !strings.Contains(buf.String(), "retry: try 2, after 502") {
		t.Error("the report does not show the retry")
	}
}
