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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/html"

	"linkdesk/app/cybrid"
	"linkdesk/app/internal/flowrig"
	"linkdesk/app/linkflow"
	"linkdesk/app/sim"
	"linkdesk/app/timeline"
)

// rig is the flow rig (app/internal/flowrig: the real flow over the real
// Cybrid client against the real simulator on loopback) with a Recorder fed
// by both observers exactly as the session wires it.
type rig struct {
	*flowrig.Rig
	t   *testing.T
	rec *timeline.Recorder
	dir string
}

func newRig(t *testing.T, env string) *rig { return newRigVia(t, env, nil) }

// newRigVia is newRig with the client's Bank API requests sent to front(sim)
// (a proxy in front of the simulator) when front is not nil. What the proxy
// answers for Cybrid (a 429 on a POST) is not in Cybrid's spec, so its
// traffic is not held to it.
func newRigVia(t *testing.T, env string, front func(*sim.Sim) string) *rig {
	t.Helper()
	s, err := sim.Start(sim.Options{WorkflowDelay: flowrig.Brief, AccountDelay: flowrig.Brief})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := &rig{t: t, dir: t.TempDir()}
	r.rec = timeline.New(timeline.Options{
		Environment: env, BankGUID: s.Cybrid.BankGUID(), Version: "1.2.3-test",
		Dir: r.dir, Secrets: []string{s.ClientSecret},
	})
	r.Rig = flowrig.New(t, flowrig.Options{On: s, Observe: r.rec.ObserveAttempt, OffSpec: front != nil,
		Client: func(o *cybrid.Options) {
			o.Observer = r.rec.ObserveCall
			if front != nil {
				o.BankURL = front(s)
			}
		}})
	return r
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
	cust := r.Sim.Cybrid.Customers()[0].GUID
	a, err := r.Flow.StartLink(cust)
	if err != nil {
		t.Fatal(err)
	}
	open := r.Until(a.ID, linkflow.LinkOpen)
	if err := r.Flow.Loaded(a.ID); err != nil {
		t.Fatal(err)
	}
	r.Flow.PlaidEvent(a.ID, "OPEN", map[string]any{"link_session_id": "sess-1", "view_name": nil, "timestamp": "2025-01-01T00:00:00Z"})
	r.Flow.PlaidEvent(a.ID, "SELECT_INSTITUTION", map[string]any{"institution_id": "ins_109508", "institution_name": "First Platypus Bank",
		"public_token": canaryPublic, "note": "Bearer " + canaryJWT, "echo": "token " + canaryPublic + " for " + canaryLink})
	r.Flow.LinkWindowEvent("The bank's sign-in window opened", map[string]any{"popup": "opened"})
	pub, meta := r.LinkInPlaid(open.LinkToken)
	r.Flow.PlaidEvent(a.ID, "HANDOFF", map[string]any{"link_session_id": meta.LinkSessionID})
	if err := r.Flow.Success(a.ID, pub, meta); err != nil {
		t.Fatal(err)
	}
	done := r.Until(a.ID, linkflow.Done)
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
		if e.AttemptID != a.ID {
			t.Errorf("entry %d (%s) of attempt %s's timeline is filed under %q", e.Seq, e.Message, a.ID, e.AttemptID)
		}
		switch e.Kind {
		case timeline.KindAPI:
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
	// The attempt's first call found no token: the token request was made
	// for it, and is filed under it.
	checkCalls("POST /oauth/token", 200, 1)
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
	// Every call of the session was the attempt's.
	for _, e := range r.rec.Entries("", 0) {
		if e.Kind == timeline.KindAPI && e.AttemptID != a.ID {
			t.Errorf("API entry %d (%s) is filed under %q, not the session's one attempt", e.Seq, e.Message, e.AttemptID)
		}
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
	b, _ := r.Flow.StartLink(r.Sim.Cybrid.Customers()[1].GUID)
	r.Until(b.ID, linkflow.LinkOpen)
	r.Flow.Loaded(b.ID)
	r.Flow.PlaidEvent(b.ID, "ERROR", map[string]any{"error_code": "INVALID_CREDENTIALS", "error_type": "ITEM_ERROR", "view_name": "CREDENTIAL", "institution_name": "First Platypus Bank"})
	status := "requires_credentials"
	r.Flow.Exit(b.ID, &linkflow.LinkError{ErrorType: "ITEM_ERROR", ErrorCode: "INVALID_CREDENTIALS", ErrorMessage: "the provided credentials were not correct"},
		linkflow.ExitMetadata{Status: &status, LinkSessionID: "sess-2", RequestID: "req-2", Institution: &linkflow.Institution{Name: "First Platypus Bank", InstitutionID: "ins_109508"}})
	r.Until(b.ID, linkflow.Failed)

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
		"link token": linkToken, "public token": pub, "client secret": r.Sim.ClientSecret,
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

// API calls are filed under the attempt id the client reports, whatever the
// call is and whatever the attempts are doing: nothing is inferred.
func TestAPICallsAreFiledUnderTheirAttemptID(t *testing.T) {
	rec := timeline.New(timeline.Options{Environment: "sim", Dir: t.TempDir()})
	now := time.Now()
	wf := strings.Repeat("f", 32)
	for _, id := range []string{"one", "two"} {
		rec.ObserveAttempt(linkflow.Attempt{ID: id, Kind: linkflow.KindLink, CustomerGUID: strings.Repeat("c", 32), State: linkflow.CreatingWorkflow,
			StartedAt: now, UpdatedAt: now, StateSince: now}, linkflow.Event{Type: "state", Message: "start"})
	}
	rec.ObserveAttempt(linkflow.Attempt{ID: "one", Kind: linkflow.KindLink, CustomerGUID: strings.Repeat("c", 32), State: linkflow.WaitingForToken,
		WorkflowGUID: wf, StartedAt: now, UpdatedAt: now, StateSince: now}, linkflow.Event{Type: "state", Message: "waiting"})
	rec.ObserveCall(cybrid.Call{Method: "POST", Path: "/oauth/token", Status: 200, AttemptID: "two"})
	rec.ObserveCall(cybrid.Call{Method: "POST", Path: "/api/workflows", Status: 201, AttemptID: "two"})
	rec.ObserveCall(cybrid.Call{Method: "POST", Path: "/api/workflows", Status: 201, AttemptID: "one"})
	// A GET of attempt one's workflow that attempt two made is two's.
	rec.ObserveCall(cybrid.Call{Method: "GET", Path: "/api/workflows/" + wf, Status: 200, AttemptID: "two"})
	rec.ObserveCall(cybrid.Call{Method: "GET", Path: "/api/customers?page&per_page", Status: 200})

	var got []string
	for _, e := range rec.Entries("", 0) {
		if e.Kind == timeline.KindAPI {
			got = append(got, e.Data["method"].(string)+" "+e.AttemptID)
			if _, ok := e.Data["candidates"]; ok {
				t.Errorf("entry %d lists candidates: %v", e.Seq, e.Data)
			}
		}
	}
	if want := []string{"POST two", "POST two", "POST one", "GET two", "GET "}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("filed as %q, want %q", got, want)
	}
	count := func(id string) (n int) {
		for _, e := range rec.Entries(id, 0) {
			if e.Kind == timeline.KindAPI {
				n++
			}
		}
		return n
	}
	if n1, n2 := count("one"), count("two"); n1 != 1 || n2 != 3 {
		t.Errorf("attempt one shows %d API calls, two %d; want 1 and 3 (the session-level list in neither)", n1, n2)
	}
}

// apiGate is a loopback proxy route in front of the simulator for one kind
// of POST: it holds the first request until a second one arrives (so both
// attempts are waiting on the same call at the same time), answers that
// second one 429 Too Many Requests (the client sends it again), and records
// the GUID Cybrid gave the first request and the one it gave the resent one.
type apiGate struct {
	both chan struct{}

	mu            sync.Mutex
	arrived       int
	together      bool   // the second request came while the first was held
	first, resent string // GUIDs of the created resources
}

func (g *apiGate) result() (together bool, first, resent string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.together, g.first, g.resent
}

func (g *apiGate) serve(w http.ResponseWriter, req *http.Request, proxy http.Handler) {
	g.mu.Lock()
	g.arrived++
	n := g.arrived
	if n == 2 {
		g.together = true
		close(g.both)
	}
	g.mu.Unlock()
	switch n {
	case 1:
		select {
		case <-g.both:
		case <-time.After(10 * time.Second):
		}
	case 2:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte(`{"status":429,"message_code":"rate_limited","error_message":"Too many requests"}`))
		return
	}
	rec := httptest.NewRecorder()
	proxy.ServeHTTP(rec, req)
	var created struct {
		GUID string `json:"guid"`
	}
	json.Unmarshal(rec.Body.Bytes(), &created)
	g.mu.Lock()
	switch n {
	case 1:
		g.first = created.GUID
	case 3:
		g.resent = created.GUID
	}
	g.mu.Unlock()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// untilBoth waits until each of the attempts ids has reached state want.
func (r *rig) untilBoth(want linkflow.State, ids ...string) map[string]linkflow.Attempt {
	r.t.Helper()
	got := map[string]linkflow.Attempt{}
	for _, id := range ids {
		got[id] = r.Until(id, want)
	}
	return got
}

// TestConcurrentAttemptsKeepTheirOwnCalls: two link attempts for the same
// customer run at the same time through the real client and the real
// simulator — both create their workflow at once, both poll, both create
// their account at once (a proxy on loopback holds each POST until the other
// attempt's arrives, and answers the later one 429 once, so that the two
// attempts' POSTs differ). Each attempt's timeline holds exactly its own
// calls, its export names nothing of the other attempt, and nothing is
// session-level: the one token request is filed under the attempt whose
// call made it.
func TestConcurrentAttemptsKeepTheirOwnCalls(t *testing.T) {
	workflows := &apiGate{both: make(chan struct{})}
	accounts := &apiGate{both: make(chan struct{})}
	r := newRigVia(t, "sim", func(s *sim.Sim) string {
		target, _ := url.Parse(s.BankURL)
		proxy := httputil.NewSingleHostReverseProxy(target)
		front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			switch {
			case req.Method == "POST" && req.URL.Path == "/api/workflows":
				workflows.serve(w, req, proxy)
			case req.Method == "POST" && req.URL.Path == "/api/external_bank_accounts":
				accounts.serve(w, req, proxy)
			default:
				proxy.ServeHTTP(w, req)
			}
		}))
		t.Cleanup(front.Close)
		return front.URL
	})
	cust := r.Sim.Cybrid.Customers()[0].GUID
	a, err := r.Flow.StartLink(cust)
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Flow.StartLink(cust)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{a.ID, b.ID}
	open := r.untilBoth(linkflow.LinkOpen, ids...)
	pubA, metaA := r.LinkInPlaid(open[a.ID].LinkToken, 0)
	pubB, metaB := r.LinkInPlaid(open[b.ID].LinkToken, 1) // another account: the same one twice is a duplicate
	if err := r.Flow.Success(a.ID, pubA, metaA); err != nil {
		t.Fatal(err)
	}
	if err := r.Flow.Success(b.ID, pubB, metaB); err != nil {
		t.Fatal(err)
	}
	done := r.untilBoth(linkflow.Done, ids...)
	// resent[path] is the GUID the POST answered 429 created when sent again.
	resent := map[string]string{}
	for _, c := range []struct {
		path string
		g    *apiGate
		want []string
	}{
		{"/api/workflows", workflows, []string{done[a.ID].WorkflowGUID, done[b.ID].WorkflowGUID}},
		{"/api/external_bank_accounts", accounts, []string{done[a.ID].AccountGUID, done[b.ID].AccountGUID}},
	} {
		together, first, again := c.g.result()
		if !together {
			t.Fatalf("POST %s: the two attempts never sent it at the same time (the test proves nothing)", c.path)
		}
		if !slices.Contains(c.want, first) || !slices.Contains(c.want, again) || first == again {
			t.Fatalf("POST %s: the proxy saw %q created first and %q sent again after its 429; the attempts have %q", c.path, first, again, c.want)
		}
		resent[c.path] = again
	}

	// Every API call of the session is filed under one of the two attempts.
	tokens := 0
	for _, e := range r.rec.Entries("", 0) {
		if e.Kind != timeline.KindAPI {
			continue
		}
		if !slices.Contains(ids, e.AttemptID) {
			t.Errorf("API entry %d (%s) is filed under %q, not under one of the attempts %v", e.Seq, e.Message, e.AttemptID, ids)
		}
		if e.Data["path"] == "/oauth/token" {
			tokens++
		}
	}
	if tokens != 1 {
		t.Errorf("%d token requests in the session, want 1 (shared by both attempts)", tokens)
	}

	for _, id := range ids {
		self, other := done[id], done[b.ID]
		if id == b.ID {
			other = done[a.ID]
		}
		// Each attempt's own calls, in order: "METHOD path status".
		var calls []string
		for _, e := range r.rec.Entries(id, 0) {
			if e.AttemptID != id {
				t.Errorf("attempt %s's timeline holds entry %d (%s) of %q", id, e.Seq, e.Message, e.AttemptID)
			}
			if e.Kind == timeline.KindAPI {
				calls = append(calls, fmt.Sprintf("%s %s %d", e.Data["method"], e.Data["path"], e.Data["status"]))
			}
		}
		// The POSTs: the one the proxy answered 429 shows in the timeline
		// of the attempt whose workflow (account) the resent POST created.
		wantPosts := func(path, guid string) []string {
			if guid == resent[path] {
				return []string{"POST " + path + " 429", "POST " + path + " 201"}
			}
			return []string{"POST " + path + " 201"}
		}
		checkPrefix := func(prefix string, want []string) {
			t.Helper()
			var got []string
			for _, c := range calls {
				if strings.HasPrefix(c, prefix) {
					got = append(got, c)
				}
			}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("attempt %s: %s calls %q, want %q (all its calls: %q)", id, prefix, got, want, calls)
			}
		}
		checkPrefix("POST /api/workflows ", wantPosts("/api/workflows", self.WorkflowGUID))
		checkPrefix("POST /api/external_bank_accounts ", wantPosts("/api/external_bank_accounts", self.AccountGUID))
		// The polls: only of its own workflow and account, at least one each.
		polls := map[string]int{}
		for _, c := range calls {
			switch {
			case strings.HasPrefix(c, "POST /api/") || strings.HasPrefix(c, "POST /oauth/token "):
			case strings.HasPrefix(c, "GET /api/workflows/"+self.WorkflowGUID+" "):
				polls["workflow"]++
			case strings.HasPrefix(c, "GET /api/external_bank_accounts/"+self.AccountGUID+" "):
				polls["account"]++
			default:
				t.Errorf("attempt %s's timeline holds a call that is not its own: %s", id, c)
			}
		}
		if polls["workflow"] == 0 || polls["account"] == 0 {
			t.Errorf("attempt %s: %d polls of its workflow, %d of its account; want some of each (its calls: %q)", id, polls["workflow"], polls["account"], calls)
		}

		// What a user attaches to a ticket: the attempt's export names its
		// own workflow and account, and nothing of the other attempt.
		files, err := r.rec.Export(id, timeline.JSONL, timeline.HTML)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f.Path)
			if err != nil {
				t.Fatal(err)
			}
			for _, own := range []string{self.WorkflowGUID, self.AccountGUID} {
				if !bytes.Contains(data, []byte(own)) {
					t.Errorf("attempt %s's %s export lacks its own %s", id, f.Format, own)
				}
			}
			for _, theirs := range []string{other.ID, other.WorkflowGUID, other.AccountGUID} {
				if bytes.Contains(data, []byte(theirs)) {
					t.Errorf("attempt %s's %s export names %s of the other attempt", id, f.Format, theirs)
				}
			}
			for _, secret := range []string{pubA, pubB, open[a.ID].LinkToken, open[b.ID].LinkToken, r.Sim.ClientSecret} {
				if bytes.Contains(data, []byte(secret)) {
					t.Errorf("attempt %s's %s export holds a secret", id, f.Format)
				}
			}
		}
	}
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

