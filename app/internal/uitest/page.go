package uitest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"linkdesk/app/ui"
)

// Page evaluates JavaScript in a linkdesk window's page and reads the value
// back without binding anything into the page (linkdesk binds nothing, and
// neither do its tests): the script posts its result to a route of the app
// server — the page's own origin, so its Content-Security-Policy allows it.
type Page struct {
	w       *ui.Window
	seq     atomic.Int64
	mu      sync.Mutex
	waiters map[string]chan reply
}

type reply struct {
	OK    bool            `json:"ok"`
	Value json.RawMessage `json:"value"`
	Error string          `json:"error"`
}

// ReportPath is the app-server route Page's scripts answer on.
const ReportPath = "/__uitest/report/"

// NewPage returns a Page for w, whose Server gets the report route. Call it
// once per window, before the window runs.
func NewPage(w *ui.Window) *Page {
	p := &Page{w: w, waiters: map[string]chan reply{}}
	w.Server.Handle("POST "+ReportPath+"{id}", http.HandlerFunc(p.report))
	return p
}

func (p *Page) report(w http.ResponseWriter, r *http.Request) {
	var rep reply
	body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err := json.Unmarshal(body, &rep); err != nil {
		rep = reply{Error: "the page's answer was not JSON: " + err.Error()}
	}
	id := r.PathValue("id")
	p.mu.Lock()
	ch := p.waiters[id]
	delete(p.waiters, id)
	p.mu.Unlock()
	if ch != nil {
		ch <- rep
	}
	w.WriteHeader(http.StatusNoContent)
}

// ErrNoAnswer is wrapped by Eval's error when the page did not answer in
// time (the script was lost to a page load, or is still running).
var ErrNoAnswer = errors.New("no answer")

// Eval runs the JavaScript expression expr (it may be a promise) in the page
// and returns its value as JSON. A script sent before the page has loaded
// is lost: Eval then times out.
func (p *Page) Eval(expr string, timeout time.Duration) (json.RawMessage, error) {
	id := fmt.Sprintf("e%d", p.seq.Add(1))
	ch := make(chan reply, 1)
	p.mu.Lock()
	p.waiters[id] = ch
	p.mu.Unlock()
	url, _ := json.Marshal(ReportPath + id)
	js := `(async () => {
		let r;
		try {
			const v = await (async () => (` + expr + `))();
			r = JSON.stringify({ok: true, value: v === undefined ? null : v});
		} catch (e) {
			r = JSON.stringify({ok: false, error: String(e && e.message || e)});
		}
		fetch(` + string(url) + `, {method: "POST", headers: {"Content-Type": "application/json"}, body: r});
	})()`
	p.w.Dispatch(func() { p.w.Eval(js) })
	select {
	case r := <-ch:
		if !r.OK {
			return nil, fmt.Errorf("%s", r.Error)
		}
		return r.Value, nil
	case <-time.After(timeout):
		p.mu.Lock()
		delete(p.waiters, id)
		p.mu.Unlock()
		return nil, fmt.Errorf("%w within %s", ErrNoAnswer, timeout)
	}
}

// Link sends one command to the test driver of the simulated Plaid Link
// (the simulator's sim-driver.js, loaded when it runs with TestDriver) in
// the page's Link iframe, by postMessage to the iframe's origin, and returns
// the command's value. action is "exists", "text", "click" or "fill"
// (value: what to type) on the first element matching selector, or "popup"
// (value: a command of the same shape) for the bank's pop-up Link opened.
func (p *Page) Link(action, selector string, value any) (json.RawMessage, error) {
	return p.link(action, selector, value, 3*time.Second)
}

// link is Link with the time the iframe has to answer (a message sent
// before Link's page has loaded its driver is lost, not late).
func (p *Page) link(action, selector string, value any, within time.Duration) (json.RawMessage, error) {
	cmd := map[string]any{"action": action, "selector": selector, "value": value}
	if action == "popup" {
		cmd = map[string]any{"action": action, "command": value}
	}
	b, _ := json.Marshal(cmd)
	return p.Eval(`new Promise((resolve, reject) => {
		const f = document.querySelector('iframe[id^="plaid-link-iframe"]');
		if (!f) return reject(new Error("no Link iframe"));
		const id = "d" + Math.random().toString(36).slice(2);
		const origin = new URL(f.src).origin;
		const timer = setTimeout(() => { window.removeEventListener("message", on); reject(new Error("the Link iframe did not answer")); }, `+fmt.Sprint(within.Milliseconds())+`);
		function on(ev) {
			if (ev.origin !== origin || !ev.data || ev.data.type !== "linkdesk-sim-driver-result" || ev.data.id !== id) return;
			clearTimeout(timer); window.removeEventListener("message", on);
			ev.data.ok ? resolve(ev.data.value) : reject(new Error(ev.data.error));
		}
		window.addEventListener("message", on);
		f.contentWindow.postMessage(Object.assign({type: "linkdesk-sim-driver", id}, `+string(b)+`), origin);
	})`, within+2*time.Second)
}

// Popup sends one test-driver command (action on selector, as Link's) to
// the bank's pop-up, through the Link iframe that opened it.
func (p *Page) Popup(action, selector string) (json.RawMessage, error) {
	return p.popup(action, selector, 3*time.Second)
}

func (p *Page) popup(action, selector string, within time.Duration) (json.RawMessage, error) {
	b, _ := json.Marshal(map[string]any{"action": action, "selector": selector})
	return p.link("popup", "", json.RawMessage(b), within)
}
