//go:build !darwin && !windows

package keychain

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// rejected is the error go-keyring returned, word for word, when the session
// bus's policy denied messages to org.freedesktop.secrets
// (TestDeniedWhenBusPolicyForbidsTheSecretService produces it for real; this
// test runs where no Secret Service is available).
var rejected = dbus.Error{Name: "org.freedesktop.DBus.Error.AccessDenied", Body: []any{
	`Rejected send message, 2 matched rules; type="method_call", sender=":1.2" (uid=1000 pid=30098 comm="linkdesk") interface="org.freedesktop.Secret.Service" member="OpenSession" error name="(unset)" requested_reply="0" destination="org.freedesktop.secrets" (uid=1000 pid=30075 comm="gnome-keyring-daemon --unlock --components=secrets")`}}

func TestAccessDeniedMapsToDeniedError(t *testing.T) {
	for _, e := range []error{rejected, &rejected} {
		s := &osStore{timeout: time.Second, kr: failingBackend{func(string) error { return e }}}
		err := s.Set("sandbox", Credentials{"id", canary})
		var de *DeniedError
		if !errors.As(err, &de) || de.Op != "set" || de.Env != "sandbox" {
			t.Fatalf("Set with %T: %v (%T), want *DeniedError", e, err, err)
		}
		var ue *UnavailableError
		if errors.As(err, &ue) {
			t.Errorf("a denied keychain is reported as unreachable: %v", err)
		}
		msg := err.Error()
		for _, w := range []string{"the OS keychain refused linkdesk access (D-Bus AccessDenied: Rejected send message", "only in the OS keychain", "org.freedesktop.secrets", "try again"} {
			if !strings.Contains(msg, w) {
				t.Errorf("%q lacks %q", msg, w)
			}
		}
		if strings.Contains(msg, canary) {
			t.Errorf("message leaks the secret: %q", msg)
		}
	}
	// Another D-Bus error (no Secret Service on the bus) stays "unavailable".
	unknown := dbus.Error{Name: "org.freedesktop.DBus.Error.ServiceUnknown", Body: []any{"The name org.freedesktop.secrets was not provided by any .service files"}}
	s := &osStore{timeout: time.Second, kr: failingBackend{func(string) error { return unknown }}}
	var ue *UnavailableError
	if _, err := s.Get("sandbox"); !errors.As(err, &ue) {
		t.Errorf("ServiceUnknown: %v (%T), want *UnavailableError", err, err)
	}
}
