package httplimit_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"linkdesk/app/internal/wait"
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
// ReadHeaderTimeout: a newcomer waits for them to be closed, then is
// answered.
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
	waitOpen(t, s, l.MaxConns)
	began := time.Now()
	if _, code, err := get(t, addr, "/"); err != nil || code != 200 {
		t.Fatalf("a newcomer while silent connections fill the server: %d, %v; want 200 once they time out", code, err)
	}
	if d := time.Since(began); d < l.ReadHeaderTimeout/2 {
		t.Errorf("answered after %v: the silent connections did not hold the server", d)
	}
	if st := s.Stats(); st.Peak > l.MaxConns {
		t.Errorf("stats %+v: peak above %d", st, l.MaxConns)
	}
}

// A newcomer to a server full of busy connections waits at most
// ReadHeaderTimeout, then is closed.
func TestANewcomerToABusyServerIsClosedAfterWaiting(t *testing.T) {
	l := httplimit.Limits{ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second,
		IdleTimeout: time.Second, MaxConns: 1}
	release := make(chan struct{})
	s, addr := serve(t, l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer close(release)
	busy, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	io.WriteString(busy, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	waitOpen(t, s, 1)
	began := time.Now()
	if _, code, err := get(t, addr, "/"); err == nil {
		t.Fatalf("a newcomer was answered (%d) while the only connection was busy", code)
	}
	if d := time.Since(began); d < l.ReadHeaderTimeout/2 || d > 3*time.Second {
		t.Errorf("the newcomer was closed after %v, want after about %v", d, l.ReadHeaderTimeout)
	}
	if st := s.Stats(); st.Refused != 1 || st.Peak != 1 {
		t.Errorf("stats %+v: want 1 refused, peak 1", st)
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
	waitOpen(t, s, 0)
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

// waitOpen waits until the server holds n connections.
func waitOpen(t *testing.T, s *httplimit.Server, n int) {
	t.Helper()
	wait.For(t, 5*time.Second, fmt.Sprintf("%d open connections", n), func() (bool, error) {
		st := s.Stats()
		return st.Open == n, fmt.Errorf("stats %+v", st)
	})
}
