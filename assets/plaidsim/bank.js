/*
 * linkdesk — simulated bank OAuth sign-in (sandbox-oauth-login.html), opened
 * by Link in a pop-up. Approve / Deny are recorded by the simulator, then the
 * pop-up goes to Plaid's return page (oauth-return.html).
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
    }, function (reply) {
      showError(reply);
      tid('bank-approve').disabled = true;
      tid('bank-deny').disabled = true;
    });
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
