package plaidsim

// Real-window tests: the simulated Link in linkdesk's window type
// (ui.Window, WebKitGTK) under the display the test runs with (Xvfb),
// driven through uitest's Driver like every real-window test. A small host
// page, served by the window's own app server on one loopback origin
// (127.0.0.1:A), loads link-initialize.js from the simulator on another
// (localhost:B), calls Plaid.create and reports every callback, in order,
// to a route of that server: nothing is bound into the page. The test
// drives the cross-origin Link iframe with the simulator's test driver
// (postMessage, uitest.Page.Link); LINKDESK_SCREENSHOTS=all saves a
// screenshot of each pane to $LINKDESK_ARTIFACTS/plaidsim-window.
//
// Run: build/scripts/with-desktop.sh go test ./app/sim/plaidsim/ -run Window -v

import (
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"linkdesk/app/internal/uitest"
	"linkdesk/app/internal/wait"
	"linkdesk/app/ui"
)

func TestMain(m *testing.M) { uitest.Main(m) }

// reportPath is the app-server route the host page reports to.
const reportPath = "/__plaidsim/report"

// hostPage is the host app's page: it loads the simulator's script (twice
// when asked), creates a handler, opens it at once (so open() is queued until
// Link has loaded), and reports callbacks to reportPath, one after the other
// (so that they arrive in the order they happened).
var hostPage = template.Must(template.New("host").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>plaidsim host</title>
<script>
var reports = Promise.resolve();
function report(kind, data) {
  var body = JSON.stringify({kind: kind, data: data === undefined ? null : data, at: Date.now()});
  reports = reports.then(function () {
    return fetch({{.ReportPath}}, {method: 'POST', headers: {'Content-Type': 'application/json'}, body: body, keepalive: true}).catch(function () {});
  });
}
(function () {
  var w = console.warn, e = console.error;
  console.warn = function () { report('console.warn', Array.prototype.join.call(arguments, ' ')); w.apply(console, arguments); };
  console.error = function () { report('console.error', Array.prototype.join.call(arguments, ' ')); e.apply(console, arguments); };
})();
</script>
<script src="{{.Script}}"></script>
<script>window.firstPlaid = window.Plaid;</script>
{{if .Twice}}<script src="{{.Script}}"></script>{{end}}
<style>body{font-family:sans-serif;background:#eef2f7;margin:40px} .fake{background:#fff;border-radius:8px;padding:20px;max-width:700px}</style>
</head>
<body>
<div class="fake"><h1>Host app on {{.Origin}}</h1><p>Customer: Jane Doe · Linking an external bank account…</p></div>
<script>
var params = new URLSearchParams(location.search);
var cfg = {
  token: params.get('token') || {{.ResumeToken}},
  onLoad: function () { report('load'); },
  onSuccess: function (pt, md) { report('success', {public_token: pt, metadata: md}); },
  onExit: function (err, md) { report('exit', {error: err, metadata: md}); },
  onEvent: function (name, md) { report('event', {name: name, metadata: md}); }
};
if (params.get('received')) cfg.receivedRedirectUri = params.get('received');
// The OAuth redirect page: re-initialise Link with the same token and the URI as received.
if (params.get('oauth_state_id')) cfg.receivedRedirectUri = location.href;
window.handler = Plaid.create(cfg);
handler.open();
report('host-ready');
</script>
</body></html>`))

// report is one callback (or console line) the host page reported.
type report struct {
	Kind string          `json:"kind"`
	Data json.RawMessage `json:"data"`
	At   int64           `json:"at"`
}

// linkWindow is the window with the host page and the simulator.
type linkWindow struct {
	t       *testing.T
	d       *uitest.Driver
	base    *uitest.Driver // the window's, for the test that opened it
	sim     *Sim
	clk     *clock
	simURL  string // http://localhost:B
	simIP   string // http://127.0.0.1:B: the same simulator, the same site as the host
	hostURL string // http://127.0.0.1:A

	mu          sync.Mutex
	resumeToken string // the link token the OAuth redirect page re-initialises with
	reports     []report
}

func openLinkWindow(t *testing.T) *linkWindow {
	t.Helper()
	uitest.NeedDisplay(t)
	clk := newClock()
	lw := &linkWindow{t: t, clk: clk, sim: New(Options{Now: clk.Now, TestDriver: true})}

	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	simSrv := httptest.NewUnstartedServer(lw.sim)
	simSrv.Listener = simLn
	simSrv.Start()
	t.Cleanup(simSrv.Close)
	lw.simURL = "http://localhost:" + portOf(simLn.Addr())
	lw.simIP = "http://127.0.0.1:" + portOf(simLn.Addr())

	srv, err := ui.NewServer(fstest.MapFS{"index.html": {Data: []byte(`<!doctype html><title>plaidsim window test</title>`)}}, ui.PageConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	lw.hostURL = srv.URL
	host := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = hostPage.Execute(w, map[string]any{
			"Script": lw.simURL + "/link/v2/stable/link-initialize.js", "ReportPath": reportPath,
			"Origin": "http://" + r.Host, "Twice": r.URL.Query().Get("twice") == "1",
			"ResumeToken": lw.getResumeToken(),
		})
	})
	srv.Handle("GET /host", host)
	srv.Handle("GET /oauth-return", host) // the links' redirect URI
	srv.Handle("POST "+reportPath, http.HandlerFunc(lw.onReport))

	lw.base = uitest.Open(t, func() (*ui.Window, error) {
		return ui.Open(ui.WindowOptions{Title: "plaidsim window test", Width: 1200, Height: 760, Server: srv})
	}, uitest.DriverOptions{Shots: "plaidsim-window"})
	lw.d = lw.base
	return lw
}

// use makes the window t's (a subtest's).
func (lw *linkWindow) use(t *testing.T) {
	lw.t = t
	lw.d = lw.base.For(t)
}

func (lw *linkWindow) getResumeToken() string {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.resumeToken
}

func (lw *linkWindow) setResumeToken(tok string) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	lw.resumeToken = tok
}

func portOf(a net.Addr) string { return fmt.Sprint(a.(*net.TCPAddr).Port) }

// onReport takes one report of the host page.
func (lw *linkWindow) onReport(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		rep = report{Kind: "bad-report", Data: json.RawMessage(fmt.Sprintf("%q", b))}
	}
	lw.mu.Lock()
	lw.reports = append(lw.reports, rep)
	lw.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// navigate loads u in the window (clearing the reports).
func (lw *linkWindow) navigate(u string) {
	lw.mu.Lock()
	lw.reports = nil
	lw.mu.Unlock()
	lw.d.Navigate(u)
}

// load navigates to the host page with query q and waits until its script ran.
func (lw *linkWindow) load(q url.Values) {
	lw.t.Helper()
	lw.navigate(lw.hostURL + "/host?" + q.Encode())
	lw.waitReport("host-ready", 15*time.Second)
}

func tsel(testid string) string { return uitest.Sel(testid) }

// waitLink waits until Link shows the element with the test id.
func (lw *linkWindow) waitLink(testid string) {
	lw.t.Helper()
	lw.d.InLink(testid, 10*time.Second)
}

func (lw *linkWindow) click(testid string) {
	lw.t.Helper()
	lw.d.LinkClick(testid)
}

func (lw *linkWindow) fill(testid, value string) {
	lw.t.Helper()
	lw.d.LinkFill(testid, value)
}

func (lw *linkWindow) text(testid string) string {
	lw.t.Helper()
	return lw.d.LinkText(testid)
}

// shot names a step worth a screenshot (uitest.Driver.Shot).
func (lw *linkWindow) shot(name string) {
	lw.t.Helper()
	lw.d.Shot(name)
}

func (lw *linkWindow) snapshot() []report {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return append([]report(nil), lw.reports...)
}

func (lw *linkWindow) reportSummary() string {
	var b strings.Builder
	for _, r := range lw.snapshot() {
		b.WriteString(r.Kind)
		if r.Kind == "event" {
			var e struct{ Name string }
			_ = json.Unmarshal(r.Data, &e)
			b.WriteString("(" + e.Name + ")")
		}
		b.WriteString(" ")
	}
	return b.String()
}

// waitReport waits for the first report of kind and returns it.
func (lw *linkWindow) waitReport(kind string, timeout time.Duration) report {
	lw.t.Helper()
	var got report
	lw.d.Until(timeout, fmt.Sprintf("a %q report", kind), func() (bool, error) {
		for _, r := range lw.snapshot() {
			if r.Kind == kind {
				got = r
				return true, nil
			}
		}
		return false, fmt.Errorf("got: %s", lw.reportSummary())
	})
	return got
}

// countReports counts reports of kind.
func (lw *linkWindow) countReports(kind string) int {
	n := 0
	for _, r := range lw.snapshot() {
		if r.Kind == kind {
			n++
		}
	}
	return n
}

type eventReport struct {
	Name     string         `json:"name"`
	Metadata map[string]any `json:"metadata"`
}

// events returns the onEvent reports, in order.
func (lw *linkWindow) events() []eventReport {
	var out []eventReport
	for _, r := range lw.snapshot() {
		if r.Kind == "event" {
			var e eventReport
			_ = json.Unmarshal(r.Data, &e)
			out = append(out, e)
		}
	}
	return out
}

func eventNames(es []eventReport) string {
	var names []string
	for _, e := range es {
		n := e.Name
		if v, _ := e.Metadata["view_name"].(string); e.Name == "TRANSITION_VIEW" || (e.Name == "OPEN" && v != "") {
			n += "(" + v + ")"
		}
		names = append(names, n)
	}
	return strings.Join(names, " ")
}

var eventKeys = []string{"account_number_mask", "error_code", "error_message", "error_type", "exit_status", "institution_id",
	"institution_name", "institution_search_query", "is_update_mode", "match_reason", "mfa_type", "routing_number",
	"selection", "view_name", "request_id", "link_session_id", "timestamp"}

var isoRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$`)

// checkEvents asserts every event's metadata has every documented key, one
// link_session_id, and ISO-8601 timestamps in order.
func checkEvents(t *testing.T, es []eventReport, sessionID string) {
	t.Helper()
	last := ""
	for i, e := range es {
		for _, k := range eventKeys {
			if _, ok := e.Metadata[k]; !ok {
				t.Errorf("event %d %s: metadata lacks %q", i, e.Name, k)
			}
		}
		if e.Metadata["link_session_id"] != sessionID {
			t.Errorf("event %d %s: link_session_id %v, want %s", i, e.Name, e.Metadata["link_session_id"], sessionID)
		}
		ts, _ := e.Metadata["timestamp"].(string)
		if !isoRE.MatchString(ts) {
			t.Errorf("event %d %s: timestamp %q is not ISO-8601", i, e.Name, ts)
		}
		if ts < last {
			t.Errorf("event %d %s: timestamp %s before the previous %s", i, e.Name, ts, last)
		}
		last = ts
	}
}

func (lw *linkWindow) newToken(req LinkTokenRequest) string {
	lw.t.Helper()
	if req.CustomerGUID == "" {
		req.CustomerGUID = "cust-window"
	}
	lt, err := lw.sim.CreateLinkToken(req)
	if err != nil {
		lw.t.Fatal(err)
	}
	return lt.Token
}

// startLink loads the host page for a token and waits for Link to open at CONSENT.
func (lw *linkWindow) startLink(tok string) {
	lw.t.Helper()
	lw.load(url.Values{"token": {tok}})
	lw.waitReport("load", 15*time.Second)
	lw.waitLink("pane-consent")
}

func TestWindowLink(t *testing.T) {
	lw := openLinkWindow(t)

	t.Run("success", func(t *testing.T) {
		lw.use(t)
		lw.startLink(lw.newToken(LinkTokenRequest{LinkCustomizationName: "default"}))
		// OPEN is delivered in real time, while Link is still open.
		lw.waitReport("event", 5*time.Second)
		open := lw.events()
		if len(open) != 1 || open[0].Name != "OPEN" || open[0].Metadata["view_name"] != "CONSENT" || open[0].Metadata["is_update_mode"] != "false" {
			t.Fatalf("events while at CONSENT = %s %v, want only OPEN(CONSENT) with is_update_mode \"false\"", eventNames(open), open)
		}
		if lw.countReports("load") != 1 {
			t.Errorf("onLoad fired %d times", lw.countReports("load"))
		}
		lw.shot("consent")
		lw.click("consent-continue")
		lw.fill("institution-search", "platypus")
		time.Sleep(600 * time.Millisecond) // SEARCH_INSTITUTION is debounced
		if got, _ := lw.d.Link("exists", tsel("institution-ins_109509"), nil); string(got) != "false" {
			t.Errorf("search 'platypus' still lists First Gingham Credit Union")
		}
		lw.shot("select-institution")
		lw.click("institution-ins_109508")
		lw.waitLink("pane-credentials")
		lw.shot("credentials")
		lw.fill("credentials-username", "user_good")
		lw.fill("credentials-password", "pass_good")
		lw.click("credentials-submit")
		lw.waitLink("pane-select-account")
		lw.click("account-0000")
		lw.shot("select-account")
		lw.click("account-continue")
		lw.waitLink("pane-connected")
		lw.shot("connected")
		if n := len(lw.events()); n != 1 {
			t.Errorf("%d events delivered before the end of the flow (%s); Plaid delivers all but OPEN at the end", n, eventNames(lw.events()))
		}
		// A message forged by the host page itself must not reach onSuccess.
		if _, err := lw.d.Eval(`(window.postMessage({type: 'linkdesk-plaid', action: 'success', public_token: 'forged', metadata: {}, events: []}, '*'), true)`, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		lw.click("connected-continue")
		sr := lw.waitReport("success", 10*time.Second)
		time.Sleep(200 * time.Millisecond)
		if n := lw.countReports("success"); n != 1 {
			t.Errorf("onSuccess fired %d times, want 1", n)
		}
		var s struct {
			PublicToken string                     `json:"public_token"`
			Metadata    map[string]json.RawMessage `json:"metadata"`
		}
		if err := json.Unmarshal(sr.Data, &s); err != nil {
			t.Fatal(err)
		}
		if !publicTokenRE.MatchString(s.PublicToken) {
			t.Errorf("public token %q", s.PublicToken)
		}
		for _, k := range []string{"institution", "accounts", "account", "link_session_id", "transfer_status"} {
			if _, ok := s.Metadata[k]; !ok {
				t.Errorf("onSuccess metadata lacks %q", k)
			}
		}
		if string(s.Metadata["transfer_status"]) != "null" {
			t.Errorf("transfer_status = %s, want null", s.Metadata["transfer_status"])
		}
		var ins map[string]any
		_ = json.Unmarshal(s.Metadata["institution"], &ins)
		if ins["name"] != "First Platypus Bank" || ins["institution_id"] != "ins_109508" || len(ins) != 2 {
			t.Errorf("institution = %v", ins)
		}
		var accts []map[string]any
		_ = json.Unmarshal(s.Metadata["accounts"], &accts)
		if len(accts) != 1 {
			t.Fatalf("accounts = %v, want the one selected", accts)
		}
		a := accts[0]
		for _, k := range []string{"id", "name", "mask", "type", "subtype", "verification_status", "class_type"} {
			if _, ok := a[k]; !ok {
				t.Errorf("account lacks %q", k)
			}
		}
		if a["name"] != "Plaid Checking" || a["mask"] != "0000" || a["type"] != "depository" || a["subtype"] != "checking" {
			t.Errorf("account = %v", a)
		}
		var account map[string]any
		_ = json.Unmarshal(s.Metadata["account"], &account)
		if account["id"] != a["id"] {
			t.Errorf("deprecated account = %v, want the first account", account)
		}
		var sid string
		_ = json.Unmarshal(s.Metadata["link_session_id"], &sid)

		// Events: flushed before onSuccess, in order, with full metadata.
		es := lw.events()
		want := "OPEN(CONSENT) TRANSITION_VIEW(SELECT_INSTITUTION) SEARCH_INSTITUTION SELECT_INSTITUTION TRANSITION_VIEW(CREDENTIAL) " +
			"SUBMIT_CREDENTIALS TRANSITION_VIEW(LOADING) TRANSITION_VIEW(SELECT_ACCOUNT) TRANSITION_VIEW(CONNECTED) HANDOFF"
		if got := eventNames(es); got != want {
			t.Errorf("events:\n got  %s\n want %s", got, want)
		}
		checkEvents(t, es, sid)
		for _, e := range es {
			if e.Name == "SEARCH_INSTITUTION" && e.Metadata["institution_search_query"] != "platypus" {
				t.Errorf("SEARCH_INSTITUTION query = %v", e.Metadata["institution_search_query"])
			}
			if e.Name == "SELECT_INSTITUTION" && (e.Metadata["institution_id"] != "ins_109508" || e.Metadata["institution_name"] != "First Platypus Bank") {
				t.Errorf("SELECT_INSTITUTION metadata = %v", e.Metadata)
			}
		}
		lastEvent, success := -1, -1
		for i, r := range lw.snapshot() {
			if r.Kind == "event" {
				lastEvent = i
			}
			if r.Kind == "success" && success < 0 {
				success = i
			}
		}
		if lastEvent > success {
			t.Error("an event arrived after onSuccess; events must be flushed first")
		}
		var hidden bool
		v, _ := lw.d.Eval(`document.querySelector('iframe[id^="plaid-link-iframe-"]').style.display === 'none'`, 5*time.Second)
		_ = json.Unmarshal(v, &hidden)
		if !hidden {
			t.Error("the Link iframe is still shown after onSuccess")
		}
		lw.shot("after-success")

		it, err := lw.sim.ExchangePublicToken(s.PublicToken)
		if err != nil {
			t.Fatalf("ExchangePublicToken: %v", err)
		}
		if it.InstitutionID != "ins_109508" || len(it.Accounts) != 1 || it.Accounts[0].ID != a["id"] {
			t.Errorf("exchanged item = %+v", it)
		}
		if _, err := lw.sim.ExchangePublicToken(s.PublicToken); err != ErrPublicTokenUsed {
			t.Errorf("second exchange: %v, want ErrPublicTokenUsed", err)
		}
	})

	t.Run("exit-at-credentials", func(t *testing.T) {
		lw.use(t)
		lw.startLink(lw.newToken(LinkTokenRequest{}))
		lw.click("consent-continue")
		lw.click("institution-ins_109509")
		lw.waitLink("pane-credentials")
		lw.click("close")
		lw.waitLink("pane-exit")
		lw.shot("exit-confirmation")
		lw.click("exit-confirm")
		r := lw.waitReport("exit", 10*time.Second)
		var x struct {
			Error    json.RawMessage `json:"error"`
			Metadata map[string]any  `json:"metadata"`
		}
		_ = json.Unmarshal(r.Data, &x)
		if string(x.Error) != "null" {
			t.Errorf("onExit error = %s, want null", x.Error)
		}
		if x.Metadata["status"] != "requires_credentials" {
			t.Errorf("onExit status = %v, want requires_credentials", x.Metadata["status"])
		}
		ins, _ := x.Metadata["institution"].(map[string]any)
		if ins["institution_id"] != "ins_109509" || ins["name"] != "First Gingham Credit Union" {
			t.Errorf("onExit institution = %v", x.Metadata["institution"])
		}
		for _, k := range []string{"link_session_id", "request_id"} {
			if s, _ := x.Metadata[k].(string); s == "" {
				t.Errorf("onExit metadata %s is empty", k)
			}
		}
		es := lw.events()
		if len(es) == 0 || es[len(es)-1].Name != "EXIT" || es[len(es)-1].Metadata["exit_status"] != "requires_credentials" {
			t.Errorf("events = %s, want … EXIT(exit_status requires_credentials) last", eventNames(es))
		}
		if !strings.Contains(eventNames(es), "TRANSITION_VIEW(EXIT)") {
			t.Errorf("events = %s, want the exit-confirmation pane TRANSITION_VIEW(EXIT)", eventNames(es))
		}
		checkEvents(t, es, x.Metadata["link_session_id"].(string))
		// Link reports the exit to the simulator without waiting for the
		// answer (as Plaid's does), so the record may trail onExit a little.
		var last SessionInfo
		wait.Until(3*time.Second, func() (bool, error) {
			ss := lw.sim.Sessions()
			last = ss[len(ss)-1]
			return last.Step == "exited", nil
		})
		if last.Step != "exited" || last.ExitStatus != "requires_credentials" {
			t.Errorf("simulator session = %+v", last)
		}
	})

	t.Run("invalid-credentials-mfa-and-forced-exit", func(t *testing.T) {
		lw.use(t)
		lw.startLink(lw.newToken(LinkTokenRequest{}))
		lw.click("consent-continue")
		lw.click("institution-ins_109511")
		lw.fill("credentials-username", "user_good")
		lw.fill("credentials-password", "error_INVALID_CREDENTIALS")
		lw.click("credentials-submit")
		lw.waitLink("credentials-error")
		if msg := lw.text("credentials-error"); !strings.Contains(msg, "credentials were not correct") {
			t.Errorf("inline error = %q", msg)
		}
		if ok, _ := lw.d.Link("exists", tsel("pane-credentials"), nil); string(ok) != "true" {
			t.Error("after INVALID_CREDENTIALS Link left the credentials pane")
		}
		lw.shot("invalid-credentials")
		lw.fill("credentials-password", "mfa_device")
		lw.click("credentials-submit")
		lw.waitLink("pane-mfa")
		lw.fill("mfa-code", "9999")
		lw.click("mfa-submit")
		lw.waitLink("mfa-error")
		lw.shot("mfa-invalid")
		// exit({force: true}) closes at once with the last error.
		if _, err := lw.d.Eval(`(handler.exit({force: true}), true)`, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		r := lw.waitReport("exit", 10*time.Second)
		var x struct {
			Error    map[string]any `json:"error"`
			Metadata map[string]any `json:"metadata"`
		}
		_ = json.Unmarshal(r.Data, &x)
		if x.Error["error_code"] != "INVALID_MFA" || x.Error["error_type"] != "ITEM_ERROR" || x.Metadata["status"] != "requires_code" {
			t.Errorf("forced exit at MFA: error %v status %v, want INVALID_MFA / requires_code", x.Error, x.Metadata["status"])
		}
		for _, k := range []string{"error_type", "error_code", "error_message", "display_message"} {
			if _, ok := x.Error[k]; !ok {
				t.Errorf("onExit error lacks %q", k)
			}
		}
		want := "OPEN(CONSENT) TRANSITION_VIEW(SELECT_INSTITUTION) SELECT_INSTITUTION TRANSITION_VIEW(CREDENTIAL) SUBMIT_CREDENTIALS " +
			"TRANSITION_VIEW(LOADING) ERROR TRANSITION_VIEW(CREDENTIAL) SUBMIT_CREDENTIALS TRANSITION_VIEW(LOADING) TRANSITION_VIEW(MFA) " +
			"SUBMIT_MFA TRANSITION_VIEW(LOADING) ERROR TRANSITION_VIEW(MFA) EXIT"
		if got := eventNames(lw.events()); got != want {
			t.Errorf("events:\n got  %s\n want %s", got, want)
		}
	})

	t.Run("invalid-link-token", func(t *testing.T) {
		lw.use(t)
		expired := lw.newToken(LinkTokenRequest{})
		lw.clk.Add(4 * time.Hour)
		for _, tok := range []string{"link-sandbox-4e0c1c4b-0000-4000-8000-000000000000", expired} {
			lw.load(url.Values{"token": {tok}})
			lw.waitReport("load", 15*time.Second)
			r := lw.waitReport("exit", 10*time.Second)
			var x struct {
				Error    map[string]any `json:"error"`
				Metadata map[string]any `json:"metadata"`
			}
			_ = json.Unmarshal(r.Data, &x)
			if x.Error["error_code"] != "INVALID_LINK_TOKEN" || x.Error["error_type"] != "INVALID_INPUT" {
				t.Errorf("token %s…: onExit error %v, want INVALID_INPUT / INVALID_LINK_TOKEN", tok[:20], x.Error)
			}
			if _, ok := x.Metadata["status"]; !ok {
				t.Error("onExit metadata lacks status")
			}
		}
		// Opening the handler again shows the error pane; closing it exits again.
		if _, err := lw.d.Eval(`(handler.open(), true)`, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		lw.waitLink("pane-error")
		if code := lw.text("error-code"); code != "INVALID_LINK_TOKEN" {
			t.Errorf("error pane code = %q", code)
		}
		lw.shot("invalid-link-token")
		lw.click("error-exit")
		wait.Until(5*time.Second, func() (bool, error) { return lw.countReports("exit") >= 2, nil })
		if n := lw.countReports("exit"); n != 2 {
			t.Errorf("onExit fired %d times, want 2 (initialisation, then closing the error pane)", n)
		}
	})

	t.Run("oauth-popup-blocked", func(t *testing.T) {
		lw.use(t)
		lw.startLink(lw.newToken(LinkTokenRequest{}))
		lw.click("consent-continue")
		lw.fill("institution-search", "oauth")
		lw.click("institution-ins_127287")
		lw.waitLink("pane-oauth")
		lw.shot("oauth")
		lw.click("oauth-continue")
		// webview_go on Linux creates no pop-up: window.open returns null.
		lw.waitLink("pane-error")
		if title := lw.text("error-title"); title != "The bank's sign-in window could not be opened" {
			t.Errorf("error title = %q", title)
		}
		if _, err := lw.d.Link("popup", "", nil); err == nil || !strings.Contains(err.Error(), "no pop-up open") {
			t.Errorf("driver popup with no pop-up: %v, want error \"no pop-up open\"", err)
		}
		lw.shot("oauth-popup-blocked")
		lw.click("error-exit")
		r := lw.waitReport("exit", 10*time.Second)
		var x struct {
			Error    map[string]any `json:"error"`
			Metadata map[string]any `json:"metadata"`
		}
		_ = json.Unmarshal(r.Data, &x)
		if x.Metadata["status"] != "requires_oauth" || x.Error["error_code"] != "OAUTH_POPUP_BLOCKED" {
			t.Errorf("onExit = %v %v, want requires_oauth with OAUTH_POPUP_BLOCKED", x.Error, x.Metadata)
		}
		names := eventNames(lw.events())
		if !strings.Contains(names, "SELECT_INSTITUTION TRANSITION_VIEW(OAUTH) ERROR TRANSITION_VIEW(ERROR)") || strings.Contains(names, "OPEN_OAUTH") {
			t.Errorf("events = %s, want SELECT_INSTITUTION TRANSITION_VIEW(OAUTH) ERROR TRANSITION_VIEW(ERROR) and no OPEN_OAUTH", names)
		}
	})

	t.Run("oauth-redirect-resume", func(t *testing.T) {
		// The bank page without an opener (as in a system browser) returns
		// through the token's redirect_uri; the host re-initialises Link with
		// the same token and receivedRedirectUri, and Link resumes at Account
		// Select in the same session.
		lw.use(t)
		tok := lw.newToken(LinkTokenRequest{RedirectURI: lw.hostURL + "/oauth-return"})
		lw.setResumeToken(tok)
		lw.startLink(tok)
		lw.click("consent-continue")
		lw.click("institution-ins_127287")
		lw.waitLink("pane-oauth")
		ss := lw.sim.Sessions()
		first := ss[len(ss)-1]
		if first.OAuthStateID == "" || first.InstitutionID != "ins_127287" {
			t.Fatalf("session at the OAuth pane = %+v", first)
		}
		// The bank's page as the system browser shows it: at 127.0.0.1, the
		// host's site (the app server serving the host refuses cross-site
		// requests, and the bank's return is one). It can answer no script
		// (its CSP lets it reach only the simulator), so the approval is
		// sent until the host page, where the bank sends the browser back,
		// reports again — the bank's name must be Platypus OAuth Bank.
		lw.navigate(lw.simIP + "/link/v2/stable/sandbox-oauth-login.html?oauth_state_id=" + first.OAuthStateID)
		approve := `(() => {
			const n = document.querySelector('[data-testid="bank-name"]'), b = document.querySelector('[data-testid="bank-approve"]');
			if (!location.pathname.endsWith("sandbox-oauth-login.html") || window.__approved || !n || n.textContent !== "Platypus OAuth Bank" || !b) return;
			window.__approved = true;
			b.click();
		})()`
		lw.d.Until(15*time.Second, "Platypus OAuth Bank's page approved, and the host page back", func() (bool, error) {
			lw.d.Exec(approve)
			return lw.countReports("host-ready") > 0, nil
		})
		var href string
		v, _ := lw.d.Eval(`location.href`, 5*time.Second)
		_ = json.Unmarshal(v, &href)
		if want := lw.hostURL + "/oauth-return?oauth_state_id=" + first.OAuthStateID; href != want {
			t.Errorf("redirected to %s, want %s", href, want)
		}
		lw.waitReport("load", 10*time.Second)
		lw.waitLink("pane-select-account")
		open := lw.events()
		if len(open) != 1 || open[0].Name != "OPEN" || open[0].Metadata["view_name"] != nil {
			t.Errorf("events on resume = %s, want OPEN with view_name null", eventNames(open))
		}
		lw.shot("oauth-resumed-select-account")
		lw.click("account-1111")
		lw.click("account-continue")
		lw.click("connected-continue")
		r := lw.waitReport("success", 10*time.Second)
		var s struct {
			PublicToken string         `json:"public_token"`
			Metadata    map[string]any `json:"metadata"`
		}
		_ = json.Unmarshal(r.Data, &s)
		if s.Metadata["link_session_id"] != first.LinkSessionID {
			t.Errorf("resumed link_session_id = %v, want the original %s", s.Metadata["link_session_id"], first.LinkSessionID)
		}
		if ins, _ := s.Metadata["institution"].(map[string]any); ins["institution_id"] != "ins_127287" {
			t.Errorf("institution = %v", s.Metadata["institution"])
		}
		if got := eventNames(lw.events()); got != "OPEN TRANSITION_VIEW(SELECT_ACCOUNT) TRANSITION_VIEW(CONNECTED) HANDOFF" {
			t.Errorf("events = %s", got)
		}
		it, err := lw.sim.ExchangePublicToken(s.PublicToken)
		if err != nil || it.InstitutionID != "ins_127287" || len(it.Accounts) != 1 || it.Accounts[0].Mask != "1111" {
			t.Errorf("exchange: %+v %v, want Platypus OAuth Bank with Plaid Saving 1111", it, err)
		}

		// An oauth_state_id Link does not know: Plaid's console error and onExit with an error.
		tok2 := lw.newToken(LinkTokenRequest{RedirectURI: lw.hostURL + "/oauth-return"})
		lw.setResumeToken(tok2)
		lw.navigate(lw.hostURL + "/oauth-return?oauth_state_id=" + newUUID())
		ce := lw.waitReport("console.error", 10*time.Second)
		var msg string
		_ = json.Unmarshal(ce.Data, &msg)
		if msg != "oauth uri does not contain a valid oauth_state_id query parameter" {
			t.Errorf("console error = %q", msg)
		}
		x := lw.waitReport("exit", 10*time.Second)
		var xe struct {
			Error map[string]any `json:"error"`
		}
		_ = json.Unmarshal(x.Data, &xe)
		if xe.Error["error_code"] != "OAUTH_STATE_ID_NOT_FOUND" {
			t.Errorf("onExit error = %v, want OAUTH_STATE_ID_NOT_FOUND", xe.Error)
		}
	})

	t.Run("update-mode", func(t *testing.T) {
		lw.use(t)
		items := lw.sim.Items()
		if len(items) == 0 {
			t.Skip("needs the item the success subtest linked")
		}
		it := items[0]
		if err := lw.sim.ResetLogin(it.ItemID); err != nil {
			t.Fatal(err)
		}
		tok := lw.newToken(LinkTokenRequest{UpdateItemID: it.ItemID})
		lw.load(url.Values{"token": {tok}})
		lw.waitReport("load", 15*time.Second)
		lw.waitLink("pane-credentials")
		open := lw.events()
		if len(open) != 1 || open[0].Name != "OPEN" || open[0].Metadata["is_update_mode"] != "true" || open[0].Metadata["view_name"] != "CREDENTIAL" {
			t.Errorf("update-mode OPEN = %s %v, want OPEN(CREDENTIAL) with is_update_mode \"true\"", eventNames(open), open)
		}
		if open[0].Metadata["institution_id"] != it.InstitutionID {
			t.Errorf("OPEN institution_id = %v, want %s", open[0].Metadata["institution_id"], it.InstitutionID)
		}
		if ok, _ := lw.d.Link("exists", tsel("back"), nil); string(ok) != "false" {
			t.Error("update mode offers a way back to institution search")
		}
		lw.shot("update-mode-credentials")
		lw.fill("credentials-username", "user_good")
		lw.fill("credentials-password", "pass_good")
		lw.click("credentials-submit")
		lw.click("connected-continue")
		r := lw.waitReport("success", 10*time.Second)
		var s struct {
			PublicToken string `json:"public_token"`
			Metadata    struct {
				Accounts []map[string]any `json:"accounts"`
			} `json:"metadata"`
		}
		_ = json.Unmarshal(r.Data, &s)
		if !publicTokenRE.MatchString(s.PublicToken) || len(s.Metadata.Accounts) != len(it.Accounts) || s.Metadata.Accounts[0]["id"] != it.Accounts[0].ID {
			t.Errorf("update-mode onSuccess = %s, want a public token and the item's accounts", r.Data)
		}
		for _, i := range lw.sim.Items() {
			if i.ItemID == it.ItemID && i.NeedsUpdate {
				t.Error("the item still needs update mode after a successful session")
			}
		}
		if n := len(lw.sim.Items()); n != len(items) {
			t.Errorf("update mode changed the number of items: %d → %d", len(items), n)
		}
	})

	t.Run("script-embedded-twice", func(t *testing.T) {
		lw.use(t)
		lw.load(url.Values{"token": {lw.newToken(LinkTokenRequest{})}, "twice": {"1"}})
		lw.waitReport("load", 15*time.Second)
		w := lw.waitReport("console.warn", 5*time.Second)
		var msg string
		_ = json.Unmarshal(w.Data, &msg)
		if !strings.HasPrefix(msg, "The Plaid link-initialize.js script was embedded more than once. This is an unsupported configuration") {
			t.Errorf("warning = %q", msg)
		}
		v, err := lw.d.Eval(`window.Plaid === window.firstPlaid && document.querySelectorAll('iframe[id^="plaid-link-iframe-"]').length`, 5*time.Second)
		if err != nil || string(v) != "1" {
			t.Errorf("after a second embed: Plaid kept and one iframe? got %s %v", v, err)
		}
		// destroy() removes the iframe.
		v, err = lw.d.Eval(`(handler.destroy(), document.querySelectorAll('iframe[id^="plaid-link-iframe-"]').length)`, 5*time.Second)
		if err != nil || string(v) != "0" {
			t.Errorf("iframes after destroy() = %s %v, want 0", v, err)
		}
	})
}
