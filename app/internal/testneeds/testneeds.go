// Package testneeds is the one rule for a test whose input is missing: a
// display, a Secret Service, Cybrid's specs, a browser, a tool from the test
// packages. On a developer's machine the test skips and says what to install
// or set; where the input is promised (CI, `go tool task test`), a variable
// LINKDESK_REQUIRE_<INPUT>=1 turns the skip into a failure, so that a suite
// cannot pass by skipping what it was meant to check.
package testneeds

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// The variables `go tool task test` sets (build/scripts/with-desktop.sh and
// the Taskfile), one per kind of input.
const (
	Display = "LINKDESK_REQUIRE_DISPLAY" // an X display (Xvfb)
	Keyring = "LINKDESK_REQUIRE_KEYRING" // a Secret Service and its tools
	Specs   = "LINKDESK_REQUIRE_SPECS"   // Cybrid's OpenAPI specs
	Browser = "LINKDESK_REQUIRE_BROWSER" // Chromium and node for the web SDK test
	A11y    = "LINKDESK_REQUIRE_A11Y"    // axe-core for the accessibility test
	Tools   = "LINKDESK_REQUIRE_TOOLS"   // the other tools of the test packages
	Tmpfs   = "LINKDESK_REQUIRE_TMPFS"   // mounting a tmpfs (root), for full-disk tests
)

// Required reports whether the input named by variable is promised here.
func Required(variable string) bool { return os.Getenv(variable) == "1" }

// Missing ends the test for a missing input: it fails it when variable is
// set to 1, and skips it otherwise. why says what is missing and how to
// provide it.
func Missing(t testing.TB, variable, format string, args ...any) {
	t.Helper()
	why := fmt.Sprintf(format, args...)
	if Required(variable) {
		t.Fatalf("%s=1 but %s", variable, why)
	}
	t.Skipf("%s (set %s=1 to make this a failure)", why, variable)
}

// Tool returns the path of an executable from the test packages, or ends the
// test through Missing, naming the Debian package that provides it.
func Tool(t testing.TB, variable, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, variable, "%s is not installed (apt-get install %s)", name, debianPackage)
	}
	return p
}
