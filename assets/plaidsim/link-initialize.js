/*
 * linkdesk — simulated Plaid Link web SDK (link-initialize.js).
 *
 * Served by app/sim/plaidsim at the path Plaid's CDN uses
 * (/link/v2/stable/link-initialize.js). It defines window.Plaid with the same
 * contract as Plaid's script (types as in react-plaid-link 5):
 *
 *   const handler = Plaid.create({token, onSuccess, onExit, onEvent, onLoad, receivedRedirectUri});
 *   handler.open(); handler.exit({force}); handler.destroy(); handler.submit(data);
 *
 *   onSuccess(public_token, {institution, accounts, account, link_session_id, transfer_status})
 *   onExit(error|null, {institution, status, link_session_id, request_id})
 *   onEvent(eventName, metadata)   // OPEN in real time; the rest at the end of the flow
 *   onLoad()                       // Link is ready; open() before this is queued
 *
 * Link runs in an iframe served from this script's origin (cross-origin to the
 * host page). Host and iframe talk by postMessage with explicit target
 * origins; the host accepts only messages whose source is its own iframe and
 * whose origin is the script's origin.
 */
(function () {
  'use strict';

  var DOUBLE_EMBED = 'The Plaid link-initialize.js script was embedded more than once. ' +
    'This is an unsupported configuration and may lead to unexpected behavior. ' +
    'Please ensure the script is embedded only once per page.';
  if (window.Plaid && window.Plaid.__linkdeskSimulator) {
    console.warn(DOUBLE_EMBED);
    return; // keep the first Plaid
  }

  var script = document.currentScript;
  if (!script || !script.src) {
    console.error('linkdesk Plaid simulator: load link-initialize.js with a <script src> tag; cannot tell where Link is served from.');
    return;
  }
  var ORIGIN = new URL(script.src, location.href).origin;
  var BASE = ORIGIN + '/link/v2/stable/';
  var MSG = 'linkdesk-plaid';
  var counter = 0;

  // Runs a host callback; an exception in it must not break Link, but must
  // still surface (reported asynchronously, like an uncaught error).
  function invoke(fn) {
    if (typeof fn !== 'function') return;
    var args = Array.prototype.slice.call(arguments, 1);
    try {
      fn.apply(null, args);
    } catch (e) {
      setTimeout(function () { throw e; });
    }
  }

  function whenBody(fn) {
    if (document.body) fn();
    else document.addEventListener('DOMContentLoaded', fn, { once: true });
  }

  function create(config) {
    if (!config || typeof config !== 'object') {
      throw new TypeError('Plaid.create: expected a configuration object {token, onSuccess, ...}');
    }
    counter += 1;
    var state = { ready: false, openQueued: false, open: false, destroyed: false };
    var hostOrigin = location.origin; // "null" for opaque origins (about:blank, data:)

    var iframe = document.createElement('iframe');
    iframe.id = 'plaid-link-iframe-' + counter;
    iframe.title = 'Plaid Link';
    iframe.setAttribute('allowtransparency', 'true');
    iframe.setAttribute('allow', 'camera; payment');
    iframe.style.cssText = 'position:fixed;top:0;left:0;width:100%;height:100%;border:0;margin:0;padding:0;' +
      'z-index:2147483647;display:none;background:transparent;color-scheme:normal;';
    var q = new URLSearchParams();
    q.set('token', config.token == null ? '' : String(config.token));
    q.set('origin', hostOrigin);
    q.set('uniqueId', String(counter));
    q.set('isLinkInitialize', 'true');
    if (config.receivedRedirectUri) q.set('receivedRedirectUri', String(config.receivedRedirectUri));
    iframe.src = BASE + 'link.html?' + q.toString();

    function post(msg) {
      if (state.destroyed || !iframe.contentWindow) return;
      msg.type = MSG;
      iframe.contentWindow.postMessage(msg, ORIGIN);
    }

    function show(visible) {
      iframe.style.display = visible ? 'block' : 'none';
      if (visible) {
        try { iframe.focus(); } catch (e) { /* ignore */ }
      }
    }

    function deliverEvents(events) {
      (events || []).forEach(function (e) { invoke(config.onEvent, e.eventName, e.metadata); });
    }

    function onMessage(ev) {
      if (ev.source !== iframe.contentWindow || ev.origin !== ORIGIN) return;
      var d = ev.data;
      if (!d || d.type !== MSG) return;
      switch (d.action) {
        case 'ready':
          if (state.ready) return;
          state.ready = true;
          invoke(config.onLoad);
          if (state.openQueued) {
            state.openQueued = false;
            doOpen();
          }
          break;
        case 'event': // real-time events (OPEN)
          invoke(config.onEvent, d.eventName, d.metadata);
          break;
        case 'console':
          if (d.level === 'error') console.error(d.message);
          else console.warn(d.message);
          break;
        case 'exit':
          state.open = false;
          show(false);
          deliverEvents(d.events);
          invoke(config.onExit, d.error || null, d.metadata);
          break;
        case 'success':
          state.open = false;
          show(false);
          deliverEvents(d.events);
          invoke(config.onSuccess, d.public_token, d.metadata);
          break;
      }
    }
    window.addEventListener('message', onMessage);
    whenBody(function () {
      if (!state.destroyed) document.body.appendChild(iframe);
    });

    function doOpen() {
      state.open = true;
      show(true);
      post({ action: 'open' });
    }

    return {
      open: function () {
        if (state.destroyed || state.open) return;
        if (!state.ready) {
          state.openQueued = true;
          return;
        }
        doOpen();
      },
      exit: function (options) {
        if (state.destroyed) return;
        if (state.openQueued && !state.open) {
          state.openQueued = false;
          return;
        }
        if (!state.open) return;
        var force = !!(options && options.force);
        if (force) {
          state.open = false;
          show(false);
        }
        post({ action: 'exit', force: force });
      },
      submit: function (data) {
        if (state.destroyed) return;
        post({ action: 'submit', data: data == null ? null : JSON.parse(JSON.stringify(data)) });
      },
      destroy: function () {
        if (state.destroyed) return;
        state.destroyed = true;
        state.open = false;
        window.removeEventListener('message', onMessage);
        if (iframe.parentNode) iframe.parentNode.removeChild(iframe);
      }
    };
  }

  window.Plaid = {
    create: create,
    version: 'linkdesk-simulator',
    __linkdeskSimulator: true
  };
})();