// API entries keep the request and response bodies, as QA reads them in
// Postman, with the Plaid public token, the access token and the client
// secret replaced — in the entries and in both exports; token requests keep
// none.
func TestAPIEntriesKeepTheirBodiesWithoutSecrets(t *testing.T) {
	r := newRig(t, "sandbox")
	a, _, pub := r.linkedAttempt()
	var post, get *timeline.Entry
	for _, e := range r.rec.Entries(a.ID, 0) {
		e := e
		if e.Kind != timeline.KindAPI {
			continue
		}
		switch p, _ := e.Data["path"].(string); {
		case e.Data["method"] == "POST" && p == "/api/external_bank_accounts":
			post = &e
		case e.Data["method"] == "GET" && strings.HasPrefix(p, "/api/external_bank_accounts/"):
			get = &e
		case strings.HasSuffix(p, "/oauth/token"):
			if e.Data["request"] != nil || e.Data["response"] != nil {
				t.Errorf("a token request kept its bodies: %v", e.Data)
			}
		}
	}
	if post == nil || get == nil {
		t.Fatalf("no account creation or account read in the attempt's timeline")
	}
	req, _ := post.Data["request"].(map[string]any)
	if req["customer_guid"] != a.CustomerGUID || req["account_kind"] != "plaid" || req["plaid_public_token"] != "[redacted]" {
		t.Errorf("the account creation's request body is %v; want the customer, the kind, and the public token replaced", req)
	}
	resp, _ := get.Data["response"].(map[string]any)
	if resp["guid"] != a.AccountGUID {
		t.Errorf("the account read's response body is %v; want the account %s", resp, a.AccountGUID)
	}
	var jl, html bytes.Buffer
	if err := r.rec.WriteJSONL(&jl, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.rec.WriteHTML(&html, a.ID); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"JSONL": jl.String(), "HTML": html.String()} {
		if !strings.Contains(out, `plaid_account_id`) || !strings.Contains(out, a.AccountGUID) {
			t.Errorf("the %s export lacks the bodies", name)
		}
		for _, secret := range []string{pub, r.Sim.ClientSecret} {
			if strings.Contains(out, secret) {
				t.Errorf("the %s export holds a secret", name)
			}
		}
	}
}
