// Package keychain keeps linkdesk's Cybrid API credentials (client id and
// client secret) in the OS keychain: the Secret Service on Linux (gnome-keyring,
// KeePassXC, …), the Keychain on macOS, the Credential Manager on Windows.
//
// It wraps github.com/zalando/go-keyring the way GitHub CLI's internal/keyring
// does: every call runs in a goroutine and is abandoned after a timeout, so a
// keychain that waits on an unlock prompt nobody can see turns into a
// TimeoutError instead of a hang. There is no plain-text fallback.
//
// One keychain item per environment: service Service ("linkdesk"), user the
// environment name (sim, sandbox, production), value a small JSON object
// {"client_id":"…","client_secret":"…"}.
//
// The client secret never appears in an error, in a formatted Credentials
// (fmt, slog, encoding/json) or anywhere else this package writes.
package keychain

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Service is the keychain service name of every linkdesk item; the item's user
// is the environment name.
const Service = "linkdesk"

// DefaultTimeout is how long New's Store waits for the OS keychain.
const DefaultTimeout = 5 * time.Second

// MaxFieldLen is the longest client id or client secret Set accepts, in
// characters.
const MaxFieldLen = 256

const redacted = "[redacted]"

// Credentials are the OAuth client credentials of a Cybrid API key. Every
// textual form of Credentials shows the client id and "secret: [redacted]".
type Credentials struct {
	ClientID     string
	ClientSecret string
}

// String returns the client id and "secret: [redacted]".
func (c Credentials) String() string {
	return fmt.Sprintf("client id %q, secret: %s", c.ClientID, redacted)
}

// GoString (for %#v) returns the client id and "secret: [redacted]".
func (c Credentials) GoString() string {
	return fmt.Sprintf("keychain.Credentials{ClientID: %q, secret: %s}", c.ClientID, redacted)
}

// LogValue (slog.LogValuer) logs the client id and secret "[redacted]".
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("client_id", c.ClientID), slog.String("secret", redacted))
}

// MarshalJSON writes the client id and secret "[redacted]", so Credentials
// cannot leak through a JSON log or a JSON response by accident. The keychain
// value is written by this package with its own encoding.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ClientID string `json:"client_id"`
		Secret   string `json:"secret"`
	}{c.ClientID, redacted})
}

