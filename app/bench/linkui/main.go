// Command linkui measures what the operator feels on a click on Link bank
// account: the time from the click to Plaid Link on screen and usable, as
// linkdesk's own page measures it (package assets/app, plaidlink.js: from
// the click event to the simulated Link's message that its first pane is
// rendered and accepts input) and records it on the attempt (a timeline
// entry "Plaid Link on screen and usable …", data click_to_usable_ms and
// phases_ms).
//
// It runs the real linkdesk — session.Start on the built-in simulator with
// its workflow delay set to -delay, and the real window — in this process
// (the benchmark, app/bench, builds it like linkdesk and runs it under the
// same display), and works like an operator: open a customer, wait as an
// operator reading the customer would (until the link token prepared for
// them is ready, and Link created with it; with prefetching off, -look),
// click Link bank account, wait until Link is usable, close Link; then the
// next customer. One warm-up link, then -links timed ones, each for a
// customer of its own. LINKDESK_PREFETCH in the environment decides
// prefetching, as for linkdesk.
//
// It prints one JSON object (Result) on stdout; progress goes to stderr.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"time"

	"linkdesk/app/config"
	"linkdesk/app/internal/uitest"
	"linkdesk/app/keychain"
	"linkdesk/app/linkflow"
	"linkdesk/app/session"
	"linkdesk/app/sim"
	"linkdesk/app/timeline"
	"linkdesk/app/ui"
)

// Result is what linkui prints.
type Result struct {
	Prefetch      bool          `json:"prefetch"`
	WorkflowDelay time.Duration `json:"workflow_delay"`
	WarmUp        Link          `json:"warm_up"`
	Links         []Link        `json:"links"`
}

// Link is one click.
type Link struct {
	Customer string `json:"customer"`
	// ClickToUsableMS is what the page measured; Phases the steps on the
	// way (ms from the click): attempt, created, loaded, opened, open_event.
	ClickToUsableMS float64            `json:"click_to_usable_ms"`
	Phases          map[string]float64 `json:"phases_ms,omitempty"`
	// Prepared: Link was created before the click. ReadyAfterMS: from
	// opening the customer to the prepared token being ready (0 when none).
	Prepared     bool    `json:"prepared"`
	ReadyAfterMS float64 `json:"ready_after_ms,omitempty"`
	// Workflows the click created (0 when the prepared one served).
	Workflows int `json:"workflows"`
}

func init() { runtime.LockOSThread() } // GTK runs on the main thread

var mainq = make(chan func())

func onMain(f func()) {
	done := make(chan struct{})
	mainq <- func() { defer close(done); f() }
	<-done
}

func main() {
	links := flag.Int("links", 10, "timed links, after one warm-up link")
	delay := flag.Duration("delay", 5*time.Second, "the simulator's workflow delay")
	look := flag.Duration("look", 300*time.Millisecond, "with prefetching off: how long the operator looks at a customer before clicking")
	flag.Parse()
	code := make(chan int, 1)
	go func() { code <- run(*links, *delay, *look) }()
	for {
		select {
		case f := <-mainq:
			f()
		case c := <-code:
			os.Exit(c)
		}
	}
}

func progress(format string, args ...any) { fmt.Fprintf(os.Stderr, "linkui: "+format+"\n", args...) }

