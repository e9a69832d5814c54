#!/bin/sh
# Refreshes the README's screenshots from the end-to-end tests (run inside
# build/scripts/with-desktop.sh, which sets LINKDESK_ARTIFACTS).
set -eu
cd "$(dirname "$0")/../.."
go test -count=1 -run 'TestLinkAccountEndToEnd|TestKeyboardOnlyDay|TestDarkTheme|TestSwitchEnvironmentAndFirstRun|TestOAuthBankApprovedInPopup|TestAttemptPanelBelongsToItsCustomer|TestSimulatorPanelAndScenarioPicker|TestNarrowWindow' ./app/session/
e2e="$LINKDESK_ARTIFACTS/e2e"
out=build/screenshots
cp "$e2e/TestLinkAccountEndToEnd/09-linked.png" "$out/linked.png"
cp "$e2e/TestLinkAccountEndToEnd/07-link-select-account.png" "$out/link-select-account.png"
cp "$e2e/TestLinkAccountEndToEnd/03-waiting-for-link-token.png" "$out/waiting-for-link-token.png"
cp "$e2e/TestKeyboardOnlyDay/06-verified.png" "$out/keyboard-verified.png"
cp "$e2e/TestDarkTheme/04-dark.png" "$out/dark.png"
cp "$e2e/TestSwitchEnvironmentAndFirstRun/01-first-run.png" "$out/first-run.png"
cp "$e2e/TestOAuthBankApprovedInPopup/02-bank-popup.png" "$out/oauth-popup.png"
cp "$e2e/TestAttemptPanelBelongsToItsCustomer/07-elena-link-ready-elsewhere.png" "$out/link-ready-elsewhere.png"
cp "$e2e/TestSimulatorPanelAndScenarioPicker/01-simulator-panel.png" "$out/simulator-panel.png"
cp "$e2e/TestNarrowWindow/07-900x600.png" "$out/900x600.png"
echo "screenshots refreshed in $out"
