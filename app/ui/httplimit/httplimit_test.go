package httplimit_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"linkdesk/app/ui/httplimit"
)

func serve(t *testing.T, l httplimit.Limits, h http.Handler) (*httplimit.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := l.New(h, nil)
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return s, ln.Addr().String()
}

// get sends one request on a new connection and reads the answer; it
// returns the connection (left open) and the status, or the error.
func get(t *testing.T, addr, path string) (net.Conn, int, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return c, 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return c, 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return c, resp.StatusCode, nil
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })

// Silent connections (a slow-loris client) fill the server only until
// ReadHeaderTimeout: meanwhile a newcomer is closed at once (there is no
// idle connection to close instead), then it is answered.
func TestSilentConnectionsHoldTheServerOnlyUntilReadHeaderTimeout(t *testing.T) {
	l := httplimit.Limits{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: time.Second, WriteTimeout: time.Second,
		IdleTimeout: time.Second, MaxConns: 4}
	s, addr := serve(t, l, ok)
	for i := 0; i < l.MaxConns; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	waitFor(t, func() bool { return s.Stats().Open == l.MaxConns })
	if _, _, err := get(t, addr, "/"); err == nil {
		t.Fatalf("a request was answered while %d silent connections filled the server", l.MaxConns)
	}
	if st := s.Stats(); st.Refused == 0 || st.Peak > l.MaxConns {
		t.Errorf("stats %+v: want a refusal and a peak of at most %d", st, l.MaxConns)
	}
	time.Sleep(l.ReadHeaderTimeout + 200*time.Millisecond)
	if _, code, err := get(t, addr, "/"); err != nil || code != 200 {
		t.Fatalf("after ReadHeaderTimeout: %d, %v; want 200", code, err)
	}
}

// A full server closes its longest-idle connection for a newcomer, and an
// idle connection is closed after IdleTimeout.
func TestIdleConnectionsMakeRoomAndTimeOut(t *testing.T) {
	l := httplimit.Limits{ReadHeaderTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second,
		IdleTimeout: 500 * time.Millisecond, MaxConns: 2}
	s, addr := serve(t, l, ok)
	first, _, err := get(t, addr, "/")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if _, _, err := get(t, addr, "/"); err != nil {
		t.Fatal(err)
	}
	if _, code, err := get(t, addr, "/"); err != nil || code != 200 {
		t.Fatalf("a third client on a full server of idle connections: %d, %v", code, err)
	}
	// The first (longest idle) was closed for it.
	first.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := first.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("the longest-idle connection: read %v, want EOF", err)
	}
	if st := s.Stats(); st.Evicted != 1 || st.Peak != 2 {
		t.Errorf("stats %+v: want 1 evicted, peak 2", st)
	}
	waitFor(t, func() bool { return s.Stats().Open == 0 })
}

// WriteTimeout cuts a slow answer unless the handler moves its own
// deadline (as the app server does for page calls).
func TestWriteTimeoutAndAHandlersOwnDeadline(t *testing.T) {
	l := httplimit.Limits{ReadHeaderTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: 200 * time.Millisecond,
		IdleTimeout: time.Second, MaxConns: 4}
	_, addr := serve(t, l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/long" {
			http.NewResponseController(w).SetWriteDeadline(time.Now().Add(2 * time.Second))
		}
		time.Sleep(400 * time.Millisecond)
		io.WriteString(w, "late")
	}))
	if _, code, err := get(t, addr, "/slow"); err == nil {
		t.Errorf("an answer later than WriteTimeout arrived (%d)", code)
	}
	if _, code, err := get(t, addr, "/long"); err != nil || code != 200 {
		t.Errorf("a handler that moved its deadline: %d, %v; want 200", code, err)
	}
}

func TestLimitsWithoutTimeoutsAreRefused(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "must be set") {
			t.Errorf("New without IdleTimeout: recovered %v, want a panic", r)
		}
	}()
	httplimit.Limits{ReadHeaderTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxConns: 1}.New(ok, nil)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met after 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
