// Plaid Link in linkdesk's page: the one Plaid script, the one handler, and
// the callbacks forwarded to Go numbered in the order Link delivers them.
// app.js decides when Link opens (only for the customer on screen); this
// module knows Plaid's contract: load the script once, destroy the previous
// handler before Plaid.create, re-create with receivedRedirectUri after an
// OAuth redirect, never set it on a first init.

import { call } from "./contract.js";

const config = JSON.parse(document.querySelector('meta[name="linkdesk-config"]').content || "{}");

let plaidScript = null;
let plaidHandler = null;
let plaidAttempt = null;
// The number of the last Plaid callback forwarded, per attempt: Go applies
// an attempt's callbacks in this order, whatever order they reach it in.
const plaidSeq = new Map();

// hooks are app.js's: report(text, warn) adds to Activity; banner(text)
// shows a page-wide message.
const hooks = { report: () => {}, banner: () => {} };
export function setHooks(h) { Object.assign(hooks, h); }

// linkAttempt is the attempt whose Link handler exists ("" none).
export function linkAttempt() { return plaidAttempt || ""; }

export function loadPlaid() {
  if (!plaidScript) {
    plaidScript = new Promise((resolve, reject) => {
      if (window.Plaid) return resolve(window.Plaid);
      const s = document.createElement("script");
      s.src = config.plaid_script_url;
      s.async = true;
      s.addEventListener("load", () => (window.Plaid ? resolve(window.Plaid) : reject(new Error("the Plaid script loaded but defined no Plaid object"))));
      s.addEventListener("error", () => reject(new Error(`Plaid Link could not be loaded from ${config.plaid_script_url}. Check the network connection, then try again.`)));
      document.head.append(s);
    });
    plaidScript.catch(() => { plaidScript = null; });
  }
  return plaidScript;
}

export function destroyPlaid() {
  if (plaidHandler) {
    try { plaidHandler.destroy(); } catch (e) { console.warn("Plaid destroy", e); }
  }
  plaidHandler = null;
  plaidAttempt = null;
}

// openPlaid creates Link for the attempt and opens it once loaded. With
// receivedRedirectUri (the OAuth redirect return) it re-creates Link with the
// same link token, as Plaid requires, and opens it at once.
export async function openPlaid(attempt, receivedRedirectUri) {
  if (plaidAttempt === attempt.id && !receivedRedirectUri) return;
  destroyPlaid();
  plaidAttempt = attempt.id;
  const id = attempt.id;
  let Plaid;
  try {
    Plaid = await loadPlaid();
  } catch (e) {
    hooks.banner(e.message);
    call("cancel", { attempt_id: id }).catch(() => {});
    return;
  }
  if (plaidAttempt !== id) return;
  // Each callback is numbered when Link delivers it, then sent at once.
  const forward = (method, params) => {
    const seq = Math.max(plaidSeq.get(id) || 0, attempt.plaid_seq || 0) + 1;
    plaidSeq.set(id, seq);
    call(method, { attempt_id: id, seq, at: Date.now(), ...params }).catch((e) => hooks.report(`${method}: ${e.message}`, true));
  };
  const cfg = {
    token: attempt.link_token,
    onLoad: () => {
      forward("plaid.onLoad", {});
      if (plaidAttempt === id && plaidHandler) plaidHandler.open();
    },
    onEvent: (eventName, metadata) => forward("plaid.onEvent", { event_name: eventName, metadata }),
    onExit: (error, metadata) => forward("plaid.onExit", { error, metadata }),
    onSuccess: (publicToken, metadata) => forward("plaid.onSuccess", { public_token: publicToken, metadata }),
  };
  // Never on the first init: Plaid rejects a receivedRedirectUri without a
  // valid oauth_state_id.
  if (receivedRedirectUri) cfg.receivedRedirectUri = receivedRedirectUri;
  plaidHandler = Plaid.create(cfg);
}
