#!/bin/sh
# Runs a command inside a throwaway desktop session, the way linkdesk's tests
# need it: a private D-Bus session bus, an unlocked gnome-keyring Secret
# Service (unlocked before the first call: a locked keyring with a display makes
# go-keyring wait forever on a prompt), and an Xvfb display. HOME is a fresh
# temporary directory so the user's own keyring is never touched.
#
#   build/scripts/with-desktop.sh go test ./...
set -eu
if [ "${LINKDESK_IN_DESKTOP:-}" != 1 ]; then
  export LINKDESK_IN_DESKTOP=1
  exec env -u DBUS_SESSION_BUS_ADDRESS -u DISPLAY -u WAYLAND_DISPLAY dbus-run-session -- "$0" "$@"
fi
# Keep Go's caches where they were before HOME changes.
export GOPATH="$(go env GOPATH)" GOCACHE="$(go env GOCACHE)" GOMODCACHE="$(go env GOMODCACHE)"
export HOME="$(mktemp -d)"
mkdir -p "$HOME/.local/share/keyrings" "$HOME/.cache"
chmod -R 700 "$HOME"
trap 'rm -rf "$HOME"' EXIT
printf '%s' "linkdesk-test" | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
# gnome-keyring-daemon --unlock forks and claims the Secret Service name a
# moment later; a client asking earlier would make D-Bus start a second daemon.
i=0
until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
	org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true"; do
	i=$((i + 1)); [ $i -gt 200 ] && { echo "gnome-keyring-daemon did not claim org.freedesktop.secrets within 10 s" >&2; exit 1; }
	sleep 0.05
done
# A free display number.
n=90
while [ -e "/tmp/.X$n-lock" ] || [ -e "/tmp/.X11-unix/X$n" ]; do n=$((n + 1)); done
Xvfb ":$n" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null; rm -rf "$HOME"' EXIT
export DISPLAY=":$n"
i=0
until xdpyinfo >/dev/null 2>&1; do
  i=$((i + 1)); [ $i -gt 100 ] && { echo "Xvfb did not start on $DISPLAY" >&2; exit 1; }
  sleep 0.1
done
export LINKDESK_REQUIRE_DISPLAY=1 LINKDESK_REQUIRE_KEYRING=1
export LINKDESK_ARTIFACTS="${LINKDESK_ARTIFACTS:-$(cd "$(dirname "$0")/../.." && pwd)/test-artifacts}"
mkdir -p "$LINKDESK_ARTIFACTS"
"$@"
