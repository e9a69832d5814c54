package keychain

import (
	"errors"
	"strings"
	"time"

	"github.com/zalando/go-keyring"
)

// backend is the part of go-keyring the OS store uses. Tests substitute one
// whose calls block, to exercise the timeout.
type backend interface {
	Get(service, user string) (string, error)
	Set(service, user, password string) error
	Delete(service, user string) error
}

// goKeyring calls go-keyring's package functions (the OS provider).
type goKeyring struct{}

func (goKeyring) Get(service, user string) (string, error) { return keyring.Get(service, user) }
func (goKeyring) Set(service, user, password string) error {
	return keyring.Set(service, user, password)
}
func (goKeyring) Delete(service, user string) error { return keyring.Delete(service, user) }

type osStore struct {
	timeout time.Duration
	kr      backend
	// reachable reports why the keychain cannot be reached without asking it
	// (nil when it may be). See sessionBusReachable.
	reachable func() error
	// inspect looks into a keyring that could not be unlocked (see
	// inspectUnlockFailure); nil: no inspection.
	inspect func(err error) keyringState
}

// keyringState is what inspecting a failed unlock found out.
type keyringState struct {
	// locked: the keyring exists and is locked; label is its name.
	locked bool
	label  string
	// absent: there is no keyring (collection) to unlock at all.
	absent bool
}

// New returns the Store backed by the OS keychain. Each call gives up after
// timeout (DefaultTimeout when timeout <= 0) with a *TimeoutError; the
// abandoned go-keyring call is left running in the background, as GitHub CLI
// does, because go-keyring offers no way to cancel it.
//
// Errors: an error wrapping ErrNotFound when nothing is stored; *CorruptError
// when the stored value is unreadable; *TimeoutError; *LockedError when the
// keyring is locked and was not unlocked (its prompt dismissed or impossible
// without a display); *UnavailableError when no keychain can be reached, or
// (NoKeyring) when it has no keyring to keep items in; *DeniedError when the
// keychain refuses linkdesk (D-Bus AccessDenied). None of them contains the
// secret.
//
// On Linux and the BSDs, godbus (under go-keyring) runs `dbus-launch` to start a
// new session bus when DBUS_SESSION_BUS_ADDRESS is unset and it finds no bus
// socket in /run/user/<uid>; the daemons it starts outlive linkdesk. To avoid
// leaking them, the Store returns *UnavailableError without calling go-keyring
// when DBUS_SESSION_BUS_ADDRESS is unset (or "autolaunch:") and neither
// /run/user/<uid>/bus nor /run/user/<uid>/dbus-session exists. If
// $XDG_RUNTIME_DIR/bus exists elsewhere, the error says to export
// DBUS_SESSION_BUS_ADDRESS=unix:path=$XDG_RUNTIME_DIR/bus.
func New(timeout time.Duration) Store {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &osStore{timeout: timeout, kr: goKeyring{}, reachable: sessionBusReachable, inspect: inspectUnlockFailure}
}

func (s *osStore) Get(env string) (Credentials, error) {
	if err := checkEnv(env); err != nil {
		return Credentials{}, err
	}
	v, err := s.call("get", env, nil, func() (string, error) { return s.kr.Get(Service, env) })
	if err != nil {
		return Credentials{}, err
	}
	return decode(env, v)
}

func (s *osStore) Set(env string, c Credentials) error {
	if err := checkEnv(env); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return err
	}
	value, err := encode(c)
	if err != nil {
		return err
	}
	_, err = s.call("set", env, []string{value, c.ClientSecret}, func() (string, error) { return "", s.kr.Set(Service, env, value) })
	return err
}

func (s *osStore) Delete(env string) error {
	if err := checkEnv(env); err != nil {
		return err
	}
	_, err := s.call("delete", env, nil, func() (string, error) { return "", s.kr.Delete(Service, env) })
	return err
}

// call runs f in a goroutine and waits at most s.timeout for it, mapping
// go-keyring's errors to this package's. The secrets (the client secret and
// the encoded value) are scrubbed from any error text that reaches the caller.
func (s *osStore) call(op, env string, secrets []string, f func() (string, error)) (string, error) {
	if s.reachable != nil {
		if err := s.reachable(); err != nil {
			return "", &UnavailableError{Op: op, Env: env, Cause: err}
		}
	}
	type result struct {
		v   string
		err error
		st  keyringState
	}
	ch := make(chan result, 1) // buffered: an abandoned call can still send and exit
	go func() {
		v, err := f()
		var st keyringState
		if err != nil && s.inspect != nil && unlockFailed(err) {
			// Inside the goroutine: the inspection's D-Bus calls are
			// bounded by the same timeout.
			st = s.inspect(err)
		}
		ch <- result{v, err, st}
	}()
	timer := time.NewTimer(s.timeout)
	defer timer.Stop()
	select {
	case r := <-ch:
		switch {
		case r.err == nil:
			return r.v, nil
		case errors.Is(r.err, keyring.ErrNotFound):
			return "", notFound(env)
		case errors.Is(r.err, keyring.ErrSetDataTooBig):
			return "", errors.New("the OS keychain refused the credentials as too large: check that the client id and secret are the ones Cybrid issued")
		case accessDenied(r.err):
			return "", &DeniedError{Op: op, Env: env, Cause: scrub(r.err, secrets)}
		case r.st.locked:
			return "", &LockedError{Op: op, Env: env, Keyring: r.st.label, Cause: scrub(r.err, secrets)}
		case r.st.absent:
			return "", &UnavailableError{Op: op, Env: env, Cause: scrub(r.err, secrets), NoKeyring: true}
		default:
			return "", &UnavailableError{Op: op, Env: env, Cause: scrub(r.err, secrets)}
		}
	case <-timer.C:
		return "", &TimeoutError{Op: op, Env: env, Timeout: s.timeout}
	}
}

// unlockFailed reports whether err is go-keyring's answer when the Secret
// Service did not unlock the collection it asked for ("failed to unlock
// correct collection '<path>'"): a locked keyring whose prompt was dismissed
// or could not be shown, or no keyring at all. go-keyring has no error value
// for it, so its text is matched.
func unlockFailed(err error) bool {
	return strings.Contains(err.Error(), "failed to unlock correct collection")
}

// scrub returns err, or a copy of its text with every secret replaced when the
// text contains one. go-keyring's errors do not carry the value today; this
// keeps it that way if a backend ever echoes its input.
func scrub(err error, secrets []string) error {
	msg := err.Error()
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, redacted)
		}
	}
	if msg == err.Error() {
		return err
	}
	return errors.New(msg)
}
