//go:build !darwin && !windows

package keychain

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/godbus/dbus/v5"
)

// accessDenied reports whether err is the D-Bus error AccessDenied, which the
// bus daemon (or a sandbox's D-Bus proxy) answers for a call its policy
// forbids.
func accessDenied(err error) bool {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name == "org.freedesktop.DBus.Error.AccessDenied"
	}
	var dp *dbus.Error
	return errors.As(err, &dp) && dp != nil && dp.Name == "org.freedesktop.DBus.Error.AccessDenied"
}

// sessionBusReachable reports (as an error) that no D-Bus session bus can be
// found without godbus autolaunching one. It mirrors godbus v5's discovery:
// DBUS_SESSION_BUS_ADDRESS (unless empty or "autolaunch:"), then
// /run/user/<uid>/bus, then /run/user/<uid>/dbus-session; failing those,
// godbus would exec `dbus-launch`, whose dbus-daemon (and any
// gnome-keyring-daemon it activates) outlives linkdesk.
func sessionBusReachable() error {
	if a := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); a != "" && a != "autolaunch:" {
		return nil
	}
	run := fmt.Sprintf("/run/user/%d", os.Getuid())
	for _, p := range []string{filepath.Join(run, "bus"), filepath.Join(run, "dbus-session")} {
		if _, err := os.Stat(p); err == nil {
			return nil
		}
	}
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" && filepath.Clean(x) != run {
		if _, err := os.Stat(filepath.Join(x, "bus")); err == nil {
			return fmt.Errorf("DBUS_SESSION_BUS_ADDRESS is unset; a session bus socket exists at %s/bus: export DBUS_SESSION_BUS_ADDRESS=unix:path=%s/bus", x, x)
		}
	}
	return errors.New("no D-Bus session bus: DBUS_SESSION_BUS_ADDRESS is unset and " + run + "/bus does not exist")
}

// The Secret Service's names (freedesktop Secret Service API).
const (
	secretsName      = "org.freedesktop.secrets"
	secretsPath      = "/org/freedesktop/secrets"
	defaultAliasPath = "/org/freedesktop/secrets/aliases/default"
	collectionLocked = "org.freedesktop.Secret.Collection.Locked"
	collectionLabel  = "org.freedesktop.Secret.Collection.Label"
	serviceReadAlias = "org.freedesktop.Secret.Service.ReadAlias"
)

// inspectUnlockFailure asks the Secret Service about the collection go-keyring
// failed to unlock (named in err: the "login" collection, or the "default"
// alias when there is no login collection): locked when it exists and its
// Locked property is true, absent when the alias points at no collection.
// It reports nothing (the zero keyringState) when it cannot tell; the error
// then stays an UnavailableError.
func inspectUnlockFailure(err error) keyringState {
	msg := err.Error()
	i := strings.Index(msg, "'")
	j := strings.LastIndex(msg, "'")
	if i < 0 || j <= i {
		return keyringState{}
	}
	path := dbus.ObjectPath(msg[i+1 : j])
	if !path.IsValid() {
		return keyringState{}
	}
	conn, cerr := dbus.SessionBus()
	if cerr != nil {
		return keyringState{}
	}
	if path == defaultAliasPath {
		var target dbus.ObjectPath
		if conn.Object(secretsName, secretsPath).Call(serviceReadAlias, 0, "default").Store(&target) != nil {
			return keyringState{}
		}
		if target == "/" {
			return keyringState{absent: true}
		}
		path = target
	}
	obj := conn.Object(secretsName, path)
	v, perr := obj.GetProperty(collectionLocked)
	if perr != nil {
		return keyringState{}
	}
	locked, ok := v.Value().(bool)
	if !ok || !locked {
		return keyringState{}
	}
	st := keyringState{locked: true}
	if l, err := obj.GetProperty(collectionLabel); err == nil {
		if s, ok := l.Value().(string); ok {
			st.label = s
		}
	}
	return st
}
