package keychain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
)

// canary is a distinctive fake secret: any output containing it is a leak.
const canary = "CANARY-s3cr3t-7f1c9e"

func TestCredentialsNeverPrintTheSecret(t *testing.T) {
	c := Credentials{ClientID: "client-abc", ClientSecret: canary}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("loaded", "creds", c)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("loaded", "creds", c, "ptr", &c)
	js, err := json.Marshal(map[string]any{"c": c})
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string]string{
		"%v":        fmt.Sprintf("%v", c),
		"%+v":       fmt.Sprintf("%+v", c),
		"%#v":       fmt.Sprintf("%#v", c),
		"%s":        fmt.Sprintf("%s", c),
		"%q":        fmt.Sprintf("%q", c),
		"%v ptr":    fmt.Sprintf("%v", &c),
		"%+v outer": fmt.Sprintf("%+v", struct{ C Credentials }{c}),
		"slog":      logs.String(),
		"json":      string(js),
	}
	for name, s := range forms {
		if strings.Contains(s, canary) {
			t.Errorf("%s leaks the secret: %s", name, s)
		}
		if !strings.Contains(s, "client-abc") || !strings.Contains(s, "[redacted]") {
			t.Errorf("%s should show the client id and [redacted]: %s", name, s)
		}
	}
	if s := c.String(); !strings.Contains(s, "secret: [redacted]") {
		t.Errorf("String() = %q", s)
	}
}

func TestValidate(t *testing.T) {
	long := strings.Repeat("x", MaxFieldLen+1)
	tests := []struct {
		name string
		c    Credentials
		want []string // substrings of the error; nil for valid
	}{
		{"valid", Credentials{"id", canary}, nil},
		{"max length, multibyte", Credentials{strings.Repeat("é", MaxFieldLen), strings.Repeat("🔑", MaxFieldLen)}, nil},
		{"empty id", Credentials{"", canary}, []string{"client id is empty"}},
		{"empty secret", Credentials{"id", ""}, []string{"client secret is empty"}},
		{"both empty", Credentials{}, []string{"client id is empty", "client secret is empty"}},
		{"trailing newline", Credentials{"id", canary + "\n"}, []string{"client secret has leading or trailing whitespace"}},
		{"leading space", Credentials{" id", canary}, []string{"client id has leading or trailing whitespace"}},
		{"inner tab", Credentials{"id", "a\tb" + canary}, []string{"client secret contains a control character"}},
		{"escape", Credentials{"id", "\x1b[2J" + canary}, []string{"client secret contains a control character"}},
		{"too long", Credentials{"id", long}, []string{"client secret is longer than 256 characters"}},
		{"invalid utf-8", Credentials{"id", canary + "\xff"}, []string{"client secret is not valid UTF-8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not contain %q", err, w)
				}
			}
			if strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), "xxxxxxxx") {
				t.Errorf("error shows the value: %q", err)
			}
			// Both stores refuse it the same way.
			if err := NewMemory().Set("sandbox", tt.c); err == nil || err.Error() != tt.c.Validate().Error() {
				t.Errorf("memory Set: %v", err)
			}
		})
	}
}

func TestEncodeFitsEveryBackend(t *testing.T) {
	// Worst case: every character needs the most bytes in JSON.
	for _, ch := range []string{"🔑", `"`, "<", "\\"} {
		c := Credentials{strings.Repeat(ch, MaxFieldLen), strings.Repeat(ch, MaxFieldLen)}
		v, err := encode(c)
		if err != nil {
			t.Fatal(err)
		}
		if len(v) > 2560 { // Windows Credential Manager's limit, the smallest
			t.Errorf("%q x %d encodes to %d bytes", ch, MaxFieldLen, len(v))
		}
		got, err := decode("sandbox", v)
		if err != nil || got != c {
			t.Errorf("round trip of %q: %v", ch, err)
		}
	}
}

func TestDecodeRejectsCorruptValues(t *testing.T) {
	for _, v := range []string{
		"", "not json " + canary, `{"client_id":"id"}`, `{"client_secret":"` + canary + `"}`,
		`["id","` + canary + `"]`, `{"client_id":"id","client_secret":" ` + canary + `"}`,
	} {
		_, err := decode("sandbox", v)
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Env != "sandbox" {
			t.Errorf("decode(%q) = %v, want *CorruptError", v, err)
			continue
		}
		if strings.Contains(err.Error(), canary) || !strings.Contains(err.Error(), "`linkdesk credentials set --env sandbox`") {
			t.Errorf("message: %q", err)
		}
	}
}