func run(links int, delay, look time.Duration) int {
	if err := ui.CheckDisplay(); err != nil {
		progress("%v", err)
		return 2
	}
	cfg, err := config.Load() // LINKDESK_PREFETCH as set; sim by default
	if err != nil {
		progress("%v", err)
		return 2
	}
	if cfg.Environment != config.Sim {
		progress("runs on the simulator only (LINKDESK_ENVIRONMENT=%s)", cfg.Environment)
		return 2
	}
	state, err := os.MkdirTemp("", "linkui-")
	if err != nil {
		progress("%v", err)
		return 2
	}
	defer os.RemoveAll(state)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := session.Start(cfg, "bench", log, keychain.NewMemory(), session.Options{StateDir: state,
		Sim: sim.Options{WorkflowDelay: delay, AccountDelay: 200 * time.Millisecond, TestDriver: true}})
	if err != nil {
		progress("%v", err)
		return 2
	}
	defer s.Close()
	var w *ui.Window
	var page *uitest.Page
	onMain(func() {
		w, err = s.OpenWindow(false)
		if err == nil {
			page = uitest.NewPage(w)
		}
	})
	if err != nil {
		progress("%v", err)
		return 2
	}
	ran := make(chan struct{})
	go func() { mainq <- func() { defer close(ran); w.Run() } }()
	defer func() {
		w.Terminate()
		<-ran
		onMain(w.Close)
	}()
	d := &driver{s: s, page: page}
	res, err := d.measure(cfg.Prefetch, links, delay, look)
	if err != nil {
		progress("%v", err)
		return 1
	}
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

type driver struct {
	s    *session.Session
	page *uitest.Page
}

func (d *driver) eval(expr string, timeout time.Duration) (json.RawMessage, error) {
	return d.page.Eval(expr, timeout)
}

// waitJS waits until expr is truthy in the page.
func (d *driver) waitJS(expr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if v, err := d.eval("!!("+expr+")", 1500*time.Millisecond); err == nil && string(v) == "true" {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("waited %s for %s", timeout, expr)
}

// link sends a test-driver command to the Link iframe (the simulator's
// sim-driver.js), through uitest's one copy of the in-page driver.
func (d *driver) link(action, selector string) (json.RawMessage, error) {
	return d.page.Link(action, selector, nil)
}

func (d *driver) measure(prefetch bool, links int, delay, look time.Duration) (Result, error) {
	res := Result{Prefetch: prefetch, WorkflowDelay: delay}
	e, err := d.s.Env()
	if err != nil {
		return res, err
	}
	if err := d.waitJS(`document.body.dataset.ready === "true"`, 30*time.Second); err != nil {
		return res, err
	}
	var customers []string
	for _, c := range e.Target.Sim.Cybrid.Customers() {
		if c.State == "verified" {
			customers = append(customers, c.GUID)
		}
	}
	if len(customers) < links+1 {
		return res, fmt.Errorf("the simulator has %d verified customers; %d links need one each", len(customers), links+1)
	}
	for i := 0; i <= links; i++ {
		l, err := d.one(e.Timeline, e.Target.Sim, customers[i], prefetch, look)
		if err != nil {
			return res, fmt.Errorf("link %d: %w", i, err)
		}
		progress("%-9s link %2d: click → Link usable %6.1f ms (phases %v)", map[bool]string{true: "prefetch", false: "no prefetch"}[prefetch], i, l.ClickToUsableMS, l.Phases)
		if i == 0 {
			res.WarmUp = l
		} else {
			res.Links = append(res.Links, l)
		}
	}
	return res, nil
}

func (d *driver) one(tl *timeline.Recorder, sm *sim.Sim, customer string, prefetch bool, look time.Duration) (Link, error) {
	l := Link{Customer: customer}
	since := tl.LastSeq()
	row := fmt.Sprintf(`document.querySelector('[data-testid="customer-row"][data-guid="%s"]')`, customer)
	if err := d.waitJS(row, 10*time.Second); err != nil {
		return l, err
	}
	opened := time.Now()
	if _, err := d.eval(row+`.click()`, 5*time.Second); err != nil {
		return l, err
	}
	if err := d.waitJS(fmt.Sprintf(`document.querySelector('[data-testid="customer-guid"]').dataset.guid === %q && !document.querySelector('[data-testid="link-account"]').disabled`, customer), 10*time.Second); err != nil {
		return l, err
	}
	if prefetch {
		// The operator reads the customer while the token is prepared and
		// Link created with it (hidden, loaded).
		ready := func() bool {
			for _, en := range tl.Entries("", since) {
				if strings.HasPrefix(en.Message, "Link token prepared in") && en.Data["customer_guid"] == customer {
					return true
				}
			}
			return false
		}
		deadline := time.Now().Add(60 * time.Second)
		for !ready() {
			if time.Now().After(deadline) {
				return l, errors.New("no link token was prepared within 60 s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		l.ReadyAfterMS = float64(time.Since(opened).Microseconds()) / 1000
		for {
			if _, err := d.link("text", `[data-testid="institution-ins_109508"]`); err == nil {
				break
			}
			if time.Now().After(deadline) {
				return l, errors.New("Link created before the click did not load within 60 s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // let the page settle, as an operator's reading would
	} else {
		time.Sleep(look)
	}
	workflows := sm.Cybrid.Stats().ByRoute["POST /api/workflows"]
	mark := tl.LastSeq()
	if _, err := d.eval(`document.querySelector('[data-testid="link-account"]').click()`, 5*time.Second); err != nil {
		return l, err
	}
	var shown *timeline.Entry
	deadline := time.Now().Add(90 * time.Second)
	for shown == nil {
		for _, en := range tl.Entries("", mark) {
			if en.Kind == timeline.KindLinkWindow && strings.HasPrefix(en.Message, "Plaid Link on screen and usable") {
				shown = &en
				break
			}
		}
		if time.Now().After(deadline) {
			return l, errors.New("Link was not reported usable within 90 s of the click")
		}
		time.Sleep(10 * time.Millisecond)
	}
	l.ClickToUsableMS, _ = shown.Data["click_to_usable_ms"].(float64)
	l.Prepared, _ = shown.Data["prepared"].(bool)
	if p, ok := shown.Data["phases_ms"].(map[string]any); ok {
		l.Phases = map[string]float64{}
		for k, v := range p {
			l.Phases[k], _ = v.(float64)
		}
	}
	l.Workflows = sm.Cybrid.Stats().ByRoute["POST /api/workflows"] - workflows
	// Close Link (the consent pane closes without asking) and wait for the
	// attempt to end.
	if _, err := d.link("click", `[data-testid="close"]`); err != nil {
		return l, fmt.Errorf("closing Link: %w", err)
	}
	e, _ := d.s.Env()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if a, ok := e.Flow.Latest(customer); ok && a.State.Final() {
			if a.State != linkflow.Exited {
				return l, fmt.Errorf("the attempt ended %s: %s", a.State, a.Error)
			}
			break
		}
		if time.Now().After(deadline) {
			return l, errors.New("the attempt did not end within 20 s of closing Link")
		}
	}
	return l, nil
}
