// Package websdk holds the end-to-end test that runs Cybrid's own web SDK
// (@cybrid/cybrid-sdk-ui-js, from npm) against linkdesk's simulator in
// headless Chromium — the proof that the simulator serves a browser client
// Cybrid wrote, not only linkdesk.
//
// The test (websdk_test.go) starts the simulator in-process, a TLS front
// that answers bank.sandbox.cybrid.app, id.sandbox.cybrid.app and
// cdn.plaid.com (Chromium resolves them to it with --host-resolver-rules and
// trusts its certificate by public-key pin), and a host page on a loopback
// origin that embeds the SDK as its README shows. It mints a customer token
// (POST /api/customer_tokens) and runs testdata/drive.mjs (puppeteer-core)
// through bank-account-connect — a new link, exit and resume, an OAuth bank
// in a pop-up, update mode after the simulator's expire hook — and
// bank-account-list, then checks what the simulator holds.
//
// Needs node, npm and Chromium (Debian: nodejs, chromium); the node modules
// are installed from testdata/package-lock.json with npm ci
// (build/scripts/install-node-modules.sh, or the test itself when they are missing or
// stale). Without them the test skips, or fails when
// LINKDESK_REQUIRE_BROWSER=1 (as `go tool task test` sets it).
package websdk
