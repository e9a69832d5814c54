package ui_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"linkdesk/app/internal/wait"
	"linkdesk/app/sim"
	"linkdesk/app/ui"
	"linkdesk/app/ui/httplimit"
)

// floodTarget is one of the servers linkdesk runs, started for real on
// loopback.
type floodTarget struct {
	name   string
	limits httplimit.Limits
	// start starts the server; it returns a URL the flood GETs and the
	// server's own connection counts.
	start func(t *testing.T) (rawURL string, stats func() httplimit.Stats)
}

// Issue 14: 2,000 connections that each made one request were all still
// open after 45 s (+2,000 file descriptors, +45 MB), on the app server, and
// the redirect server and the simulator had the same settings. Each server
// linkdesk runs is flooded the same way over loopback: 2,000 connections,
// one request each, kept open by the client and never used again. What the
// server holds is counted by the kernel, not by the server: the sockets on
// the server's port that this process has a file descriptor for.
//
// While the flood runs the server never holds more than its MaxConns; it
// still answers every connection it takes (a newcomer makes room by closing
// the longest-idle one) and a fresh client is answered at once; once
// IdleTimeout has passed it holds none, although the client keeps all of
// them open.
func TestIdleConnectionFloodIsBoundedOnEveryServer(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts sockets in /proc")
	}
	quiet := slog.New(slog.DiscardHandler)
	targets := []floodTarget{
		{"app server", ui.AppLimits, func(t *testing.T) (string, func() httplimit.Stats) {
			files := fstest.MapFS{"index.html": {Data: []byte(`{{.Secret}}`)}, "app.js": {Data: []byte(`console.log(1)`)}}
			s, err := ui.NewServer(files, ui.PageConfig{Environment: "sim"}, quiet)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s.URL + "/app.js", s.ConnStats
		}},
		{"redirect server", ui.RedirectLimits, func(t *testing.T) (string, func() httplimit.Stats) {
			rs, err := ui.ServeRedirect("http://localhost:0/oauth/return", func(string) error { return ui.ErrNotWaiting }, quiet)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { rs.Close() })
			return rs.URI, rs.ConnStats
		}},
		{"simulator", sim.Limits, func(t *testing.T) (string, func() httplimit.Stats) {
			s, err := sim.Start(sim.Options{Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s.PlaidURL + "/link/v2/stable/link-initialize.js", s.ConnStats
		}},
	}
	// All three at once (not t.Parallel, which -parallel would hold to
	// GOMAXPROCS): the test takes one IdleTimeout, not three.
	var wg sync.WaitGroup
	for _, tg := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(tg.name, func(t *testing.T) { floodOne(t, tg) })
		}()
	}
	wg.Wait()
}

// idleBound is how long after a flood its idle connections may still be
// held: the issue found them all open after 45 s.
const idleBound = 20 * time.Second

func floodOne(t *testing.T, tg floodTarget) {
	const conns, workers = 2000, 16
	raw, stats := tg.start(t)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	dial := net.JoinHostPort("127.0.0.1", u.Port())
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/html\r\nUser-Agent: flood\r\n\r\n", u.RequestURI(), u.Host)
	limit := tg.limits.MaxConns

	if n := heldSockets(t, port); n != 0 {
		t.Fatalf("%d connections held before the flood", n)
	}
	var mu sync.Mutex
	var open []net.Conn
	var answered, refused atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	next := make(chan struct{})
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				c, err := net.DialTimeout("tcp", dial, 5*time.Second)
				if err != nil {
					refused.Add(1)
					continue
				}
				mu.Lock()
				open = append(open, c)
				mu.Unlock()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.WriteString(c, req); err != nil {
					refused.Add(1)
					continue
				}
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					refused.Add(1) // closed: no room came in time
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				answered.Add(1)
				// Kept open, never used again.
			}
		}()
	}
	for i := 0; i < conns; i++ {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	flooded := time.Since(start)
	end := time.Now()
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	held := heldSockets(t, port)
	st := stats()
	t.Logf("%s: %d connections with one request each in %v: %d answered, %d closed for want of room; the server held at most %d (MaxConns %d; %d idle ones closed to make room), %d sockets at the end",
		tg.name, conns, flooded.Round(time.Millisecond), answered.Load(), refused.Load(), st.Peak, limit, st.Evicted, held)
	if st.Peak > limit || held > limit {
		t.Errorf("the server held up to %d connections during the flood and %d sockets after it, want at most MaxConns = %d", st.Peak, held, limit)
	}
	if a := answered.Load(); a < conns/2 {
		t.Errorf("only %d of %d connections were answered: a flood of idle connections must not lock clients out", a, conns)
	}

	// A new client is answered at once although the flood's connections
	// are still open on the client's side.
	fresh := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	began := time.Now()
	resp, err := fresh.Get(u.String())
	if err != nil {
		t.Fatalf("a fresh client after the flood: %v", err)
	}
	resp.Body.Close()
	if d := time.Since(began); d > time.Second {
		t.Errorf("a fresh client waited %v for its answer", d)
	}

	// Within idleBound the server has closed every idle connection; the
	// client has closed none.
	// (A timeout is reported below, with the count and the timing.)
	wait.Until(time.Until(end.Add(idleBound)), func() (bool, error) { return heldSockets(t, port) == 0, nil })
	after := heldSockets(t, port)
	t.Logf("%s: %v after the flood (IdleTimeout %v) the server holds %d of its connections; the client still has %d open", tg.name, time.Since(end).Round(100*time.Millisecond), tg.limits.IdleTimeout, after, len(open))
	if after != 0 {
		t.Errorf("%d connections still held %v after the flood, want 0 (IdleTimeout %v)", after, idleBound, tg.limits.IdleTimeout)
	}
	if tg.limits.IdleTimeout+time.Second > idleBound {
		t.Errorf("IdleTimeout is %v: a connection may stay idle longer than %v", tg.limits.IdleTimeout, idleBound)
	}
}

// heldSockets counts the TCP sockets on local port port (listening ones
// aside) that this process holds a file descriptor for: the connections a
// server on that port has accepted and not closed.
func heldSockets(t *testing.T, port int) int {
	t.Helper()
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/self/net/tcp", "/proc/self/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) < 10 || fs[3] == "0A" || fs[9] == "0" { // listening, or no inode (not accepted, TIME_WAIT)
				continue
			}
			_, hexPort, ok := strings.Cut(fs[1], ":")
			if p, err := strconv.ParseInt(hexPort, 16, 32); !ok || err != nil || int(p) != port {
				continue
			}
			inodes[fs[9]] = true
		}
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		link, err := os.Readlink("/proc/self/fd/" + fd.Name())
		if err != nil {
			continue
		}
		if in, ok := strings.CutPrefix(link, "socket:["); ok && inodes[strings.TrimSuffix(in, "]")] {
			n++
		}
	}
	return n
}
