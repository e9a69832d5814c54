/*
 * linkdesk — simulated Plaid Link test driver (sim-driver.js).
 *
 * Loaded into link.html and the bank's OAuth pages only when the simulator
 * runs with Options.TestDriver. It lets a test that can evaluate script only
 * in the top frame drive the real DOM inside the cross-origin Link iframe (and
 * the OAuth pop-up) with postMessage.
 *
 * Request  (host → Link iframe):
 *   {type: "linkdesk-sim-driver", id, action, selector, value, command}
 *     action "click"  — el.click() on the first element matching selector
 *            "fill"   — set el.value = value, dispatch input + change events
 *            "text"   — value is el.innerText
 *            "exists" — value is whether selector matches a visible element
 *                       (no element, or hidden via [hidden]/display:none ⇒ false)
 *            "popup"  — forward `command` (a request of this same shape, without
 *                       type/id) to the OAuth pop-up window Link opened, and
 *                       relay its result; error "no pop-up open" when none is,
 *                       "the pop-up is still loading" until its page is ready
 * Result   (Link iframe → host, target origin = the host origin):
 *   {type: "linkdesk-sim-driver-result", id, ok, value, error}
 *
 * Requests are accepted only from window.parent with the host origin (in the
 * iframe) or from window.opener with this origin (in the pop-up).
 */
(function () {
  'use strict';
  var REQ = 'linkdesk-sim-driver';
  var RES = 'linkdesk-sim-driver-result';
  var inIframe = window.parent !== window;
  var hostOrigin = new URLSearchParams(location.search).get('origin') || '';
  var seq = 0;
  window.__linkdeskSimDriver = true;
  var pending = {}; // pop-up relays: our id → {source, origin, id}

  function visible(el) {
    if (!el) return false;
    if (el.closest('[hidden]')) return false;
    var r = el.getBoundingClientRect();
    return r.width > 0 || r.height > 0;
  }

  function perform(d, reply) {
    var el = d.selector ? document.querySelector(d.selector) : null;
    switch (d.action) {
      case 'exists':
        return reply({ ok: true, value: visible(el) });
      case 'text':
        if (!el) return reply({ ok: false, error: 'no element matches ' + d.selector });
        return reply({ ok: true, value: el.innerText });
      case 'click':
        if (!el) return reply({ ok: false, error: 'no element matches ' + d.selector });
        if (el.disabled) return reply({ ok: false, error: 'element ' + d.selector + ' is disabled' });
        el.click();
        return reply({ ok: true, value: null });
      case 'fill':
        if (!el) return reply({ ok: false, error: 'no element matches ' + d.selector });
        el.focus();
        el.value = d.value == null ? '' : String(d.value);
        el.dispatchEvent(new Event('input', { bubbles: true }));
        el.dispatchEvent(new Event('change', { bubbles: true }));
        return reply({ ok: true, value: null });
      case 'popup':
        var popup = typeof window.__linkdeskSimPopup === 'function' ? window.__linkdeskSimPopup() : null;
        if (!popup) return reply({ ok: false, error: 'no pop-up open' });
        if (!d.command || typeof d.command !== 'object') return reply({ ok: false, error: 'popup needs a command object' });
        var loaded = false;
        try { loaded = popup.document.readyState !== 'loading' && !!popup.__linkdeskSimDriver; } catch (e) { loaded = false; }
        if (!loaded) return reply({ ok: false, error: 'the pop-up is still loading' });
        var id = 'relay-' + (++seq);
        pending[id] = { reply: reply, popup: popup, timer: setTimeout(function () {
          delete pending[id];
          reply({ ok: false, error: 'the pop-up did not answer within 5 s' });
        }, 5000) };
        popup.postMessage(Object.assign({}, d.command, { type: REQ, id: id }), location.origin);
        return;
      default:
        return reply({ ok: false, error: 'unknown driver action ' + JSON.stringify(d.action) });
    }
  }

  window.addEventListener('message', function (ev) {
    var d = ev.data;
    if (!d || typeof d !== 'object') return;
    if (d.type === RES && pending[d.id] && ev.source === pending[d.id].popup && ev.origin === location.origin) {
      var p = pending[d.id];
      delete pending[d.id];
      clearTimeout(p.timer);
      p.reply({ ok: d.ok, value: d.value, error: d.error });
      return;
    }
    if (d.type !== REQ) return;
    var fromHost = inIframe && ev.source === window.parent && (ev.origin === hostOrigin || hostOrigin === 'null');
    var fromOpener = window.opener && ev.source === window.opener && ev.origin === location.origin;
    if (!fromHost && !fromOpener) return;
    var source = ev.source;
    var target = ev.origin === 'null' ? '*' : ev.origin;
    perform(d, function (res) {
      try {
        source.postMessage({ type: RES, id: d.id, ok: !!res.ok, value: res.value === undefined ? null : res.value,
          error: res.error || null }, target);
      } catch (e) { /* the requester went away */ }
    });
  });
})();
