// Package handover passes a linkdesk:// URL from a second linkdesk process
// to the running one. The OS starts `linkdesk linkdesk://oauth-return?…` for
// the URL scheme (the hosted OAuth return page forwards the bank's answer
// that way in production); that process hands the URL over and exits, and
// the running linkdesk re-creates Plaid Link with it.
//
// The hand-over is a unix socket, handover.sock, in the user's runtime
// directory ($XDG_RUNTIME_DIR/linkdesk, else <tmp>/linkdesk-<uid>), and it
// accepts only the running user's own processes:
//   - the directory is the user's alone: created 0700; one that another
//     user owns, or that others can enter, is refused (Listen and Send), so
//     no other user can plant a socket there or reach ours;
//   - each connection's peer is checked by the kernel's credentials
//     (SO_PEERCRED): a process of another user is refused even if it
//     reached the socket;
//   - a web page cannot reach a unix socket at all.
//
// One request per connection: a JSON line {"url": "linkdesk:…"} of at most
// MaxRequest bytes, answered by {"ok": true} or {"error": "…"} (a sentence
// saying what to do). Only linkdesk: URLs are handed to the handler.
//
// Implemented for Linux; elsewhere Listen and Send say so (macOS and
// Windows are untested: see README).
package handover

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Scheme is linkdesk's URL scheme.
const Scheme = "linkdesk"

// SocketName is the socket's file name in the directory.
const SocketName = "handover.sock"

// MaxRequest bounds one request, in bytes.
const MaxRequest = 8 << 10

// ioTimeout bounds one connection's exchange.
const ioTimeout = 5 * time.Second

// ErrRunning is returned by Listen when another linkdesk of this user
// already listens: the URL scheme then reaches that one.
var ErrRunning = errors.New("another linkdesk of this user is already running and takes the linkdesk:// hand-over")

// ErrNoneRunning is returned by Send when no linkdesk listens.
var ErrNoneRunning = errors.New("no linkdesk is running to take this answer: start linkdesk, start linking again, and finish the bank's sign-in from there")

// Dir is the hand-over directory: $XDG_RUNTIME_DIR/linkdesk (the runtime
// directory is the user's alone by the XDG spec), else
// <os.TempDir()>/linkdesk-<uid>.
func Dir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "linkdesk")
	}
	return filepath.Join(os.TempDir(), "linkdesk-"+strconv.Itoa(os.Getuid()))
}

// ownDir makes dir (0700) when missing and checks it is the user's alone:
// owned by this uid, no access for group or others, not a symlink.
func ownDir(dir string, create bool) error {
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("cannot create the hand-over directory %s: %w", dir, err)
		}
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	uid, ok := fileOwner(fi)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("the hand-over directory %s is not a directory: remove it", dir)
	case !ok || uid != os.Getuid():
		return fmt.Errorf("the hand-over directory %s belongs to another user: remove it (or set XDG_RUNTIME_DIR to your own runtime directory)", dir)
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("the hand-over directory %s is open to other users (mode %o): run chmod 700 %s", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// Server takes hand-overs until Close.
type Server struct {
	path string
	ln   *net.UnixListener
	log  *slog.Logger
	wg   sync.WaitGroup
	once sync.Once
}

type request struct {
	URL string `json:"url"`
}

type answer struct {
	OK    bool   `json:"ok,omitempty"`
	Error string `json:"error,omitempty"`
}

// Listen takes hand-overs in dir (Dir() in the app) and calls handle with
// each linkdesk: URL a process of this user sends, one at a time. handle's
// error goes back to the sender, so it must be a sentence saying what to
// do. Listen returns ErrRunning when another linkdesk already listens, and
// refuses a directory that is not the user's alone.
func Listen(dir string, handle func(rawURL string) error, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := supported(); err != nil {
		return nil, err
	}
	if err := ownDir(dir, true); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, SocketName)
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, ErrRunning
	}
	// A socket nobody answers on is left over from a linkdesk that ended.
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cannot remove the stale hand-over socket %s: %w", path, err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("cannot listen for the linkdesk:// hand-over at %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("cannot restrict the hand-over socket %s: %w", path, err)
	}
	s := &Server{path: path, ln: ln, log: log}
	var serial sync.Mutex
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				serial.Lock()
				defer serial.Unlock()
				s.serve(c, handle)
			}()
		}
	}()
	return s, nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