// Validate checks what Set accepts: both fields non-empty, valid UTF-8, no
// leading or trailing whitespace, no control characters, at most MaxFieldLen
// characters each. Its messages name the field, never its value.
func (c Credentials) Validate() error {
	var errs []error
	for _, f := range []struct{ name, v string }{{"client id", c.ClientID}, {"client secret", c.ClientSecret}} {
		if err := checkField(f.name, f.v); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func checkField(name, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("the %s is empty", name)
	case !utf8.ValidString(v):
		return fmt.Errorf("the %s is not valid UTF-8 text", name)
	case strings.TrimSpace(v) != v:
		return fmt.Errorf("the %s has leading or trailing whitespace: copy it again without spaces or line breaks", name)
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return fmt.Errorf("the %s contains a control character (such as a tab or line break)", name)
	case utf8.RuneCountInString(v) > MaxFieldLen:
		return fmt.Errorf("the %s is longer than %d characters", name, MaxFieldLen)
	}
	return nil
}

// Store keeps one Credentials per environment name.
type Store interface {
	// Get returns the credentials stored for env, or an error wrapping
	// ErrNotFound when there are none.
	Get(env string) (Credentials, error)
	// Set stores c for env, replacing what was there. It rejects credentials
	// that fail Validate without touching the keychain.
	Set(env string, c Credentials) error
	// Delete removes the credentials of env, or returns an error wrapping
	// ErrNotFound when there are none.
	Delete(env string) error
}

// ErrNotFound means no credentials are stored for the environment. Store
// methods wrap it with the environment name and what to do; test it with
// errors.Is.
var ErrNotFound = errors.New("no credentials stored")

func notFound(env string) error {
	return fmt.Errorf("%w for %s: run `linkdesk credentials set --env %s`", ErrNotFound, env, env)
}

// CorruptError means the keychain holds a value for the environment that is
// not the JSON object this package writes (or whose fields fail Validate).
// The message never includes the stored value.
type CorruptError struct {
	Env string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("the credentials stored in the OS keychain for %s cannot be read (the item %q / %q is not the JSON object linkdesk writes, or a field is missing or invalid): store them again with `linkdesk credentials set --env %s`",
		e.Env, Service, e.Env, e.Env)
}

// TimeoutError means the OS keychain did not answer in time. On Linux that is
// usually a locked keyring whose unlock prompt is waiting on a display nobody
// watches. The abandoned call keeps running in the background.
type TimeoutError struct {
	Op      string // "get", "set" or "delete"
	Env     string
	Timeout time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("the OS keychain did not answer within %s: it may be locked and waiting for an unlock prompt; unlock it (%s) and try again",
		e.Timeout, unlockHint())
}

// Advice says how to unlock the keychain, for people.
func (e *TimeoutError) Advice() string { return unlockAdvice() }

func unlockHint() string {
	switch runtime.GOOS {
	case "darwin":
		return "open Keychain Access and unlock the login keychain"
	case "windows":
		return "sign in to the Windows session again"
	}
	return "open Passwords and Keys (Seahorse) and unlock the Login keyring, or log out and in again; without a desktop, run `gnome-keyring-daemon --replace --unlock`, type the keyring's password, then press Ctrl-D"
}

func unlockAdvice() string { return "To unlock it, " + unlockHint() + "." }

// UnavailableError means no OS keychain could be reached (Linux: no D-Bus
// session bus or no Secret Service on it, or its collection cannot be
// unlocked). Cause is the underlying error, with any secret removed.
//
// NoKeyring is set when the keychain itself answered but holds no keyring
// (Secret Service collection) to keep items in — no "login" collection and
// no "default" alias, as on an account that never logged in to a desktop
// session: the fix is to create one, not to install anything.
type UnavailableError struct {
	Op        string // "get", "set" or "delete"
	Env       string
	Cause     error
	NoKeyring bool
}

func (e *UnavailableError) Error() string {
	if e.NoKeyring {
		return fmt.Sprintf("the OS keychain has no keyring to keep credentials in (%v): linkdesk keeps API credentials only in the OS keychain. %s",
			e.Cause, noKeyringHint())
	}
	return fmt.Sprintf("no OS keychain is reachable (%v): linkdesk keeps API credentials only in the OS keychain. %s",
		e.Cause, availabilityHint())
}

func (e *UnavailableError) Unwrap() error { return e.Cause }

// Advice says how to make a keychain available (or, NoKeyring, how to
// create a keyring), for people.
func (e *UnavailableError) Advice() string {
	if e.NoKeyring {
		return noKeyringHint()
	}
	return availabilityHint()
}

func availabilityHint() string {
	switch runtime.GOOS {
	case "darwin":
		return "It uses the macOS Keychain through /usr/bin/security: make sure your login keychain exists and is unlocked (Keychain Access), then try again."
	case "windows":
		return "It uses the Windows Credential Manager: make sure you are signed in to a normal (not a service) session and the Credential Manager service is running, then try again."
	}
	return "On Linux it needs a Secret Service in your D-Bus session: install and start gnome-keyring (or enable KeePassXC's Secret Service integration) in a desktop session; " +
		"without a desktop, run linkdesk inside `dbus-run-session` after `gnome-keyring-daemon --unlock --components=secrets`. Then try again."
}

func noKeyringHint() string {
	return "Create one: log in to a desktop session once (it creates the login keyring), or create a keyring named Login in Passwords and Keys (Seahorse); " +
		"without a desktop, `gnome-keyring-daemon --replace --unlock` creates and unlocks it (type a password for it, then press Ctrl-D). Then try again."
}

// LockedError means the OS keychain is there and holds the keyring
// linkdesk's items live in, but the keyring is locked and was not unlocked:
// its unlock prompt was dismissed, or could not be shown (no display). On
// Linux that is a Secret Service collection (usually "Login") whose Locked
// property is true after go-keyring's unlock failed. Keyring is the
// collection's label ("" when it has none); Cause is the underlying error.
//
// A locked keyring whose prompt is shown but not answered in time is a
// *TimeoutError instead: the call cannot tell which prompt is pending.
type LockedError struct {
	Op      string // "get", "set" or "delete"
	Env     string
	Keyring string
	Cause   error
}

func (e *LockedError) Error() string {
	name := "the keyring"
	if e.Keyring != "" {
		name = fmt.Sprintf("the keyring %q", e.Keyring)
	}
	return fmt.Sprintf("%s of the OS keychain is locked (%v): linkdesk keeps API credentials only in the OS keychain. Unlock it (%s), then try again.",
		name, e.Cause, unlockHint())
}

func (e *LockedError) Unwrap() error { return e.Cause }

// Advice says how to unlock the keyring, for people.
func (e *LockedError) Advice() string { return unlockAdvice() }

// DeniedError means the OS keychain is there but linkdesk may not use it: on
// Linux, the D-Bus daemon (or a sandbox's proxy) answered
// org.freedesktop.DBus.Error.AccessDenied to a call to the Secret Service,
// as it does for a Flatpak or snap without access to org.freedesktop.secrets
// or under a D-Bus policy that denies it. Cause is the D-Bus error, with any
// secret removed.
type DeniedError struct {
	Op    string // "get", "set" or "delete"
	Env   string
	Cause error
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("the OS keychain refused linkdesk access (D-Bus AccessDenied: %v): linkdesk keeps API credentials only in the OS keychain. %s",
		e.Cause, deniedHint())
}

func (e *DeniedError) Unwrap() error { return e.Cause }

// Advice says how to give linkdesk access to the keychain, for people.
func (e *DeniedError) Advice() string { return deniedHint() }

// deniedHint: only the Secret Service (Linux and the BSDs) reports access
// denied this way.
func deniedHint() string {
	return "A sandbox or a D-Bus policy forbids it to talk to the Secret Service (org.freedesktop.secrets): " +
		"give linkdesk that permission (Flatpak: --talk-name=org.freedesktop.secrets; snap: connect the password-manager-service interface) " +
		"or run it outside the sandbox, then try again."
}

// stored is the JSON value kept in the keychain item.
type stored struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// encode writes the keychain value. HTML escaping is off so that a field of
// MaxFieldLen characters stays within every backend's size limit (Windows:
// 2560 bytes).
func encode(c Credentials) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(stored{c.ClientID, c.ClientSecret}); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

func decode(env, value string) (Credentials, error) {
	var s stored
	if err := json.Unmarshal([]byte(value), &s); err != nil {
		return Credentials{}, &CorruptError{Env: env} // json errors may quote the value
	}
	c := Credentials{s.ClientID, s.ClientSecret}
	if c.Validate() != nil {
		return Credentials{}, &CorruptError{Env: env}
	}
	return c, nil
}

// checkEnv rejects environment names that cannot be a keychain user.
func checkEnv(env string) error {
	if env == "" || strings.TrimSpace(env) != env || strings.IndexFunc(env, unicode.IsControl) >= 0 || len(env) > 64 {
		return fmt.Errorf("keychain: %q is not an environment name: use sim, sandbox or production", env)
	}
	return nil
}
