package uitest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Leave reads a value from a page of another origin than the app server's,
// whose answers Eval cannot receive: the app server refuses other origins,
// and such a page's Content-Security-Policy may let it reach no server at
// all (linkdesk's redirect pages: default-src 'none'). Once the window shows
// a loaded page of origin, the expression expr (synchronous) is evaluated
// there and the window navigates to a loopback sink of this package with
// its value — a navigation is the one way out that no CSP closes. The page
// is left for the sink's: read it last. Nothing is bound into either page.
func (d *Driver) Leave(origin, expr string, timeout time.Duration) json.RawMessage {
	d.t.Helper()
	s := theSink()
	id, ch := s.expect()
	defer s.forget(id)
	o, _ := json.Marshal(origin)
	to, _ := json.Marshal(s.url + "/leave/" + id + "?r=")
	js := `(() => {
		if (location.origin !== ` + string(o) + ` || document.readyState !== "complete" || window.__uitestLeaving) return;
		window.__uitestLeaving = true;
		let r;
		try { const v = (` + expr + `); r = {ok: true, value: v === undefined ? null : v}; }
		catch (e) { r = {ok: false, error: String(e && e.message || e)}; }
		location.href = ` + string(to) + ` + encodeURIComponent(JSON.stringify(r));
	})()`
	var got reply
	d.Until(timeout, fmt.Sprintf("a page of %s to read %s from", origin, Short(expr)), func() (bool, error) {
		d.Exec(js)
		select {
		case got = <-ch:
			return true, nil
		case <-time.After(50 * time.Millisecond):
			return false, nil
		}
	})
	if !got.OK {
		d.Fatalf("reading %s in the page of %s: %s", Short(expr), origin, got.Error)
	}
	return got.Value
}

// sink receives the values Leave's pages bring.
type sink struct {
	url     string
	seq     atomic.Int64
	mu      sync.Mutex
	waiters map[string]chan reply
}

var theSink = sync.OnceValue(func() *sink {
	s := &sink{waiters: map[string]chan reply{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("uitest: no loopback port for Leave's sink: %v", err))
	}
	s.url = "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /leave/{id}", func(w http.ResponseWriter, r *http.Request) {
		var rep reply
		if err := json.Unmarshal([]byte(r.URL.Query().Get("r")), &rep); err != nil {
			rep = reply{Error: "the page's answer was not JSON: " + err.Error()}
		}
		s.mu.Lock()
		ch := s.waiters[r.PathValue("id")]
		s.mu.Unlock()
		if ch != nil {
			select {
			case ch <- rep:
			default: // a second visit of the same read
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><title>read by the test</title>")
	})
	go (&http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}).Serve(ln)
	return s
})

func (s *sink) expect() (string, chan reply) {
	id := fmt.Sprintf("l%d", s.seq.Add(1))
	ch := make(chan reply, 1)
	s.mu.Lock()
	s.waiters[id] = ch
	s.mu.Unlock()
	return id, ch
}

func (s *sink) forget(id string) {
	s.mu.Lock()
	delete(s.waiters, id)
	s.mu.Unlock()
}
