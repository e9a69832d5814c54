// Package httplimit bounds what an HTTP server of linkdesk holds open. Every
// server linkdesk runs — the loopback app server and the OAuth redirect
// server (package ui) and the simulator (package sim) — is made by
// Limits.New and served through it, so that no client can make it keep
// connections forever or without number:
//
//   - every phase of a connection has a deadline: the request's headers
//     (ReadHeaderTimeout), the whole request (ReadTimeout), the answer
//     (WriteTimeout) and the wait for the next request on a kept-alive
//     connection (IdleTimeout);
//   - at most MaxConns connections are open at once, on all of the server's
//     listeners together. When a new connection comes and MaxConns are
//     open, the connection idle the longest is closed to make room (a
//     kept-alive connection costs its client nothing to dial again); when
//     none is idle the new connection waits, at most ReadHeaderTimeout, for
//     one to become idle or end (the deadlines guarantee that one does),
//     and is closed if none does. Meanwhile further connections wait in the
//     kernel's backlog.
//
// It depends on nothing of linkdesk's (package sim uses it too).
package httplimit

import (
	"log"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits are one server's bounds. Zero durations are not allowed: New
// panics on a Limits without every timeout and a MaxConns, because a server
// without them is exactly what this package exists to prevent.
type Limits struct {
	// ReadHeaderTimeout bounds the wait for a request's headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of a request's headers to
	// the end of its answer. A handler that legitimately takes longer
	// moves its own deadline (http.ResponseController.SetWriteDeadline).
	WriteTimeout time.Duration
	// IdleTimeout closes a kept-alive connection that sends no new request
	// for this long.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers (http.DefaultMaxHeaderBytes
	// when 0).
	MaxHeaderBytes int
	// MaxConns bounds the connections open at once.
	MaxConns int
}

// Server is an http.Server with Limits applied. Serve it only through its
// own Serve method, which applies MaxConns to the listener.
type Server struct {
	*http.Server
	// Limits are the bounds it was made with.
	Limits Limits
	g      *guard
}

// New returns a server for h with l's bounds; errorLog receives the
// server's own errors (nil: the log package's standard logger).
func (l Limits) New(h http.Handler, errorLog *log.Logger) *Server {
	if l.ReadHeaderTimeout <= 0 || l.ReadTimeout <= 0 || l.WriteTimeout <= 0 || l.IdleTimeout <= 0 || l.MaxConns <= 0 {
		panic("httplimit: every timeout and MaxConns must be set")
	}
	g := &guard{max: l.MaxConns, wait: l.ReadHeaderTimeout, conns: map[net.Conn]*connState{}, changed: make(chan struct{})}
	return &Server{
		Server: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: l.ReadHeaderTimeout,
			ReadTimeout:       l.ReadTimeout,
			WriteTimeout:      l.WriteTimeout,
			IdleTimeout:       l.IdleTimeout,
			MaxHeaderBytes:    l.MaxHeaderBytes,
			ErrorLog:          errorLog,
			ConnState:         g.connState,
		},
		Limits: l,
		g:      g,
	}
}

// Serve serves ln with MaxConns applied (shared with every other listener
// the server serves). It returns what http.Server.Serve returns.
func (s *Server) Serve(ln net.Listener) error {
	return s.Server.Serve(&listener{Listener: ln, g: s.g})
}

// Stats are counts of a Server's connections.
type Stats struct {
	// Open is the connections open now; Peak the most ever open at once.
	Open, Peak int
	// Evicted counts idle connections closed to make room for a new one;
	// Refused new connections closed because none became idle or ended in
	// time.
	Evicted, Refused int
}

// Stats returns the server's connection counts.
func (s *Server) Stats() Stats {
	s.g.mu.Lock()
	defer s.g.mu.Unlock()
	return Stats{Open: len(s.g.conns), Peak: s.g.peak, Evicted: s.g.evicted, Refused: s.g.refused}
}

// guard counts a server's connections (keyed by the net.Conn its listener
// handed to http.Server, which reports their states to connState).
type guard struct {
	max  int
	wait time.Duration // how long a new connection waits for room

	mu      sync.Mutex
	conns   map[net.Conn]*connState
	changed chan struct{} // closed (and replaced) when a connection goes idle or ends
	peak    int
	evicted int
	refused int
}

type connState struct {
	state http.ConnState
	since time.Time // of the current state
}

// admit takes c in. When the server is full it closes the longest-idle
// connection to make room, or waits (at most g.wait) for one to go idle or
// end; it reports false when none did.
func (g *guard) admit(c net.Conn) bool {
	deadline := time.Now().Add(g.wait)
	for {
		g.mu.Lock()
		var victim net.Conn
		if len(g.conns) >= g.max {
			var oldest time.Time
			for vc, st := range g.conns {
				if st.state == http.StateIdle && (victim == nil || st.since.Before(oldest)) {
					victim, oldest = vc, st.since
				}
			}
			if victim == nil {
				changed := g.changed
				g.mu.Unlock()
				left := time.Until(deadline)
				if left <= 0 {
					g.mu.Lock()
					g.refused++
					g.mu.Unlock()
					return false
				}
				t := time.NewTimer(left)
				select {
				case <-changed:
				case <-t.C:
				}
				t.Stop()
				continue
			}
			delete(g.conns, victim)
			g.evicted++
		}
		g.conns[c] = &connState{state: http.StateNew, since: time.Now()}
		if n := len(g.conns); n > g.peak {
			g.peak = n
		}
		g.mu.Unlock()
		if victim != nil {
			// http.Server's goroutine for it sees the read fail and ends it.
			victim.Close()
		}
		return true
	}
}

func (g *guard) connState(c net.Conn, s http.ConnState) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st, ok := g.conns[c]
	if !ok {
		return // evicted, or not from a listener of this server
	}
	if s == http.StateClosed || s == http.StateHijacked {
		delete(g.conns, c)
	} else {
		st.state, st.since = s, time.Now()
	}
	if s != http.StateActive && s != http.StateNew {
		close(g.changed) // room for a connection waiting in admit
		g.changed = make(chan struct{})
	}
}

// listener admits each accepted connection through its guard.
type listener struct {
	net.Listener
	g *guard
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.g.admit(c) {
			return c, nil
		}
		c.Close()
	}
}
