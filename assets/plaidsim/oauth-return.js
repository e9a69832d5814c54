/*
 * linkdesk — simulated Plaid OAuth return page (oauth-return.html), the last
 * page of the bank pop-up. It hands the result back to Link:
 *   - pop-up with a live opener (the Link iframe, same origin as this page):
 *     opener.postMessage({type: "linkdesk-plaid-oauth", oauth_state_id, result},
 *     this origin), then close itself;
 *   - no opener (e.g. the host sent the bank page to another browser) and the
 *     link token has a redirect_uri: go to <redirect_uri>?oauth_state_id=<id>,
 *     where the host app re-initialises Link with receivedRedirectUri;
 *   - neither: tell the user to return to the app.
 */
(function () {
  'use strict';
  var stateID = new URLSearchParams(location.search).get('oauth_state_id') || '';
  var text = document.querySelector('[data-testid="return-text"]');

  fetch('/link/v2/stable/sim/bank/return', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, credentials: 'same-origin',
    body: JSON.stringify({ oauth_state_id: stateID })
  }).then(function (r) {
    return r.json().then(function (j) { if (!r.ok) throw j; return j; });
  }).then(function (r) {
    var opener = null;
    try { opener = window.opener && !window.opener.closed ? window.opener : null; } catch (e) { opener = null; }
    if (opener) {
      opener.postMessage({ type: 'linkdesk-plaid-oauth', oauth_state_id: stateID, result: r.result }, location.origin);
      text.textContent = 'Done. You can close this window.';
      setTimeout(function () { window.close(); }, 50);
      return;
    }
    if (r.redirect_uri) {
      location.replace(r.redirect_uri + '?oauth_state_id=' + encodeURIComponent(stateID));
      return;
    }
    text.textContent = 'Done. Return to the app to continue.';
  }, function (reply) {
    text.textContent = 'Could not return to Link: ' + ((reply && reply.error && reply.error.error_message) || reply);
  });
})();
