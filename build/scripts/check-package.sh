#!/bin/sh
# Proves the packages `go tool task package` built, as an operator would meet
# them (go tool task test:package runs this inside build/scripts/with-desktop.sh):
#
#   .deb  installs with dpkg -i + apt-get -f install; `linkdesk version` prints
#         the stamped version; its Depends cover every library the binary
#         links; the .desktop entry is valid and runs the installed binary; the
#         hicolor icons are there at their sizes; /usr/bin/linkdesk opens its
#         window on the simulator, whose app server answers and whose page
#         talks to linkdesk (screenshot in test-artifacts/package/); dpkg -r
#         removes it all again.
#   .exe  `file` says PE32+ GUI x86-64; app/internal/pkgtest reads its
#         imports, icon groups, version information and manifest.
#   .app  the macOS bundle laid out around the Linux binary reads right
#         (Info.plist, .icns) — the macOS build itself needs a Mac.
#
# Prints PASS/FAIL per check and "package: N passed, N failed"; exits 1 on
# any failure. Needs root (dpkg) and a display. Leaves no linkdesk package
# installed and no process running, so it can run again.
#
#   check-package.sh VERSION
set -u
cd "$(dirname "$0")/../.."
root=$PWD
version=${1:?usage: check-package.sh VERSION (run by go tool task test:package)}
arch=$(go env GOARCH)
debver=$(build/scripts/package-version.sh --deb "$version")
deb=$root/dist/linkdesk_${debver}_${arch}.deb
exe=$root/dist/linkdesk-$version-windows-amd64.exe
art=${LINKDESK_ARTIFACTS:-$root/test-artifacts}/package
mkdir -p "$art"
rm -f "$art"/*.png "$art"/*.log
work=$(mktemp -d)
app_pid=""
installed=false
passed=0
failed=0

pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
# check NAME COMMAND…: PASS when COMMAND succeeds, else FAIL with its output.
check() {
  name=$1
  shift
  if out=$("$@" 2>&1); then pass "$name"; else
    fail "$name"
    printf '%s\n' "$out" | tail -n 25 | sed 's/^/      /'
  fi
}

stop_app() {
  [ -n "$app_pid" ] || return 0
  kill "$app_pid" 2>/dev/null
  i=0
  while kill -0 "$app_pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  kill -9 "$app_pid" 2>/dev/null
  wait "$app_pid" 2>/dev/null
  app_pid=""
}
cleanup() {
  stop_app
  if $installed; then dpkg -r linkdesk >/dev/null 2>&1; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "check-package: version $version; $deb; $exe"
[ "$(id -u)" = 0 ] || { echo "check-package: dpkg -i needs root: run as root (as CI does) or through sudo" >&2; exit 1; }
[ -n "${DISPLAY:-}" ] || { echo "check-package: no DISPLAY: run inside build/scripts/with-desktop.sh (go tool task test:package does)" >&2; exit 1; }

# --- the .deb -----------------------------------------------------------------
check "deb: built ($(basename "$deb"))" test -s "$deb"
check "deb: Depends names the WebKitGTK 4.1 and GTK 3 runtimes, Suggests a Secret Service" sh -c '
  d=$(dpkg-deb -f "$1" Depends) && s=$(dpkg-deb -f "$1" Suggests) || exit 1
  echo "Depends: $d"; echo "Suggests: $s"
  echo "$d" | grep -q "libwebkit2gtk-4.1-0" && echo "$d" | grep -q "libgtk-3-0" &&
  [ "$s" = "gnome-keyring | keepassxc" ]' sh "$deb"

before=$(dpkg-query -W -f='${Status} ${Version}' linkdesk 2>/dev/null | grep "install ok installed" || true)
[ -z "$before" ] || echo "check-package: note: replacing the installed linkdesk ($before); it is removed at the end"
install_deb() {
  # dpkg -i leaves the package unconfigured when dependencies are missing;
  # apt-get -f install then installs them (or removes the package, when they
  # cannot be had).
  dpkg -i "$1" || echo "dpkg -i failed; apt-get -f install fixes what it can"
  DEBIAN_FRONTEND=noninteractive apt-get -f install -y -qq || return 1
  dpkg-query -W -f='${Status} ${Version}\n' linkdesk
  dpkg-query -W -f='${Status}' linkdesk | grep -q "install ok installed"
}
installed=true
if out=$(install_deb "$deb" 2>&1); then pass "deb: installs (dpkg -i, apt-get -f install)"; else
  fail "deb: installs (dpkg -i, apt-get -f install)"
  printf '%s\n' "$out" | tail -n 25 | sed 's/^/      /'
fi

if dpkg-query -W -f='${Status}' linkdesk 2>/dev/null | grep -q "install ok installed"; then
  check "installed: linkdesk version prints \"linkdesk $version\"" sh -c '
    out=$(/usr/bin/linkdesk version) || exit 1; echo "printed: $out"; [ "$out" = "linkdesk $1" ]' sh "$version"
  [ "$version" != dev ] || echo "check-package: note: the version is \"dev\" (no git): stamping is not proven"

  check "installed: Depends cover every library /usr/bin/linkdesk links" sh -c '
    deps=" $(dpkg-query -W -f="\${Depends}" linkdesk | sed "s/([^)]*)//g; s/[,|]/ /g") "
    missing=0
    for lib in $(objdump -p /usr/bin/linkdesk | awk "/NEEDED/{print \$2}"); do
      owner=$(dpkg -S "*/$lib" 2>/dev/null | head -n 1 | cut -d: -f1)
      case $deps in
        *" $owner "* | *" ${owner%t64} "*) echo "$lib: $owner" ;;
        *) echo "$lib: from ${owner:-no package}, which Depends does not name"; missing=1 ;;
      esac
    done
    ! ldd /usr/bin/linkdesk | grep "not found" && [ $missing = 0 ]'

  desktop=/usr/share/applications/linkdesk.desktop
  check "installed: $desktop is valid and in Office;Finance;" sh -c '
    desktop-file-validate "$1" && grep -qx "Categories=Office;Finance;" "$1" &&
    grep -qx "Name=linkdesk" "$1" && grep -q "^Comment=." "$1" && grep -qx "Icon=linkdesk" "$1"' sh "$desktop"
  check "installed: the .desktop Exec runs /usr/bin/linkdesk" sh -c '
    cmd=$(sed -n "s/^Exec=\([^ ]*\).*/\1/p" "$1"); echo "Exec: $cmd → $(command -v "$cmd")"
    [ "$(command -v "$cmd")" = /usr/bin/linkdesk ]' sh "$desktop"
  check "installed: the .desktop entry handles linkdesk:// (MimeType, Exec %u) and xdg-mime names it the default" sh -c '
    grep -qx "MimeType=x-scheme-handler/linkdesk;" "$1" && grep -qx "Exec=linkdesk %u" "$1" || { echo "no MimeType=x-scheme-handler/linkdesk; or Exec=linkdesk %u in $1"; exit 1; }
    # Debian'"'"'s desktop-file-utils trigger indexes the entry in mimeinfo.cache.
    command -v update-desktop-database >/dev/null && update-desktop-database /usr/share/applications
    got=$(XDG_CURRENT_DESKTOP= xdg-mime query default x-scheme-handler/linkdesk); echo "xdg-mime query default x-scheme-handler/linkdesk: $got"
    [ "$got" = linkdesk.desktop ]' sh "$desktop"
  check "installed: /usr/share/linkdesk/oauth-return.html, the page to host at the https redirect URI" sh -c '
    f=/usr/share/linkdesk/oauth-return.html
    dpkg -L linkdesk | grep -qx "$f" && grep -q "linkdesk://oauth-return?" "$f" && grep -q "LOOPBACK_PORT = 47615" "$f"'
  check "installed: linkdesk linkdesk://… with no linkdesk running says so and exits 1" sh -c '
    out=$(XDG_RUNTIME_DIR=$(mktemp -d) /usr/bin/linkdesk "linkdesk://oauth-return?oauth_state_id=x" 2>&1); code=$?
    echo "exit $code: $out"; [ $code = 1 ] && echo "$out" | grep -q "no linkdesk is running"'
  check "installed: hicolor icons 16…512 px and scalable, owned by the package" sh -c '
    owned=$(dpkg -L linkdesk)
    for n in 16 24 32 48 64 128 256 512; do
      f=/usr/share/icons/hicolor/${n}x${n}/apps/linkdesk.png
      got=$(identify -format "%wx%h" "$f") || exit 1
      [ "$got" = "${n}x${n}" ] || { echo "$f is $got"; exit 1; }
      echo "$owned" | grep -qx "$f" || { echo "$f is not in dpkg -L linkdesk"; exit 1; }
    done
    svg=/usr/share/icons/hicolor/scalable/apps/linkdesk.svg
    grep -q "<svg" "$svg" && echo "$owned" | grep -qx "$svg"'

  # The window, started from the installed path, in an empty directory.
  log=$art/linkdesk.log
  (cd "$work" && LINKDESK_ENVIRONMENT=sim LINKDESK_LOG_LEVEL=debug exec /usr/bin/linkdesk >"$log" 2>&1) &
  app_pid=$!
  win="" page=false i=0
  while [ $i -lt 300 ] && kill -0 "$app_pid" 2>/dev/null; do
    [ -n "$win" ] || win=$(xwininfo -root -tree 2>/dev/null | awk '/"linkdesk — sim"/{print $1; exit}')
    # The page asks linkdesk for the customers once it runs: it was served by
    # the app server and reached the bridge.
    grep -q 'method=listCustomers' "$log" 2>/dev/null && page=true
    [ -n "$win" ] && $page && break
    sleep 0.1
    i=$((i + 1))
  done
  secs=$(awk "BEGIN{print $i/10}")
  if [ -n "$win" ] && [ "$(xprop -id "$win" _NET_WM_PID | awk '{print $3}')" = "$app_pid" ]; then
    pass "window: /usr/bin/linkdesk opened \"linkdesk — sim\" (${secs} s)"
  else
    fail "window: /usr/bin/linkdesk opened no \"linkdesk — sim\" window within 30 s (running: $(kill -0 "$app_pid" 2>/dev/null && echo yes || echo no))"
    tail -n 20 "$log" | sed 's/^/      /'
  fi
  if $page; then pass "window: the page loaded and called linkdesk (listCustomers)"; else
    fail "window: the page never called linkdesk (no 'method=listCustomers' in $log)"
    tail -n 20 "$log" | sed 's/^/      /'
  fi
  check "window: its app server answers on loopback, and only to the window" sh -c '
    ports=$(ss -ltnpH 2>/dev/null | awk -v p="pid=$1," "index(\$0, p) && \$4 ~ /^127\\.0\\.0\\.1:/ {sub(/.*:/, \"\", \$4); print \$4}")
    [ -n "$ports" ] || { echo "the process listens on no 127.0.0.1 port"; exit 1; }
    for port in $ports; do
      body=$(curl -s -m 3 -w " [%{http_code}]" "http://127.0.0.1:$port/")
      echo "127.0.0.1:$port/ → $body"
      case $body in *"only served to its own window"*"[403]") exit 0 ;; esac
    done
    echo "no port answered as linkdesk'"'"'s app server (403 to a request without the window'"'"'s cookie)"; exit 1' sh "$app_pid"
  shot=$art/window.png
  # WebKit paints a moment after the page's first call: a blank (one-colour)
  # screen is retried for up to 15 s.
  check "window: screenshot $shot shows a drawn page" sh -c '
    i=0
    while :; do
      import -window root "$1" || exit 1
      colours=$(convert "$1" -format %k info:) || exit 1
      [ "$colours" -ge 64 ] && { echo "$colours colours after $i retries"; exit 0; }
      [ $i -ge 30 ] && { echo "$colours colours after 15 s: nothing drawn"; exit 1; }
      sleep 0.5; i=$((i + 1))
    done' sh "$shot"
  check "window: no ERROR in its log" sh -c '! grep "level=ERROR" "$1"' sh "$log"
  stop_app
else
  fail "installed: nothing to check: linkdesk is not installed"
fi

# --- the .exe -----------------------------------------------------------------
check "exe: built ($(basename "$exe"))" test -s "$exe"
check "exe: file says PE32+ executable (GUI) x86-64" sh -c 'out=$(file -b "$1"); echo "$out"; case $out in "PE32+ executable (GUI) x86-64"*) ;; *) exit 1 ;; esac' sh "$exe"
check "exe: GUI subsystem, system-only imports, icon groups APP + 32512, version info, manifest (go test ./app/internal/pkgtest)" \
  env LINKDESK_PACKAGE_EXE="$exe" LINKDESK_PACKAGE_VERSION="$version" \
  LINKDESK_PACKAGE_NUMERIC_VERSION="$(build/scripts/package-version.sh --numeric "$version")" \
  go test -count=1 -v -run '^TestWindowsExe$' ./app/internal/pkgtest

# --- the macOS bundle layout -------------------------------------------------
check "app: package-darwin.sh lays out linkdesk.app; Info.plist and .icns read right (go test ./app/internal/pkgtest)" sh -c '
  build/scripts/package-darwin.sh "$1" "dist/linux-$2/linkdesk" "$3" >/dev/null &&
  LINKDESK_PACKAGE_APP="$3/linkdesk.app" LINKDESK_PACKAGE_VERSION="$1" go test -count=1 -v -run "^TestDarwinBundle\$" ./app/internal/pkgtest' \
  sh "$version" "$arch" "$work/darwin"

# --- removal ------------------------------------------------------------------
if $installed; then
  installed=false
  check "deb: dpkg -r removes it (no /usr/bin/linkdesk, no menu entry)" sh -c '
    dpkg -r linkdesk && ! [ -e /usr/bin/linkdesk ] && ! [ -e /usr/share/applications/linkdesk.desktop ] &&
    ! dpkg-query -W -f="\${Status}" linkdesk 2>/dev/null | grep -q "install ok installed"'
fi

echo "package: $passed passed, $failed failed"
[ "$failed" = 0 ]