func TestMemoryStore(t *testing.T) {
	s := NewMemory()
	if _, err := s.Get("sandbox"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get on empty store: %v", err)
	}
	if err := s.Delete("sandbox"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Delete on empty store: %v", err)
	}
	a := Credentials{"id-a", canary}
	if err := s.Set("sandbox", a); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get("sandbox"); err != nil || got != a {
		t.Fatalf("Get = %v, %v", got, err)
	}
	if _, err := s.Get("production"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other environment: %v", err)
	}
	if err := s.Delete("sandbox"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("sandbox"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if err := s.Set("", a); err == nil {
		t.Error("empty environment accepted")
	}
}

func TestMemoryStoreConcurrent(t *testing.T) { // meaningful under -race
	s := NewMemory()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			env := fmt.Sprintf("env%d", i)
			for j := range 200 {
				c := Credentials{fmt.Sprintf("id-%d-%d", i, j), canary}
				if err := s.Set(env, c); err != nil {
					t.Error(err)
					return
				}
				if _, err := s.Get(env); err != nil {
					t.Error(err)
					return
				}
				s.Delete(env)
			}
		}()
	}
	wg.Wait()
}

// blockingBackend never answers until released, like go-keyring waiting on
// an unlock prompt that no one can see.
type blockingBackend struct{ release chan struct{} }

func (b blockingBackend) Get(string, string) (string, error) { <-b.release; return "", nil }
func (b blockingBackend) Set(string, string, string) error   { <-b.release; return nil }
func (b blockingBackend) Delete(string, string) error        { <-b.release; return nil }

func TestTimeout(t *testing.T) {
	b := blockingBackend{make(chan struct{})}
	t.Cleanup(func() { close(b.release) })
	const timeout = 200 * time.Millisecond
	s := &osStore{timeout: timeout, kr: b}
	for _, op := range []struct {
		name string
		f    func() error
	}{
		{"get", func() error { _, err := s.Get("sandbox"); return err }},
		{"set", func() error { return s.Set("sandbox", Credentials{"id", canary}) }},
		{"delete", func() error { return s.Delete("sandbox") }},
	} {
		start := time.Now()
		err := op.f()
		elapsed := time.Since(start)
		var te *TimeoutError
		if !errors.As(err, &te) || te.Op != op.name || te.Env != "sandbox" {
			t.Fatalf("%s: err = %v (%T), want *TimeoutError", op.name, err, err)
		}
		if elapsed < timeout || elapsed > timeout+time.Second {
			t.Errorf("%s: returned after %v, want about %v", op.name, elapsed, timeout)
		}
		msg := err.Error()
		for _, w := range []string{"did not answer within 200ms", "locked", "unlock it", "try again"} {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %q lacks %q", op.name, msg, w)
			}
		}
		if strings.Contains(msg, canary) {
			t.Errorf("%s: message leaks the secret", op.name)
		}
		t.Logf("%s: TimeoutError after %v", op.name, elapsed.Round(time.Millisecond))
	}
	if got := New(0).(*osStore).timeout; got != DefaultTimeout {
		t.Errorf("New(0) timeout = %v, want %v", got, DefaultTimeout)
	}
	if msg := (&TimeoutError{Timeout: DefaultTimeout}).Error(); !strings.HasPrefix(msg, "the OS keychain did not answer within 5s: it may be locked and waiting for an unlock prompt; unlock it") {
		t.Errorf("default message: %q", msg)
	}
}

// failingBackend returns err from every call. The real failures (no bus, no
// Secret Service, locked collection) are produced for real in
// secretservice_test.go; this covers the mapping of errors that cannot be
// produced on demand, such as one that echoes its input.
type failingBackend struct{ err func(value string) error }

func (f failingBackend) Get(string, string) (string, error) { return "", f.err("") }
func (f failingBackend) Set(_, _, v string) error           { return f.err(v) }
func (f failingBackend) Delete(string, string) error        { return f.err("") }

func TestErrorMapping(t *testing.T) {
	notFound := &osStore{timeout: time.Second, kr: failingBackend{func(string) error { return keyring.ErrNotFound }}}
	if _, err := notFound.Get("sandbox"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "`linkdesk credentials set --env sandbox`") {
		t.Errorf("Get: %v", err)
	}
	if err := notFound.Delete("sandbox"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete: %v", err)
	}

	echo := &osStore{timeout: time.Second, kr: failingBackend{func(v string) error { return fmt.Errorf("backend choked on %s", v) }}}
	err := echo.Set("sandbox", Credentials{"id", canary + "<&>"})
	var ue *UnavailableError
	if !errors.As(err, &ue) {
		t.Fatalf("Set: %v (%T), want *UnavailableError", err, err)
	}
	if strings.Contains(err.Error(), canary) {
		t.Errorf("error leaks the secret: %q", err)
	}
	if !strings.Contains(err.Error(), "backend choked on [redacted]") {
		t.Errorf("error lost its cause: %q", err)
	}
}
