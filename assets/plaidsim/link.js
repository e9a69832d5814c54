/*
 * linkdesk — simulated Plaid Link: the Link page (link.html) inside the
 * iframe that link-initialize.js creates.
 *
 * Talks to the host page (its parent) with postMessage, target origin = the
 * host origin passed in ?origin= (messages are accepted only from
 * window.parent with that origin), and to the simulator's JSON API on its own
 * origin (/link/v2/stable/sim/…). Events follow Plaid's web timing: OPEN is
 * sent at once, all others are buffered and flushed, in order, right before
 * onSuccess / onExit.
 */
(function () {
  'use strict';

  var MSG = 'linkdesk-plaid';
  var OAUTH_MSG = 'linkdesk-plaid-oauth';
  var API = '/link/v2/stable/sim/';
  var params = new URLSearchParams(location.search);
  var HOST_ORIGIN = params.get('origin') || '*';
  var POST_TARGET = HOST_ORIGIN === 'null' ? '*' : HOST_ORIGIN; // opaque host origins can only be addressed as "*"

  // Exit status per view (Plaid's onExit metadata.status).
  var EXIT_STATUS = {
    CONSENT: 'requires_credentials',
    SELECT_INSTITUTION: 'institution_not_found',
    CREDENTIAL: 'requires_credentials',
    MFA: 'requires_code',
    OAUTH: 'requires_oauth',
    SELECT_ACCOUNT: 'requires_account_selection'
  };
  // Views from which the close button asks for confirmation first.
  var CONFIRM_EXIT = { CREDENTIAL: true, MFA: true, OAUTH: true, SELECT_ACCOUNT: true };

  var S = {
    token: params.get('token') || '',
    receivedRedirectUri: params.get('receivedRedirectUri') || '',
    init: null,        // /sim/init reply
    initError: null,   // error object when the token (or redirect URI) was refused
    ready: false,
    open: false,
    sessionId: null,
    requestId: null,
    view: null,
    beforeExit: null,  // view shown before the exit-confirmation pane
    institution: null, // {name, institution_id, color, oauth, health}
    lastError: null,   // last error the user met (onExit's error)
    errorStatus: null, // exit status while the error pane shows
    errorRetry: null,  // view "Try again" returns to
    loadingStatus: null,
    events: [],
    accounts: [],
    publicToken: null,
    connectedAccounts: null,
    oauth: null,       // {oauth_state_id, url}
    popup: null,
    popupTimer: null,
    oauthBusy: false,
    busy: false,
    searchTimer: null,
    lastSearch: ''
  };

  function $(sel) { return document.querySelector(sel); }
  function $$(sel) { return Array.prototype.slice.call(document.querySelectorAll(sel)); }
  function tid(id) { return $('[data-testid="' + id + '"]'); }

  function uuid() {
    var b = new Uint8Array(16);
    crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join('');
    return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
  }

  function toHost(msg) {
    msg.type = MSG;
    window.parent.postMessage(msg, POST_TARGET);
  }

  function consoleToHost(level, message) {
    toHost({ action: 'console', level: level, message: message });
  }

  // ---- API -----------------------------------------------------------------

  function api(name, body) {
    var payload = Object.assign({ link_token: S.token, link_session_id: S.sessionId || '' }, body || {});
    return fetch(API + name, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      credentials: 'same-origin',
      body: JSON.stringify(payload)
    }).then(function (r) {
      return r.json().then(function (j) {
        if (j && j.request_id) S.requestId = j.request_id;
        if (!r.ok) throw j;
        return j;
      });
    }, function (netErr) {
      throw { status: 'error', error: { error_type: 'API_ERROR', error_code: 'INTERNAL_SERVER_ERROR',
        error_message: 'could not reach the Link simulator: ' + netErr, display_message: null } };
    });
  }

  // ---- events ----------------------------------------------------------------

  function eventMetadata(extra) {
    var m = {
      account_number_mask: null,
      error_code: null,
      error_message: null,
      error_type: null,
      exit_status: null,
      institution_id: S.institution ? S.institution.institution_id : null,
      institution_name: S.institution ? S.institution.name : null,
      institution_search_query: null,
      is_update_mode: null,
      match_reason: null,
      mfa_type: null,
      routing_number: null,
      selection: null,
      view_name: null,
      request_id: S.requestId || '',
      link_session_id: S.sessionId || '',
      timestamp: new Date().toISOString()
    };
    return Object.assign(m, extra || {});
  }

  function errorFields(err) {
    return err ? { error_type: err.error_type, error_code: err.error_code, error_message: err.error_message } : {};
  }

  // emit records an event: OPEN goes to the host at once, the rest at the end.
  function emit(name, extra) {
    var e = { eventName: name, metadata: eventMetadata(extra) };
    if (name === 'OPEN') toHost({ action: 'event', eventName: e.eventName, metadata: e.metadata });
    else S.events.push(e);
  }

  function flushEvents() {
    var ev = S.events;
    S.events = [];
    return ev;
  }

  // ---- rendering ---------------------------------------------------------------

  function initials(name) {
    return name.replace(/[^A-Za-z ]/g, ' ').split(/\s+/).filter(function (w) { return w && w[0] === w[0].toUpperCase(); })
      .slice(0, 2).map(function (w) { return w[0]; }).join('') || '?';
  }

  function paintInstitution() {
    var ins = S.institution;
    if (!ins) return;
    $$('[data-role="inst-name"]').forEach(function (el) { el.textContent = ins.name; });
    $$('[data-role="inst-disc"]').forEach(function (el) {
      el.textContent = initials(ins.name);
      el.style.background = ins.color || '#5f6b7a';
    });
  }

  // show switches the pane. TRANSITION_VIEW is emitted unless silent.
  function show(view, opts) {
    opts = opts || {};
    S.view = view;
    document.body.setAttribute('data-view', view);
    $$('.pane').forEach(function (p) { p.hidden = p.getAttribute('data-pane') !== view; });
    var canBack = (view === 'SELECT_INSTITUTION') ||
      ((view === 'CREDENTIAL' || view === 'OAUTH') && !(S.init && S.init.update_mode) && !S.resumed);
    tid('back').hidden = !canBack;
    if (!opts.silent) emit('TRANSITION_VIEW', Object.assign({ view_name: view }, opts.meta || {}));
    var focus = opts.focus && tid(opts.focus);
    if (focus) setTimeout(function () { focus.focus(); }, 0);
  }

  function loading(text, status) {
    S.loadingStatus = status;
    tid('loading-text').textContent = text;
    show('LOADING');
  }

  function renderInstitutions() {
    var list = tid('institution-list');
    list.textContent = '';
    (S.init.institutions || []).forEach(function (ins) {
      var li = document.createElement('li');
      var b = document.createElement('button');
      b.type = 'button';
      b.setAttribute('data-testid', 'institution-' + ins.institution_id);
      b.setAttribute('data-name', ins.name.toLowerCase());
      var d = document.createElement('span');
      d.className = 'disc';
      d.textContent = initials(ins.name);
      d.style.background = ins.color;
      var t = document.createElement('span');
      t.textContent = ins.name;
      if (ins.oauth) t.appendChild(tag('oauth', 'OAuth'));
      if (ins.health === 'down') t.appendChild(tag('down', 'Down'));
      if (ins.health === 'degraded') t.appendChild(tag('degraded', 'Degraded'));
      var s = document.createElement('small');
      s.textContent = ins.url;
      t.appendChild(s);
      b.appendChild(d);
      b.appendChild(t);
      b.addEventListener('click', function () { selectInstitution(ins); });
      li.appendChild(b);
      list.appendChild(li);
    });
  }

  function tag(cls, text) {
    var s = document.createElement('span');
    s.className = 'tag ' + cls;
    s.textContent = text;
    return s;
  }

  function filterInstitutions() {
    var q = tid('institution-search').value.trim().toLowerCase();
    var shown = 0;
    $$('[data-testid="institution-list"] li').forEach(function (li) {
      var b = li.firstChild;
      var hit = !q || b.getAttribute('data-name').indexOf(q) >= 0 ||
        b.getAttribute('data-testid').indexOf(q) >= 0;
      li.hidden = !hit;
      if (hit) shown++;
    });
    tid('institution-empty').hidden = shown > 0;
    clearTimeout(S.searchTimer);
    S.searchTimer = null;
    if (q && q !== S.lastSearch) {
      S.searchTimer = setTimeout(function () { flushSearch(q); }, 400);
      S.pendingSearch = q;
    }
  }

  // flushSearch emits SEARCH_INSTITUTION for a debounced query (at once when
  // the user picks an institution before the debounce ran out).
  function flushSearch(q) {
    clearTimeout(S.searchTimer);
    S.searchTimer = null;
    q = q || S.pendingSearch;
    S.pendingSearch = null;
    if (!q || q === S.lastSearch) return;
    S.lastSearch = q;
    emit('SEARCH_INSTITUTION', { institution_search_query: q });
  }

  function renderAccounts(accounts) {
    S.accounts = accounts;
    var multi = S.init.account_select === 'multi';
    tid('account-title').textContent = multi ? 'Select accounts' : 'Select account';
    tid('account-subtitle').textContent = multi ? 'Choose the accounts to share with linkdesk.' : 'Choose the account to share with linkdesk.';
    var list = tid('account-list');
    list.textContent = '';
    accounts.forEach(function (a) {
      var li = document.createElement('li');
      var l = document.createElement('label');
      var inp = document.createElement('input');
      inp.type = multi ? 'checkbox' : 'radio';
      inp.name = 'account';
      inp.value = a.id;
      inp.setAttribute('data-testid', 'account-' + a.mask);
      inp.addEventListener('change', updateAccountContinue);
      var txt = document.createElement('div');
      var n = document.createElement('div');
      n.className = 'acct-name';
      n.textContent = a.name;
      var sub = document.createElement('div');
      sub.className = 'acct-sub';
      sub.textContent = '•••• ' + a.mask + ' · ' + a.subtype.replace(/\b\w/g, function (c) { return c.toUpperCase(); });
      txt.appendChild(n);
      txt.appendChild(sub);
      l.appendChild(inp);
      l.appendChild(txt);
      li.appendChild(l);
      list.appendChild(li);
    });
    updateAccountContinue();
  }

  function selectedAccountIDs() {
    return $$('[data-testid="account-list"] input').filter(function (i) { return i.checked; }).map(function (i) { return i.value; });
  }

  function updateAccountContinue() {
    tid('account-continue').disabled = selectedAccountIDs().length === 0 || S.busy;
  }

  function inlineError(testid, err) {
    var el = tid(testid);
    if (!err) {
      el.hidden = true;
      el.textContent = '';
      return;
    }
    el.textContent = err.display_message || err.error_message;
    el.hidden = false;
  }

  // ---- error pane -----------------------------------------------------------------

  var ERROR_TITLES = {
    INVALID_LINK_TOKEN: 'Link could not be started',
    INSTITUTION_DOWN: 'Institution unavailable',
    INSTITUTION_NOT_RESPONDING: 'Institution not responding',
    INSTITUTION_NOT_SUPPORTED: 'Institution not supported',
    INSTITUTION_NO_LONGER_SUPPORTED: 'Institution not supported',
    ITEM_LOCKED: 'Account locked',
    OAUTH_POPUP_BLOCKED: "The bank's sign-in window could not be opened"
  };

  // What the user can do about an error (shown under its message).
  var ERROR_ADVICE = {
    INVALID_LINK_TOKEN: 'Close Link and start linking again: the app needs a new link token.',
    INSTITUTION_DOWN: 'Try again later, or choose another institution.',
    INSTITUTION_NOT_RESPONDING: 'Try again later.',
    ITEM_LOCKED: "Unlock the account on the bank's website, then link it again.",
    OAUTH_POPUP_BLOCKED: 'Try again, or exit and link the account from a browser.'
  };

  // showError shows the error pane. status is onExit's status if the user
  // exits from it; retryView, if set, offers "Try again" back to that view.
  function showError(err, status, retryView, opts) {
    opts = opts || {};
    S.lastError = err;
    S.errorStatus = status;
    S.errorRetry = retryView || null;
    tid('error-title').textContent = opts.title || ERROR_TITLES[err.error_code] || 'Something went wrong';
    tid('error-message').textContent = opts.message || err.display_message || err.error_message;
    tid('error-code').textContent = err.error_code;
    var advice = ERROR_ADVICE[err.error_code];
    tid('error-advice').textContent = advice || '';
    tid('error-advice').hidden = !advice;
    tid('error-retry').textContent = opts.retryLabel || 'Try again';
    tid('error-retry').hidden = !retryView;
    if (!opts.noEvent) emit('ERROR', errorFields(err));
    show('ERROR', { silent: !!opts.silent });
  }

  // fatal handles a refused API call: an invalid token ends the session.
  function fatal(reply, status) {
    var err = (reply && reply.error) || { error_type: 'API_ERROR', error_code: 'INTERNAL_SERVER_ERROR', error_message: String(reply), display_message: null };
    S.busy = false;
    showError(err, status === undefined ? currentStatus() : status, null);
  }

  // ---- flow ------------------------------------------------------------------------

  function currentStatus() {
    switch (S.view) {
      case 'LOADING': return S.loadingStatus;
      case 'ERROR': return S.errorStatus;
      case 'EXIT': return EXIT_STATUS[S.beforeExit] || null;
      default: return EXIT_STATUS[S.view] || null;
    }
  }

  function institutionMeta() {
    return S.institution ? { name: S.institution.name, institution_id: S.institution.institution_id } : null;
  }

  function resetSession() {
    S.sessionId = null;
    S.institution = null;
    S.lastError = null;
    S.events = [];
    S.oauth = null;
    S.oauthBusy = false;
    S.busy = false;
    S.resumed = false;
    S.connectedAccounts = null;
    S.lastSearch = '';
    stopPopupPoll();
    S.popup = null;
    tid('institution-search').value = '';
    filterInstitutions();
    $$('form').forEach(function (f) { f.reset(); });
    inlineError('credentials-error', null);
    inlineError('mfa-error', null);
    tid('oauth-waiting').hidden = true;
  }

  // exitLink ends the session with onExit.
  function exitLink() {
    if (!S.open) return;
    var status = currentStatus();
    var err = S.lastError;
    if (S.view === 'ERROR' || S.view === 'EXIT') {
      if (S.view === 'ERROR') emit('TRANSITION_VIEW', { view_name: 'EXIT' });
    }
    emit('EXIT', Object.assign({ exit_status: status }, errorFields(err)));
    var meta = { institution: institutionMeta(), status: status, link_session_id: S.sessionId || uuid(), request_id: S.requestId || '' };
    var msg = { action: 'exit', error: err || null, metadata: meta, events: flushEvents() };
    // Record the exit with the simulator before the host hears onExit: hosts
    // destroy Link's iframe on onExit, which would abort the request.
    var reported = S.sessionId
      ? api('exit', { status: status || '', error_code: err ? err.error_code : '' }).catch(function () { /* best effort */ })
      : Promise.resolve();
    S.open = false;
    resetSession();
    reported.then(function () { toHost(msg); });
  }

  function succeed() {
    if (!S.open) return;
    emit('HANDOFF');
    var accounts = S.connectedAccounts || [];
    var meta = {
      institution: institutionMeta(),
      accounts: accounts,
      account: accounts.length ? accounts[0] : null,
      link_session_id: S.sessionId,
      transfer_status: null
    };
    S.open = false;
    toHost({ action: 'success', public_token: S.publicToken, metadata: meta, events: flushEvents() });
    S.publicToken = null;
    resetSession();
  }

  // close is the X button and exit() without force.
  function requestClose() {
    if (!S.open) return;
    if (S.view === 'CONNECTED') return succeed();
    if (CONFIRM_EXIT[S.view]) {
      S.beforeExit = S.view;
      show('EXIT');
      return;
    }
    if (S.view === 'EXIT' || S.view === 'LOADING') return; // already confirming / working
    exitLink();
  }

  function openLink() {
    if (S.open) return;
    S.open = true;
    S.events = [];
    if (S.initError) {
      // Token refused at initialisation: show why; closing exits again.
      S.sessionId = null;
      showError(S.initError, null, null, { noEvent: true, silent: true });
      return;
    }
    S.view = null;
    var body = {};
    var resumeID = null;
    if (S.init.resume) {
      resumeID = new URL(S.receivedRedirectUri).searchParams.get('oauth_state_id');
      body.oauth_state_id = resumeID;
    }
    show('LOADING', { silent: true });
    api('open', body).then(function (r) {
      S.sessionId = r.link_session_id;
      if (r.institution) setInstitution(r.institution);
      if (resumeID) {
        S.resumed = true;
        emit('OPEN', { view_name: null, is_update_mode: String(!!S.init.update_mode) });
        continueAfterOAuth(r.resume);
        return;
      }
      if (S.init.update_mode) {
        var view = S.init.start_view;
        if (r.oauth) S.oauth = r.oauth;
        emit('OPEN', { view_name: view, is_update_mode: 'true' });
        show(view, { silent: true, focus: view === 'CREDENTIAL' ? 'credentials-username' : null });
        reportUsable();
        return;
      }
      emit('OPEN', { view_name: 'CONSENT', is_update_mode: 'false' });
      show('CONSENT', { silent: true });
      reportUsable();
    }, function (reply) {
      S.sessionId = S.sessionId || uuid();
      fatal(reply, null);
    });
  }

  // reportUsable tells the host that Link's first pane is rendered and
  // accepts input: after the frame that paints it. Not part of Plaid's
  // contract (Plaid's script ignores unknown messages; link-initialize.js
  // here does too): linkdesk times the click → usable Link by it, where
  // Plaid's own Link offers only OPEN.
  function reportUsable() {
    requestAnimationFrame(function () {
      setTimeout(function () {
        if (S.open) toHost({ action: 'usable', view: S.view });
      }, 0);
    });
  }

  function setInstitution(ins) {
    var full = (S.init && S.init.institutions || []).filter(function (i) { return i.institution_id === ins.institution_id; })[0];
    S.institution = full || ins;
    paintInstitution();
  }

  function selectInstitution(ins) {
    if (S.busy) return;
    if (S.searchTimer) flushSearch();
    S.busy = true;
    setInstitution(ins);
    api('institution', { institution_id: ins.institution_id }).then(function (r) {
      S.busy = false;
      if (r.error) {
        var sel = r.error.error_code === 'INSTITUTION_DOWN' ? 'SELECT_DOWN_INSTITUTION' : 'SELECT_INSTITUTION';
        emit(sel);
        var status = r.error.error_code === 'INSTITUTION_NOT_SUPPORTED' ? 'institution_not_supported' : 'institution_not_found';
        showError(r.error, status, 'SELECT_INSTITUTION', { retryLabel: 'Choose another institution' });
        return;
      }
      emit(ins.health === 'degraded' ? 'SELECT_DEGRADED_INSTITUTION' : 'SELECT_INSTITUTION');
      tid('credentials-degraded').hidden = ins.health !== 'degraded';
      if (r.oauth) {
        S.oauth = r.oauth;
        tid('oauth-waiting').hidden = true;
        show('OAUTH');
      } else {
        show('CREDENTIAL', { focus: 'credentials-username' });
      }
    }, function (reply) { fatal(reply, 'institution_not_found'); });
  }

  // handleOutcome renders the reply of a step (credentials, MFA, OAuth, accounts).
  function handleOutcome(o, origin) {
    S.busy = false;
    switch (o.status) {
      case 'mfa':
        show('MFA', { meta: { mfa_type: o.mfa_type }, focus: 'mfa-code' });
        break;
      case 'select_account':
        renderAccounts(o.accounts);
        show('SELECT_ACCOUNT');
        break;
      case 'connected':
        S.publicToken = o.public_token;
        S.connectedAccounts = o.accounts;
        tid('connected-text').textContent = 'Your ' + (S.institution ? S.institution.name : '') +
          ' account' + (o.accounts.length > 1 ? 's have' : ' has') + ' been connected to linkdesk.';
        show('CONNECTED');
        break;
      case 'error':
        emit('ERROR', errorFields(o.error));
        if (o.retry) {
          S.lastError = o.error;
          var pane = origin === 'MFA' ? 'MFA' : 'CREDENTIAL';
          show(pane, { focus: pane === 'MFA' ? 'mfa-code' : 'credentials-password' });
          inlineError(pane === 'MFA' ? 'mfa-error' : 'credentials-error', o.error);
        } else {
          showError(o.error, EXIT_STATUS[origin] || 'requires_credentials', null, { noEvent: true });
        }
        break;
    }
  }

  function submitCredentials(ev) {
    ev.preventDefault();
    if (S.busy || S.view !== 'CREDENTIAL') return;
    var u = tid('credentials-username').value;
    var p = tid('credentials-password').value;
    if (!u || !p) {
      inlineError('credentials-error', { error_message: 'Enter your username and password.' });
      return;
    }
    S.busy = true;
    inlineError('credentials-error', null);
    emit('SUBMIT_CREDENTIALS');
    var started = Date.now();
    loading('Connecting to ' + S.institution.name + '…', 'requires_credentials');
    api('credentials', { username: u, password: p }).then(function (o) {
      later(started, function () {
        tid('credentials-password').value = '';
        handleOutcome(o, 'CREDENTIAL');
      });
    }, function (reply) { fatal(reply, 'requires_credentials'); });
  }

  function submitMFA(ev) {
    ev.preventDefault();
    if (S.busy || S.view !== 'MFA') return;
    var code = tid('mfa-code').value;
    S.busy = true;
    inlineError('mfa-error', null);
    emit('SUBMIT_MFA', { mfa_type: 'code' });
    var started = Date.now();
    loading('Verifying…', 'requires_code');
    api('mfa', { code: code }).then(function (o) {
      later(started, function () {
        tid('mfa-code').value = '';
        handleOutcome(o, 'MFA');
      });
    }, function (reply) { fatal(reply, 'requires_code'); });
  }

  // later runs fn no sooner than the loading time after start (350 ms
  // unless the simulator says otherwise), so the loading pane is seen.
  function later(start, fn) {
    var least = S.init && typeof S.init.loading_ms === 'number' ? S.init.loading_ms : 350;
    setTimeout(fn, Math.max(0, least - (Date.now() - start)));
  }

  function submitAccounts() {
    var ids = selectedAccountIDs();
    if (S.busy || !ids.length) return;
    S.busy = true;
    updateAccountContinue();
    api('accounts', { account_ids: ids }).then(function (o) { handleOutcome(o, 'SELECT_ACCOUNT'); },
      function (reply) { fatal(reply, 'requires_account_selection'); });
  }

  // ---- OAuth pop-up --------------------------------------------------------------------

  function continueToBank() {
    if (!S.oauth || S.oauthBusy) return;
    if (S.popup && !S.popup.closed) {
      S.popup.focus();
      return;
    }
    // Called synchronously from the click handler: the user gesture lets the
    // pop-up through pop-up blockers.
    var name = 'plaid-oauth-' + (S.sessionId || '').replace(/[^a-z0-9]/gi, '');
    var w = window.open(location.origin + S.oauth.url, name, 'popup=yes,width=520,height=720');
    if (!w) {
      var err = { error_type: 'OAUTH_ERROR', error_code: 'OAUTH_POPUP_BLOCKED',
        error_message: "the institution's OAuth window could not be opened (window.open returned null)",
        display_message: "The bank's sign-in window could not be opened." };
      showError(err, 'requires_oauth', 'OAUTH', {
        message: 'This window does not let ' + S.institution.name + "'s sign-in page open in a new window."
      });
      return;
    }
    S.popup = w;
    emit('OPEN_OAUTH');
    tid('oauth-waiting').hidden = false;
    tid('oauth-continue').textContent = 'Reopen bank window';
    stopPopupPoll();
    S.popupTimer = setInterval(function () {
      if (S.popup && S.popup.closed) onPopupClosed();
    }, 400);
  }

  function stopPopupPoll() {
    if (S.popupTimer) clearInterval(S.popupTimer);
    S.popupTimer = null;
  }

  function onPopupClosed() {
    stopPopupPoll();
    S.popup = null;
    if (S.oauthBusy || !S.open) return;
    api('oauth/status').then(function (r) {
      if (r.result === 'pending') {
        emit('CLOSE_OAUTH');
        resetOAuthPane();
      } else {
        completeOAuth();
      }
    }, function (reply) { fatal(reply, 'requires_oauth'); });
  }

  function resetOAuthPane() {
    tid('oauth-waiting').hidden = true;
    tid('oauth-continue').textContent = 'Continue to bank';
    if (S.view !== 'OAUTH') show('OAUTH');
  }

  function completeOAuth() {
    if (S.oauthBusy) return;
    S.oauthBusy = true;
    stopPopupPoll();
    api('oauth/complete').then(function (o) {
      S.oauthBusy = false;
      if (o.status === 'pending') return;
      continueAfterOAuth(o);
    }, function (reply) {
      S.oauthBusy = false;
      fatal(reply, 'requires_oauth');
    });
  }

  function continueAfterOAuth(o) {
    tid('oauth-waiting').hidden = true;
    tid('oauth-continue').textContent = 'Continue to bank';
    if (o.status === 'error') {
      if (!S.resumed) emit('FAIL_OAUTH');
      emit('ERROR', errorFields(o.error));
      showError(o.error, 'requires_oauth', null, { noEvent: true, title: 'Access was not granted', message: S.institution.name +
        ' did not grant access to your accounts. ' + (o.error.display_message || '') });
      return;
    }
    handleOutcome(o, 'OAUTH');
  }

  // Messages from the OAuth return page in the pop-up (same origin as us).
  window.addEventListener('message', function (ev) {
    var d = ev.data;
    if (!d || d.type !== OAUTH_MSG || ev.origin !== location.origin) return;
    if (!S.popup || ev.source !== S.popup) return;
    if (!S.oauth || d.oauth_state_id !== S.oauth.oauth_state_id) return;
    completeOAuth();
  });

  // ---- host messages ------------------------------------------------------------------

  window.addEventListener('message', function (ev) {
    if (ev.source !== window.parent || (HOST_ORIGIN !== '*' && ev.origin !== HOST_ORIGIN)) return;
    var d = ev.data;
    if (!d || d.type !== MSG) return;
    switch (d.action) {
      case 'open':
        openLink();
        break;
      case 'exit':
        if (!S.open) return;
        if (d.force) {
          if (S.view === 'CONNECTED') succeed();
          else exitLink();
        } else {
          requestClose();
        }
        break;
      case 'submit':
        // Layer only (phone number / date of birth); the simulator has no Layer flow.
        consoleToHost('warn', 'linkdesk Plaid simulator: handler.submit() is for Plaid Layer, which the simulator does not implement; ignored.');
        break;
    }
  });

  // ---- wiring ------------------------------------------------------------------------------

  function wire() {
    tid('close').addEventListener('click', requestClose);
    tid('back').addEventListener('click', function () {
      if (S.busy) return;
      if (S.view === 'SELECT_INSTITUTION') show('CONSENT');
      else if (S.view === 'CREDENTIAL' || S.view === 'OAUTH') {
        S.institution = null;
        S.lastError = null;
        inlineError('credentials-error', null);
        show('SELECT_INSTITUTION', { focus: 'institution-search' });
      }
    });
    tid('consent-continue').addEventListener('click', function () {
      show('SELECT_INSTITUTION', { focus: 'institution-search' });
    });
    tid('institution-search').addEventListener('input', filterInstitutions);
    tid('credentials-form').addEventListener('submit', submitCredentials);
    tid('mfa-form').addEventListener('submit', submitMFA);
    tid('account-continue').addEventListener('click', submitAccounts);
    tid('connected-continue').addEventListener('click', succeed);
    tid('oauth-continue').addEventListener('click', continueToBank);
    tid('error-exit').addEventListener('click', exitLink);
    tid('error-retry').addEventListener('click', function () {
      var v = S.errorRetry;
      if (!v) return;
      if (v === 'SELECT_INSTITUTION') S.institution = null;
      show(v, { focus: v === 'SELECT_INSTITUTION' ? 'institution-search' : null });
    });
    tid('exit-confirm').addEventListener('click', exitLink);
    tid('exit-cancel').addEventListener('click', function () { show(S.beforeExit); });
    document.addEventListener('keydown', function (e) {
      if (e.key === 'Escape') requestClose();
    });
  }

  // Exposed for sim-driver.js ("popup" action): the OAuth window Link opened.
  window.__linkdeskSimPopup = function () { return S.popup && !S.popup.closed ? S.popup : null; };

  function start() {
    wire();
    api('init', { received_redirect_uri: S.receivedRedirectUri }).then(function (r) {
      S.init = r;
      renderInstitutions();
      if (r.institution) setInstitution(r.institution);
      S.ready = true;
      toHost({ action: 'ready' });
    }, function (reply) {
      var err = (reply && reply.error) || { error_type: 'API_ERROR', error_code: 'INTERNAL_SERVER_ERROR', error_message: 'Link could not start', display_message: null };
      S.initError = err;
      S.ready = true;
      toHost({ action: 'ready' });
      if (S.receivedRedirectUri && err.error_type === 'OAUTH_ERROR') {
        consoleToHost('error', 'oauth uri does not contain a valid oauth_state_id query parameter');
      }
      // As Plaid does: an error during initialisation ends in onExit at once.
      toHost({ action: 'exit', error: err, events: [],
        metadata: { institution: null, status: null, link_session_id: uuid(), request_id: S.requestId || '' } });
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
