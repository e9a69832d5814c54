package handover

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const good = "linkdesk://oauth-return?oauth_state_id=6f1c1e0a-1b2c-4d5e-8f90-123456789abc"

func TestHandOverToTheRunningLinkdesk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "linkdesk")
	if err := Send(dir, good, time.Second); !errors.Is(err, ErrNoneRunning) {
		t.Fatalf("Send with nobody listening: %v", err)
	}
	got := make(chan string, 4)
	s, err := Listen(dir, func(u string) error {
		got <- u
		if strings.Contains(u, "refuse") {
			return errors.New("linkdesk was not waiting for a bank's answer")
		}
		return nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("directory %v, %v; want 0700", fi.Mode(), err)
	}
	if err := Send(dir, good, time.Second); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if u := <-got; u != good {
		t.Errorf("handed over %q", u)
	}
	if err := Send(dir, good+"&refuse", time.Second); err == nil || !strings.Contains(err.Error(), "not waiting") {
		t.Errorf("a refused hand-over: %v", err)
	}
	<-got
	if err := Send(dir, "https://example.com/", time.Second); err == nil {
		t.Error("Send took a non-linkdesk address")
	}
	if _, err := Listen(dir, func(string) error { return nil }, nil); !errors.Is(err, ErrRunning) {
		t.Errorf("a second Listen: %v", err)
	}
	s.Close()
	if _, err := os.Stat(filepath.Join(dir, SocketName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket outlived Close: %v", err)
	}
	// A socket left by a linkdesk that died is replaced.
	if err := os.WriteFile(filepath.Join(dir, SocketName), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := Listen(dir, func(string) error { return nil }, nil)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	s2.Close()
}

// A directory other users can enter is refused at both ends: nobody else may
// plant a socket there, or reach ours.
func TestHandOverRefusesASharedDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "linkdesk")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	if _, err := Listen(dir, func(string) error { return nil }, nil); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Errorf("Listen in a 0755 directory: %v", err)
	}
	if err := Send(dir, good, time.Second); err == nil || !strings.Contains(err.Error(), "open to other users") {
		t.Errorf("Send into a 0755 directory: %v", err)
	}
}

// Even when another user's process reaches the socket (here: the directory
// opened up after linkdesk started), the kernel's peer credentials keep it
// out: the handler is never called.
func TestHandOverRefusesAnotherUsersProcess(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root, to run the other process as the user nobody")
	}
	// A system python3 (not a per-user shim the user nobody cannot run).
	py := ""
	for _, p := range []string{"/usr/bin/python3", "/bin/python3"} {
		if _, err := os.Stat(p); err == nil {
			py = p
			break
		}
	}
	if py == "" {
		t.Skip("needs /usr/bin/python3 for the other user's client")
	}
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		os.Chmod(d, 0o755)
	}
	dir := filepath.Join(base, "linkdesk")
	var calls atomic.Int32
	s, err := Listen(dir, func(string) error { calls.Add(1); return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	os.Chmod(dir, 0o755)
	os.Chmod(s.Path(), 0o666)
	client := `import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
try:
    s.sendall(b'{"url": "` + good + `"}\n')
except BrokenPipeError:
    pass  # refused before it read: the answer is still there
print(s.recv(4096).decode())`
	cmd := exec.Command(py, "-c", client, s.Path())
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the other user's client: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "only from its own user") {
		t.Errorf("the other user's process was answered %q", out)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("the handler ran %d times for another user's process", n)
	}
}

func TestParseReturn(t *testing.T) {
	if q, err := ParseReturn(good); err != nil || q != "oauth_state_id=6f1c1e0a-1b2c-4d5e-8f90-123456789abc" {
		t.Errorf("ParseReturn(good) = %q, %v", q, err)
	}
	for _, bad := range []string{
		"linkdesk://oauth-return",
		"linkdesk://oauth-return?oauth_state_id=a%20b",
		"linkdesk://elsewhere?oauth_state_id=x",
		"linkdesk://oauth-return/deeper?oauth_state_id=x",
		"linkdesk://user@oauth-return?oauth_state_id=x",
		"https://oauth-return?oauth_state_id=x",
		"linkdesk://oauth-return?oauth_state_id=x&pad=" + strings.Repeat("a", MaxReturnQuery),
	} {
		if _, err := ParseReturn(bad); err == nil {
			t.Errorf("ParseReturn(%.60q) accepted it", bad)
		}
	}
}
