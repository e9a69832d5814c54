package testneeds

import (
	"bufio"
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
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("Xvfb", "-displayfd", "3", "-screen", "0", strconv.Itoa(width)+"x"+strconv.Itoa(height)+"x24", "-nolisten", "tcp")
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(r).ReadString('\n')
	r.Close()
	if err != nil {
		t.Fatalf("Xvfb did not report its display: %v", err)
	}
	return ":" + strings.TrimSpace(line)
}
