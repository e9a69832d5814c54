package testneeds

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// PrivateDisplay starts an Xvfb display of its own for the test (width×
// height, 24-bit) and returns its name (":N"); it stops when the test ends.
// A test whose desktop session must not touch the display the other tests
// share (an accessibility bus, a keyring prompt) uses one. Without Xvfb the
// test ends through Missing (LINKDESK_REQUIRE_DISPLAY).
func PrivateDisplay(t testing.TB, width, height int) string {
	t.Helper()
	Tool(t, Display, "Xvfb", "xvfb")
	name, stop, err := StartXvfb(width, height)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return name
}

// ErrNoXvfb is StartXvfb's error when Xvfb is not installed.
var ErrNoXvfb = errors.New("Xvfb is not installed (Debian: apt install xvfb)")

// StartXvfb starts an Xvfb display (width×height, 24-bit, no TCP) on a
// free display number and returns its name (":N") once it accepts
// clients, and the function that stops it.
func StartXvfb(width, height int) (name string, stop func(), err error) {
	if _, err := exec.LookPath("Xvfb"); err != nil {
		return "", nil, ErrNoXvfb
	}
	r, w, err := os.Pipe()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", strconv.Itoa(width)+"x"+strconv.Itoa(height)+"x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		w.Close()
		r.Close()
		return "", nil, err
	}
	w.Close()
	stop = func() {
		cmd.Process.Kill()
		cmd.Wait()
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	r.Close()
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("Xvfb did not report its display: %v", err)
	}
	return ":" + strings.TrimSpace(line), stop, nil
}
