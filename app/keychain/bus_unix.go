//go:build !darwin && !windows

package keychain

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

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
