/*
 * linkdesk — simulated bank OAuth sign-in (sandbox-oauth-login.html), opened
 * by Link in a pop-up. Approve / Deny are recorded by the simulator, then the
 * pop-up goes to Plaid's return page (oauth-return.html).
 *
 * A bank that refuses embedded views (Chase, refuses_embedded) tells by the
 * user agent, as real banks do: an app's embedded view names itself there
 * (linkdesk's pop-up adds "linkdesk", Android's webview "wv"). It then shows
 * its own "open this page in your browser" message instead of the sign-in,
 * and the sign-in fails: Link hears of it (standing in for Plaid's own
 * return page) and reports FAIL_OAUTH.
 */
(function () {
  'use strict';
  var stateID = new URLSearchParams(location.search).get('oauth_state_id') || '';
  function tid(id) { return document.querySelector('[data-testid="' + id + '"]'); }

  function call(name, body) {
    return fetch('/link/v2/stable/sim/' + name, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, credentials: 'same-origin',
      body: JSON.stringify(Object.assign({ oauth_state_id: stateID }, body || {}))
    }).then(function (r) {
      return r.json().then(function (j) { if (!r.ok) throw j; return j; });
    });
  }

  function showError(reply) {
    var e = tid('bank-error');
    e.textContent = (reply && reply.error && reply.error.error_message) || String(reply);
    e.hidden = false;
  }

  function embedded() { return /\b(linkdesk|wv)\b/.test(navigator.userAgent); }

  function refuseEmbedded() {
    document.querySelector('[data-testid="bank-form"]').hidden = true;
    document.querySelector('.consent').hidden = true;
    document.querySelector('.bank-actions').hidden = true;
    tid('bank-refused').hidden = false;
    call('bank/decide', { decision: 'refuse_embedded' }).then(function () {
      var opener = null;
      try { opener = window.opener && !window.opener.closed ? window.opener : null; } catch (e) { opener = null; }
      if (opener) opener.postMessage({ type: 'linkdesk-plaid-oauth', oauth_state_id: stateID, result: 'refused' }, location.origin);
    }, showError);
  }

  var busy = false;
  function decide(decision) {
    if (busy) return;
    busy = true;
    call('bank/decide', { decision: decision }).then(function (r) {
      location.href = r.return_url;
    }, function (reply) {
      busy = false;
      showError(reply);
    });
  }

  function start() {
    tid('bank-approve').addEventListener('click', function () { decide('approve'); });
    tid('bank-deny').addEventListener('click', function () { decide('deny'); });
    call('bank/info').then(function (r) {
      var ins = r.institution;
      document.title = 'Sign in — ' + ins.name;
      document.documentElement.style.setProperty('--brand', ins.color || '#0b5cab');
      tid('bank-name').textContent = ins.name;
      tid('bank-mark').textContent = ins.name.charAt(0);
      Array.prototype.forEach.call(document.querySelectorAll('[data-role="bank-name"]'), function (el) { el.textContent = ins.name; });
      if (ins.refuses_embedded && embedded()) refuseEmbedded();
    }, function (reply) {
      showError(reply);
      tid('bank-approve').disabled = true;
      tid('bank-deny').disabled = true;
    });
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
