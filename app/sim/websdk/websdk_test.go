package websdk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"linkdesk/app/internal/contract"
	"linkdesk/app/internal/testneeds"
	"linkdesk/app/sim"
)

// driverTimeout bounds the node driver; the run takes about 20 s.
const driverTimeout = 150 * time.Second

// unavailable skips the test, or fails it under LINKDESK_REQUIRE_BROWSER=1.
func unavailable(t *testing.T, format string, args ...any) {
	t.Helper()
	testneeds.Missing(t, testneeds.Browser, "the web SDK test cannot run: "+format, args...)
}

type tools struct{ node, npm, chromium string }

func findTools(t *testing.T) tools {
	t.Helper()
	var tl tools
	var err error
	if tl.node, err = exec.LookPath("node"); err != nil {
		unavailable(t, "node is not installed (Debian: apt-get install nodejs)")
	}
	candidates := []string{"/usr/bin/chromium", "chromium", "chromium-browser"}
	if c := os.Getenv("LINKDESK_CHROMIUM"); c != "" {
		candidates = []string{c}
	}
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			tl.chromium = p
			break
		}
	}
	switch {
	case tl.chromium == "" && os.Getenv("LINKDESK_CHROMIUM") != "":
		unavailable(t, "LINKDESK_CHROMIUM=%s is not an executable; point it at Chromium or unset it", os.Getenv("LINKDESK_CHROMIUM"))
	case tl.chromium == "":
		unavailable(t, "Chromium is not installed (Debian: apt-get install chromium; or set LINKDESK_CHROMIUM to its path)")
	}
	tl.npm, _ = exec.LookPath("npm")
	return tl
}

