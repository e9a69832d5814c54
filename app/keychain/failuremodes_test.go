package keychain_test

// Keychain failure modes, each produced for real (Linux): a Secret Service
// the D-Bus policy forbids (access denied), and an unlock prompt the user
// dismisses. The other modes are in secretservice_test.go: no session bus
// (TestUnavailableWhenBusAddressIsDead, TestUnavailableWithoutSessionBusDoesNotAutolaunch),
// a keyring that cannot be unlocked without a display
// (TestUnavailableWithoutUnlockedKeyring) and an unlock prompt nobody answers
// (TestTimeoutWhenUnlockPromptWaitsOnAScreen).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"linkdesk/app/internal/testneeds"
)

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		testneeds.Tool(t, testneeds.Keyring, tool, "dbus gnome-keyring")
	}
}

// checkNoFallback: whatever went wrong, the message must not leak the
// secret nor suggest keeping credentials anywhere but the keychain.
func checkNoFallback(t *testing.T, r helperResult) {
	t.Helper()
	low := strings.ToLower(r.Err)
	if strings.Contains(r.Err, canary) || strings.Contains(low, "plain") || strings.Contains(low, "environment variable") || strings.Contains(low, "config file") {
		t.Errorf("%s: leaks the secret or suggests storing it elsewhere: %q", r.Op, r.Err)
	}
	if !strings.Contains(r.Err, "only in the OS keychain") || !strings.Contains(r.Err, "try again") {
		t.Errorf("%s: %q does not say that the keychain is the only store and what to do", r.Op, r.Err)
	}
}

