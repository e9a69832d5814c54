package uitest

import (
	"encoding/json"
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
		return nil, fmt.Errorf("no answer within %s", timeout)
	}
}