func (s *Server) serve(c *net.UnixConn, handle func(string) error) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	reply := func(a answer) { json.NewEncoder(c).Encode(a) }
	uid, err := peerUID(c)
	if err != nil || uid != os.Getuid() {
		s.log.Warn("refused a linkdesk:// hand-over from another user's process", "peer_uid", uid, "err", err)
		reply(answer{Error: "this linkdesk takes hand-overs only from its own user"})
		// Drain what it sent (unread, never parsed) so that closing does
		// not reset the connection before it reads the answer.
		c.CloseWrite()
		io.Copy(io.Discard, io.LimitReader(c, MaxRequest))
		return
	}
	line, err := bufio.NewReader(io.LimitReader(c, MaxRequest+1)).ReadBytes('\n')
	if len(line) > MaxRequest {
		reply(answer{Error: fmt.Sprintf("the hand-over is longer than %d bytes", MaxRequest)})
		return
	}
	var req request
	if err := json.Unmarshal(line, &req); err != nil {
		reply(answer{Error: "the hand-over is not a JSON line {\"url\": …}"})
		return
	}
	if u, err := url.Parse(req.URL); err != nil || u.Scheme != Scheme {
		reply(answer{Error: "only linkdesk: addresses are handed over"})
		return
	}
	if err := handle(req.URL); err != nil {
		reply(answer{Error: err.Error()})
		return
	}
	reply(answer{OK: true})
}

// Close stops taking hand-overs and removes the socket.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		err = s.ln.Close()
		s.wg.Wait()
	})
	return err
}

// Send hands rawURL (a linkdesk: URL) to the linkdesk running for this
// user in dir and returns its answer: nil when it took the URL, its error
// (a sentence) when it did not, ErrNoneRunning when none listens.
func Send(dir, rawURL string, timeout time.Duration) error {
	if err := supported(); err != nil {
		return err
	}
	if u, err := url.Parse(rawURL); err != nil || u.Scheme != Scheme {
		return fmt.Errorf("%q is not a linkdesk: address", clip(rawURL))
	}
	if err := ownDir(dir, false); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return ErrNoneRunning
		}
		return err
	}
	c, err := net.DialTimeout("unix", filepath.Join(dir, SocketName), timeout)
	if err != nil {
		return ErrNoneRunning
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	b, _ := json.Marshal(request{URL: rawURL})
	if _, err := c.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("the running linkdesk did not take the hand-over: %w", err)
	}
	var a answer
	if err := json.NewDecoder(io.LimitReader(c, MaxRequest)).Decode(&a); err != nil {
		return fmt.Errorf("the running linkdesk did not answer the hand-over: %w", err)
	}
	if !a.OK {
		return errors.New(a.Error)
	}
	return nil
}

var stateID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// MaxReturnQuery bounds the query of an OAuth return handed over.
const MaxReturnQuery = 2048

// ParseReturn reads an OAuth return handed over as
// linkdesk://oauth-return?<the redirect URI's query> and returns that query
// (which carries oauth_state_id): the running linkdesk appends it to its
// redirect URI to rebuild the address the bank sent the browser to. It
// refuses anything else, saying what was wrong.
func ParseReturn(rawURL string) (query string, err error) {
	u, err := url.Parse(rawURL)
	switch {
	case err != nil || u.Scheme != Scheme:
		return "", errors.New("not a linkdesk:// address")
	case u.Host != "oauth-return" || (u.Path != "" && u.Path != "/") || u.User != nil || u.Fragment != "":
		return "", errors.New("linkdesk takes only linkdesk://oauth-return?oauth_state_id=… (the hosted return page forwards the bank's answer that way)")
	case len(u.RawQuery) > MaxReturnQuery:
		return "", fmt.Errorf("the bank's answer is longer than %d characters", MaxReturnQuery)
	case !stateID.MatchString(u.Query().Get("oauth_state_id")):
		return "", errors.New("the address carries no answer from a bank (no valid oauth_state_id)")
	}
	return u.RawQuery, nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}