// installModules runs npm ci in testdata when node_modules is missing or
// older than package.json / package-lock.json (the rule
// build/scripts/install-node-modules.sh follows too).
func installModules(t *testing.T, tl tools) {
	t.Helper()
	stamp, err := os.Stat(filepath.Join("testdata", "node_modules", ".package-lock.json"))
	fresh := err == nil
	for _, f := range []string{"package.json", "package-lock.json"} {
		if st, err := os.Stat(filepath.Join("testdata", f)); err != nil || (fresh && st.ModTime().After(stamp.ModTime())) {
			fresh = false
		}
	}
	if fresh {
		return
	}
	if tl.npm == "" {
		unavailable(t, "the node modules are not installed and npm is missing (run build/scripts/websdk-deps.sh)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, tl.npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = "testdata"
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		unavailable(t, "npm ci in app/sim/websdk/testdata failed (%v): is the npm registry reachable?\n%s", err, out)
	}
	t.Logf("npm ci installed the node modules in %s", time.Since(start).Round(time.Millisecond))
}

func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if d := os.Getenv("LINKDESK_ARTIFACTS"); d != "" {
		dir = filepath.Join(d, "websdk")
		os.RemoveAll(dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// stepResult is one line of drive.mjs's output.
type stepResult struct {
	Step        string          `json:"step"`
	OK          bool            `json:"ok"`
	MS          int             `json:"ms"`
	Error       string          `json:"error"`
	Screenshot  string          `json:"screenshot"`
	Shown       json.RawMessage `json:"shown"`
	Account     string          `json:"account"`
	PopupOrigin string          `json:"popupOrigin"`
	SDKErrors   []any           `json:"sdkErrors"`
	HTTPErrors  []string        `json:"httpErrors"`
	Done        bool            `json:"done"`
}

// contractCheck validates every /api/ exchange the browser makes through
// the front against Cybrid's bank spec (CORS preflights aside: they are not
// operations of the spec).
type contractCheck struct{ tr *contract.Transport }

func (c contractCheck) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodOptions || c.tr == nil {
		return http.DefaultTransport.RoundTrip(r)
	}
	return c.tr.RoundTrip(r)
}

// TestCybridWebSDKAgainstTheSimulator runs Cybrid's web SDK in headless
// Chromium against the simulator, reached under Cybrid's and Plaid's own
// hostnames: bank-account-connect links an account, is left at consent and
// resumed, links at an OAuth bank through the bank's pop-up, renews an
// expired connection in update mode; bank-account-list shows the accounts
// before and after. Every step is screenshotted; afterwards the simulator
// must hold what the SDK said it did.
func TestCybridWebSDKAgainstTheSimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("the web SDK test runs a browser; not in -short")
	}
	tl := findTools(t)
	installModules(t, tl)
	sdkDir, _ := filepath.Abs(filepath.Join("testdata", "node_modules", "@cybrid", "cybrid-sdk-ui-js"))
	if _, err := os.Stat(filepath.Join(sdkDir, "cybrid-sdk-ui.min.js")); err != nil {
		t.Fatalf("the web SDK is not in node_modules (%v); run build/scripts/websdk-deps.sh", err)
	}
	hostHTML, err := os.ReadFile(filepath.Join("testdata", "host.html"))
	if err != nil {
		t.Fatal(err)
	}
	arts := artifactsDir(t)

	var tr *contract.Transport
	if spec := contract.Optional(t, contract.BankSpecFile); spec != nil {
		tr = &contract.Transport{Spec: spec}
	}
	st, err := startStack(sim.Options{WorkflowDelay: 300 * time.Millisecond, AccountDelay: 200 * time.Millisecond},
		contractCheck{tr}, hostHTML, sdkDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	var cust string
	for _, c := range st.sim.Cybrid.Customers() {
		if c.State == "verified" {
			cust = c.GUID
			break
		}
	}
	token, err := customerToken(st.sim, cust, []string{"customers:read", "workflows:read", "workflows:execute",
		"external_bank_accounts:read", "external_bank_accounts:write", "external_bank_accounts:execute"})
	if err != nil {
		t.Fatalf("customer token: %v", err)
	}

	cfg, _ := json.Marshal(map[string]any{
		"chromium": tl.chromium, "resolverRules": st.resolverRules(), "spki": st.spki, "hostURL": st.HostURL,
		"simURL": st.sim.BankURL, "token": token, "customer": cust, "artifacts": arts,
		"timeoutMs": (driverTimeout - 10*time.Second).Milliseconds(),
	})
	ctx, cancel := context.WithTimeout(context.Background(), driverTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tl.node, "drive.mjs")
	cmd.Dir = "testdata"
	cmd.Env = append(os.Environ(), "LINKDESK_WEBSDK_CONFIG="+string(cfg))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()
	elapsed := time.Since(start)
	logFile := filepath.Join(arts, "driver.log")
	os.WriteFile(logFile, stderr.Bytes(), 0o644)
	if strings.Contains(stdout.String()+stderr.String(), token) {
		t.Errorf("the customer token appears in the driver's output (%s)", logFile)
	}

	var steps []stepResult
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r stepResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Errorf("driver printed a line that is not JSON: %q", sc.Text())
			continue
		}
		if r.Done {
			continue
		}
		steps = append(steps, r)
		if r.OK {
			t.Logf("%-22s ok   %5d ms  %s", r.Step, r.MS, r.Shown)
		} else {
			t.Errorf("%-22s FAILED after %d ms: %s (screenshot %s)", r.Step, r.MS, r.Error, r.Screenshot)
		}
		if len(r.SDKErrors) > 0 {
			t.Errorf("%s: the SDK reported errors: %v", r.Step, r.SDKErrors)
		}
		if len(r.HTTPErrors) > 0 {
			t.Errorf("%s: Cybrid's or Plaid's hosts answered errors: %v", r.Step, r.HTTPErrors)
		}
	}
	t.Logf("the web SDK run took %s; screenshots and the browser log in %s", elapsed.Round(100*time.Millisecond), arts)
	if runErr != nil {
		var ee *exec.ExitError
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Errorf("the driver did not finish within %s", driverTimeout)
		} else if !errors.As(runErr, &ee) {
			t.Fatalf("running node drive.mjs: %v", runErr)
		}
		t.Fatalf("the driver failed (%v); last browser log lines:\n%s", runErr, tail(stderr.String(), 25))
	}
	want := []string{"new-link", "exit-and-resume", "oauth-bank", "expire", "list-refresh-required", "update-mode", "list-after-update"}
	var got []string
	byName := map[string]stepResult{}
	for _, r := range steps {
		got = append(got, r.Step)
		byName[r.Step] = r
	}
	if !slices.Equal(got, want) {
		t.Fatalf("driver steps = %v, want %v", got, want)
	}
	if o := byName["oauth-bank"].PopupOrigin; o != "https://cdn.plaid.com" {
		t.Errorf("the bank's OAuth pop-up ran under %q, want https://cdn.plaid.com (through the front)", o)
	}
	if tr != nil {
		tr.Check(t) // every /api/ request the SDK sent and every answer it got
	}

	// What bank-account-list showed, before and after update mode.
	rows := func(step string) []string {
		var r []string
		json.Unmarshal(byName[step].Shown, &r)
		for i := range r {
			_, r[i], _ = strings.Cut(r[i], ": ")
		}
		slices.Sort(r)
		return r
	}
	if got := rows("list-refresh-required"); !slices.Equal(got, []string{"Refresh required", "Unverified", "Unverified"}) {
		t.Errorf("bank-account-list after the expire hook shows %v, want one Refresh required and two Unverified", got)
	}
	if got := rows("list-after-update"); !slices.Equal(got, []string{"Unverified", "Unverified", "Unverified"}) {
		t.Errorf("bank-account-list after update mode shows %v, want three Unverified", got)
	}
	checkSimulator(t, st.sim, cust, byName["expire"].Account)

	shots, _ := filepath.Glob(filepath.Join(arts, "*.png"))
	if len(shots) < len(want)+8 {
		t.Errorf("%d screenshots in %s, want one per step and pane", len(shots), arts)
	}
}

