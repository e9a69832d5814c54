#!/bin/sh
# with-secret-service.sh CMD [ARG...]
#
# Runs CMD inside a private D-Bus session that has a fresh gnome-keyring with
# an unlocked login keyring: a real Secret Service for the tests of package
# keychain (and of anything that uses it). Example, from the module root:
#
#   app/keychain/testdata/with-secret-service.sh go test ./app/keychain/ ./app/credcmd/
#
# The keyring lives in a temporary HOME removed afterwards, so the user's own
# keyring is never touched. DISPLAY is unset so that an unlock prompt can never
# wait on a screen. Go's caches stay where `go env` says they are. When CMD
# exits, the session bus ends and gnome-keyring-daemon with it.
set -eu
for tool in dbus-run-session dbus-send gnome-keyring-daemon; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "with-secret-service: $tool not found: apt-get install dbus gnome-keyring" >&2
		exit 127
	}
done
if command -v go >/dev/null 2>&1; then
	GOCACHE=$(go env GOCACHE) GOMODCACHE=$(go env GOMODCACHE) GOPATH=$(go env GOPATH)
	export GOCACHE GOMODCACHE GOPATH
fi
home=$(mktemp -d)
trap 'rm -rf "$home"' EXIT
mkdir -p "$home/.local/share/keyrings" "$home/.cache"
chmod -R 700 "$home"
status=0
env -u DISPLAY -u WAYLAND_DISPLAY -u DBUS_SESSION_BUS_ADDRESS \
	-u XDG_DATA_HOME -u XDG_CACHE_HOME -u XDG_RUNTIME_DIR HOME="$home" \
	dbus-run-session -- sh -c '
	echo -n linkdesk-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
	# gnome-keyring-daemon --unlock forks and claims the Secret Service name a
	# moment later. A client that asks earlier makes D-Bus activate a second
	# daemon, which then outlives the session: wait for the name.
	i=0
	until dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
		org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q "boolean true"; do
		i=$((i + 1))
		if [ "$i" -gt 200 ]; then
			echo "with-secret-service: gnome-keyring-daemon did not claim org.freedesktop.secrets within 10s" >&2
			exit 1
		fi
		sleep 0.05
	done
	exec "$@"' sh "$@" || status=$?
exit "$status"
