#!/bin/sh
# Refreshes the README's screenshots from the end-to-end tests (run inside
# build/scripts/with-desktop.sh, which sets LINKDESK_ARTIFACTS). The steps
# that make them are listed once, in app/session/harness_test.go
# (readmeShots); the tests save them under their README names.
set -eu
cd "$(dirname "$0")/../.."
shots="$LINKDESK_ARTIFACTS/readme"
rm -rf "$shots"
LINKDESK_SCREENSHOTS=readme go test -count=1 -run '^(TestTheDeskOnTheSimulator|TestOAuthBanksInTheWindow|TestSwitchEnvironmentAndFirstRun|TestNarrowWindow|TestKeychainProblemsOpenTheWindow)$' ./app/session/
n=$(ls "$shots"/*.png | wc -l)
[ "$n" -eq 11 ] || { echo "expected the README's 11 screenshots in $shots, found $n" >&2; exit 1; }
cp "$shots"/*.png build/screenshots/
echo "$n screenshots refreshed in build/screenshots"