// checkSimulator: the simulator holds what the SDK showed — three accounts
// of the customer (First Platypus 0000 and 1111, Platypus OAuth 0000), all
// unverified, the expired one renewed; Link sessions that exited at
// consent, went through OAuth and ran in update mode; the workflows the SDK
// created; PATCH once; the asset list read.
func checkSimulator(t *testing.T, s *sim.Sim, cust, expired string) {
	t.Helper()
	var accts []string
	for _, a := range s.Cybrid.Accounts(cust) {
		accts = append(accts, a.InstitutionID+"/"+a.Mask+"/"+a.State)
	}
	slices.Sort(accts)
	if want := []string{"ins_109508/0000/unverified", "ins_109508/1111/unverified", "ins_127287/0000/unverified"}; !slices.Equal(accts, want) {
		t.Errorf("the customer's accounts = %v, want %v", accts, want)
	}
	if a, ok := s.Cybrid.Account(expired); !ok || a.State != "unverified" {
		t.Errorf("the expired account %s is now %+v, want unverified (renewed by update mode)", expired, a)
	}
	for _, it := range s.Plaid.Items() {
		if it.NeedsUpdate {
			t.Errorf("Plaid item %s still needs update mode", it.ItemID)
		}
	}
	var exits, oauth, update int
	for _, se := range s.Plaid.Sessions() {
		switch {
		case se.Step == "exited" && se.ExitStatus == "requires_credentials":
			exits++
		case se.Step == "connected" && se.InstitutionID == "ins_127287":
			oauth++
		case se.Step == "connected" && se.UpdateMode:
			update++
		}
	}
	if exits != 1 || oauth != 1 || update != 1 {
		t.Errorf("Link sessions: %d exited at consent, %d connected via OAuth, %d in update mode; want 1 each (%+v)", exits, oauth, update, s.Plaid.Sessions())
	}
	kinds := map[string]int{}
	for _, wf := range s.Cybrid.Workflows() {
		if wf.CustomerGUID != cust || wf.State != "completed" {
			t.Errorf("workflow %+v: want the customer's, completed", wf)
		}
		kinds[wf.Kind]++
	}
	if kinds["link_token_create"] != 4 || kinds["link_token_update"] != 1 {
		t.Errorf("workflows by kind = %v, want 4 link_token_create (new, exited, resumed, OAuth) and 1 link_token_update", kinds)
	}
	routes := s.Cybrid.Stats().ByRoute
	if routes["GET /api/assets"] == 0 || routes["PATCH /api/external_bank_accounts/{guid}"] != 1 || routes["POST /api/customer_tokens"] != 1 {
		t.Errorf("requests by route = %v, want the asset list read, one PATCH and one customer token", routes)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
