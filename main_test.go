package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// linkdesk runs this test binary as the linkdesk command with args and env.
func linkdesk(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "LINKDESK_AS_MAIN=1"), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), o.String(), e.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, o.String(), e.String()
}

func TestMain(m *testing.M) {
	if os.Getenv("LINKDESK_AS_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestHelpListsEveryVariableWithItsDefault(t *testing.T) {
	code, out, _ := linkdesk(t, nil, "--help")
	if code != 0 {
		t.Fatalf("--help exited %d", code)
	}
	for _, want := range []string{"linkdesk credentials", "linkdesk sim", "--addr", "--scenario", "--cors-origin", "`linkdesk sim --help`",
		"status without --env shows\n", "LINKDESK_ENVIRONMENT", "sim", "LINKDESK_LANGUAGE", "LINKDESK_POLL_MAX", "1s", "LINKDESK_REDIRECT_URI", "LINKDESK_BANK_API_URL"} {
		if !strings.Contains(out, want) {
			t.Errorf("--help does not mention %q", want)
		}
	}
}

func TestBadConfigurationNamesTheVariable(t *testing.T) {
	code, _, errOut := linkdesk(t, []string{"LINKDESK_ENVIRONMENT=staging", "DISPLAY=:999"})
	if code != 2 || !strings.Contains(errOut, "LINKDESK_ENVIRONMENT") || !strings.Contains(errOut, "sandbox") {
		t.Errorf("bad environment: exit %d, %q", code, errOut)
	}
}

func TestNoDisplaySaysWhatToDo(t *testing.T) {
	code, _, errOut := linkdesk(t, []string{"DISPLAY=", "WAYLAND_DISPLAY="})
	if code != 1 || !strings.Contains(errOut, "display") || !strings.Contains(errOut, "xvfb-run") {
		t.Errorf("no display: exit %d, %q", code, errOut)
	}
}

func TestUnknownCommandAndVersion(t *testing.T) {
	if code, _, errOut := linkdesk(t, nil, "frobnicate"); code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, %q", code, errOut)
	}
	if code, out, _ := linkdesk(t, nil, "version"); code != 0 || !strings.HasPrefix(out, "linkdesk ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

func TestCredentialsRefusesASecretOnTheCommandLine(t *testing.T) {
	code, out, errOut := linkdesk(t, nil, "credentials", "set", "--env", "sandbox", "--client-secret", "canary-secret-123")
	if code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if strings.Contains(out+errOut, "canary-secret-123") {
		t.Error("the secret given on the command line was echoed back")
	}
}
