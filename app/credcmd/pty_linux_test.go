package credcmd_test

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"linkdesk/app/credcmd"
	"linkdesk/app/internal/wait"
	"linkdesk/app/keychain"
)

// openPTY opens a real pseudo-terminal pair: what the user's terminal
// emulator holds (master) and what linkdesk gets as stdin (slave).
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open slave: %v", err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

// screen collects everything the terminal would display.
type screen struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *screen) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.buf.String() }

func (s *screen) waitFor(t *testing.T, want string) {
	t.Helper()
	wait.For(t, 5*time.Second, fmt.Sprintf("the terminal to show %q", want), func() (bool, error) {
		shown := s.String()
		return strings.Contains(shown, want), fmt.Errorf("it shows:\n%s", shown)
	})
}

// waitEchoOff waits until the terminal's echo is off, as a person would see
// from the prompt before typing.
func waitEchoOff(t *testing.T, tty *os.File) {
	t.Helper()
	wait.For(t, 5*time.Second, "echo to be turned off for the secret", func() (bool, error) {
		tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		return tio.Lflag&unix.ECHO == 0, nil
	})
}

func TestSetPromptsAtATerminalWithoutEchoingTheSecret(t *testing.T) {
	master, slave := openPTY(t)
	var scr screen
	go func() {
		b := make([]byte, 1024)
		for {
			n, err := master.Read(b)
			scr.mu.Lock()
			scr.buf.Write(b[:n])
			scr.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()

	store := keychain.NewMemory()
	var stdout bytes.Buffer
	done := make(chan int, 1)
	go func() {
		// stdin and stderr are the terminal, as in `linkdesk credentials set`
		// typed at a shell; stdout is captured.
		done <- credcmd.Run([]string{"set", "--env", "sandbox"}, "sim", store, slave, &stdout, slave)
	}()

	scr.waitFor(t, "Client ID: ")
	master.WriteString("tty-client\n")
	scr.waitFor(t, "Client secret (not shown): ")
	waitEchoOff(t, slave)
	master.WriteString(canary + "\n")

	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d; terminal:\n%s", code, scr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("Run did not return; terminal:\n%s", scr.String())
	}
	got, err := store.Get("sandbox")
	if err != nil || got != (keychain.Credentials{ClientID: "tty-client", ClientSecret: canary}) {
		t.Fatalf("stored %v, %v", got, err)
	}
	time.Sleep(50 * time.Millisecond) // let the reader drain the last newline
	shown := scr.String()
	if !strings.Contains(shown, "tty-client") {
		t.Errorf("the client id was not echoed:\n%s", shown)
	}
	if strings.Contains(shown, canary) || strings.Contains(stdout.String(), canary) {
		t.Errorf("the secret was shown:\n%s\n%s", shown, stdout.String())
	}
	if !strings.Contains(stdout.String(), "Stored the credentials for sandbox") {
		t.Errorf("stdout %q", stdout.String())
	}
	// Echo is back on for whatever the user types next.
	tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
	if err != nil || tio.Lflag&unix.ECHO == 0 {
		t.Errorf("terminal echo not restored (err %v)", err)
	}
	t.Logf("terminal transcript:\n%s", shown)
}

func TestSetAtATerminalWithEmptyAnswers(t *testing.T) {
	master, slave := openPTY(t)
	go func() {
		b := make([]byte, 1024)
		for {
			if _, err := master.Read(b); err != nil {
				return
			}
		}
	}()
	store := keychain.NewMemory()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- credcmd.Run([]string{"set"}, "sandbox", store, slave, &stdout, &stderr) }()
	master.WriteString("\n") // just Enter at the client id prompt
	select {
	case code := <-done:
		if code != credcmd.ExitFail || !strings.Contains(stderr.String(), "no client id entered; nothing was stored") {
			t.Errorf("exit %d, stderr %q", code, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if _, err := store.Get("sandbox"); err == nil {
		t.Error("something was stored")
	}
}