// TestDeniedWhenBusPolicyForbidsTheSecretService: gnome-keyring runs and owns
// org.freedesktop.secrets, unlocked, but the bus refuses every message to it
// — what a Flatpak without --talk-name=org.freedesktop.secrets, a snap
// without the password-manager-service interface, or a D-Bus policy does.
// The bus daemon answers org.freedesktop.DBus.Error.AccessDenied ("Rejected
// send message, … matched rules …"), which must become a DeniedError that
// says so and how to grant access, at once, not "no keychain" nor a timeout.
func TestDeniedWhenBusPolicyForbidsTheSecretService(t *testing.T) {
	requireLinux(t)
	requireTools(t, "dbus-run-session", "dbus-send", "gnome-keyring-daemon")
	const sessionConf = "/usr/share/dbus-1/session.conf"
	if _, err := os.Stat(sessionConf); err != nil {
		testneeds.Missing(t, testneeds.Keyring, "%s not found: cannot build a session bus configuration (apt-get install dbus)", sessionConf)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "deny-secrets.conf")
	err := os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <include>`+sessionConf+`</include>
  <policy context="mandatory">
    <deny send_destination="org.freedesktop.secrets"/>
  </policy>
</busconfig>
`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(filepath.Join(home, ".local/share/keyrings"), 0o700); err != nil {
		t.Fatal(err)
	}
	// Start an unlocked gnome-keyring and wait until it owns the name (the
	// bus daemon itself still answers NameHasOwner), then run the helper.
	script := `printf linkdesk-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
i=0
until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
	org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true"; do
	i=$((i + 1)); [ $i -gt 200 ] && { echo "gnome-keyring-daemon did not claim org.freedesktop.secrets" >&2; exit 1; }
	sleep 0.05
done
exec "$@"`
	results := runHelper(t, "store", []string{"HOME=" + home},
		[]string{"DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY", "HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR"},
		"dbus-run-session", "--config-file="+conf, "--", "sh", "-c", script, "sh")
	if len(results) != 3 {
		t.Fatalf("results: %+v", results)
	}
	for _, r := range results {
		if r.Unavailable || r.Timeout || r.Err == "" {
			t.Errorf("%s: got %q (unavailable %v, timeout %v), want a DeniedError", r.Op, r.Err, r.Unavailable, r.Timeout)
			continue
		}
		for _, w := range []string{"the OS keychain refused linkdesk access", "D-Bus AccessDenied", "Rejected send message",
			"org.freedesktop.secrets", "--talk-name=org.freedesktop.secrets", "password-manager-service"} {
			if !strings.Contains(r.Err, w) {
				t.Errorf("%s: %q lacks %q", r.Op, r.Err, w)
			}
		}
		checkNoFallback(t, r)
		if r.Millis > 1000 {
			t.Errorf("%s: took %dms, want an immediate answer", r.Op, r.Millis)
		}
		t.Logf("%s: after %dms: %s", r.Op, r.Millis, r.Err)
	}
}

// TestDismissedUnlockPrompt: the login keyring is locked and a display is
// there, so gnome-keyring shows its unlock prompt (gcr-prompter, on Xvfb);
// the user presses Escape. go-keyring then reports "failed to unlock correct
// collection", which must come back quickly as a LockedError (the keyring is
// there and locked: not "no keychain") saying how to unlock, for each
// operation, with nothing stored elsewhere.
func TestDismissedUnlockPrompt(t *testing.T) {
	requireLinux(t)
	requireTools(t, "dbus-run-session", "dbus-send", "dbus-update-activation-environment", "gnome-keyring-daemon", "/usr/libexec/gcr-prompter")
	display := testneeds.PrivateDisplay(t, 640, 480)
	// The first Escape comes answerAfter from now; the helper starts a few
	// hundred milliseconds later. A first answer after waitedAtLeast shows
	// that the call waited for the user (without a prompt it fails at once).
	const answerAfter, waitedAtLeast = 2000 * time.Millisecond, 1000 * time.Millisecond
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var escapes int
	var escErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		escapes, escErr = pressEscapeUntil(display, answerAfter, 200*time.Millisecond, stop)
	}()
	lock := "dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets " +
		"org.freedesktop.Secret.Service.Lock array:objpath:/org/freedesktop/secrets/collection/login >/dev/null && " +
		"dbus-update-activation-environment DISPLAY=" + display + " NO_AT_BRIDGE=1 && exec \"$@\""
	results := runHelper(t, "store", []string{"DISPLAY=" + display, "NO_AT_BRIDGE=1"}, []string{"DISPLAY"},
		"testdata/with-secret-service.sh", "sh", "-c", lock, "sh")
	close(stop)
	wg.Wait()
	if escErr != nil {
		t.Fatalf("pressing Escape on %s: %v", display, escErr)
	}
	if len(results) != 3 {
		t.Fatalf("results: %+v", results)
	}
	if results[0].Millis < waitedAtLeast.Milliseconds() {
		t.Errorf("%s answered after %dms, before anyone dismissed a prompt: no prompt was shown (%q)", results[0].Op, results[0].Millis, results[0].Err)
	}
	for _, r := range results {
		if !r.Locked || r.Unavailable || r.Timeout {
			t.Errorf("%s: %q, want a LockedError (not unavailable, not a timeout)", r.Op, r.Err)
			continue
		}
		for _, w := range []string{"the keyring \"Login\" of the OS keychain is locked", "failed to unlock", "gnome-keyring-daemon --replace --unlock"} {
			if !strings.Contains(r.Err, w) {
				t.Errorf("%s: %q lacks %q", r.Op, r.Err, w)
			}
		}
		checkNoFallback(t, r)
		if r.Millis > 4000 {
			t.Errorf("%s: took %dms after the prompt was dismissed", r.Op, r.Millis)
		}
		t.Logf("%s: after %dms: %s", r.Op, r.Millis, r.Err)
	}
	t.Logf("%d Escape presses on %s", escapes, display)
}

// TestLockedKeyringWithoutDisplay: the login keyring exists but is locked,
// and there is no display for its unlock prompt (linkdesk started from a
// remote shell, or the keyring locked itself): gnome-keyring's prompter
// cannot start and go-keyring fails at once. That must be a LockedError
// naming the keyring and how to unlock it — the case the operator saw as
// "no OS keychain is reachable … install gnome-keyring".
func TestLockedKeyringWithoutDisplay(t *testing.T) {
	requireLinux(t)
	requireTools(t, "dbus-run-session", "dbus-send", "gnome-keyring-daemon")
	lock := "dbus-send --session --print-reply --dest=org.freedesktop.secrets /org/freedesktop/secrets " +
		"org.freedesktop.Secret.Service.Lock array:objpath:/org/freedesktop/secrets/collection/login >/dev/null && exec \"$@\""
	results := runHelper(t, "store", nil, []string{"DISPLAY", "WAYLAND_DISPLAY"},
		"testdata/with-secret-service.sh", "sh", "-c", lock, "sh")
	if len(results) != 3 {
		t.Fatalf("results: %+v", results)
	}
	for _, r := range results {
		if !r.Locked || r.Unavailable || r.Timeout {
			t.Errorf("%s: %q (locked %v, unavailable %v, timeout %v), want a LockedError", r.Op, r.Err, r.Locked, r.Unavailable, r.Timeout)
			continue
		}
		for _, w := range []string{"the keyring \"Login\" of the OS keychain is locked", "Unlock it", "gnome-keyring-daemon --replace --unlock"} {
			if !strings.Contains(r.Err, w) {
				t.Errorf("%s: %q lacks %q", r.Op, r.Err, w)
			}
		}
		if strings.Contains(r.Err, "install") || strings.Contains(r.Err, "no OS keychain is reachable") {
			t.Errorf("%s: a locked keyring is reported as a missing keychain: %q", r.Op, r.Err)
		}
		checkNoFallback(t, r)
		if r.Millis > 2000 {
			t.Errorf("%s: took %dms, want a quick answer", r.Op, r.Millis)
		}
		t.Logf("%s: after %dms: %s", r.Op, r.Millis, r.Err)
	}
}

// pressEscapeUntil presses and releases Escape on the X display every
// interval, starting after delay, until stop is closed, through the XTEST
// extension (a minimal X11 client: Xvfb accepts local connections without
// authorization). gcr-prompter grabs the keyboard, so the key reaches it.
func pressEscapeUntil(display string, delay, interval time.Duration, stop <-chan struct{}) (int, error) {
	select {
	case <-time.After(delay):
	case <-stop:
		return 0, nil
	}
	c, err := net.Dial("unix", "/tmp/.X11-unix/X"+strings.TrimPrefix(display, ":"))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	// Connection setup: little-endian, protocol 11.0, no authorization.
	if _, err := c.Write([]byte{'l', 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0}); err != nil {
		return 0, err
	}
	hdr := make([]byte, 8)
	if _, err := io.ReadFull(c, hdr); err != nil {
		return 0, err
	}
	setup := make([]byte, int(binary.LittleEndian.Uint16(hdr[6:]))*4)
	if _, err := io.ReadFull(c, setup); err != nil {
		return 0, err
	}
	if hdr[0] != 1 {
		return 0, fmt.Errorf("X server refused the connection: %q", setup)
	}
	minKey, maxKey := setup[26], setup[27]
	// GetKeyboardMapping: find the keycode of the Escape keysym (0xff1b).
	count := maxKey - minKey + 1
	if _, err := c.Write([]byte{101, 0, 2, 0, minKey, count, 0, 0}); err != nil {
		return 0, err
	}
	rep := make([]byte, 32)
	if _, err := io.ReadFull(c, rep); err != nil {
		return 0, err
	}
	if rep[0] != 1 {
		return 0, errors.New("GetKeyboardMapping failed")
	}
	per := int(rep[1])
	syms := make([]byte, int(binary.LittleEndian.Uint32(rep[4:]))*4)
	if _, err := io.ReadFull(c, syms); err != nil {
		return 0, err
	}
	escape := byte(0)
	for i := 0; i < int(count) && escape == 0; i++ {
		for j := 0; j < per; j++ {
			if binary.LittleEndian.Uint32(syms[(i*per+j)*4:]) == 0xff1b {
				escape = minKey + byte(i)
				break
			}
		}
	}
	if escape == 0 {
		return 0, errors.New("no keycode for Escape")
	}
	// QueryExtension "XTEST" for its major opcode.
	q := make([]byte, 16)
	q[0] = 98
	binary.LittleEndian.PutUint16(q[2:], 4)
	binary.LittleEndian.PutUint16(q[4:], 5)
	copy(q[8:], "XTEST")
	if _, err := c.Write(q); err != nil {
		return 0, err
	}
	if _, err := io.ReadFull(c, rep); err != nil {
		return 0, err
	}
	if rep[0] != 1 || rep[8] == 0 {
		return 0, errors.New("the X server has no XTEST extension")
	}
	xtest := rep[9]
	presses := 0
	for {
		for _, typ := range []byte{2, 3} { // KeyPress, KeyRelease
			// XTestFakeInput: type, detail (keycode), time 0 (now), root None.
			r := make([]byte, 36)
			r[0], r[1] = xtest, 2
			binary.LittleEndian.PutUint16(r[2:], 9)
			r[4], r[5] = typ, escape
			if _, err := c.Write(r); err != nil {
				return presses, err
			}
		}
		presses++
		select {
		case <-stop:
			return presses, nil
		case <-time.After(interval):
		}
	}
}
