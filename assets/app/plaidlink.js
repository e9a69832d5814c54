// Plaid Link in linkdesk's page: the one Plaid script, the one handler, and
// the callbacks forwarded to Go numbered in the order Link delivers them.
// app.js decides when Link opens (only for the customer on screen); this
// module knows Plaid's contract: load the script once, destroy the previous
// handler before Plaid.create, re-create with receivedRedirectUri after an
// OAuth redirect, never set it on a first init.
//
// Link created ahead of the click (issue 12). With a link token Go prepared
// for the customer on screen (prepareLink), the handler is created at once,
// Link hidden, for the attempt id Go reserved. Its callbacks wait in the
// page until the click's attempt (that id) exists, then go to Go numbered
// as the attempt's first ones, in the order Link delivered them; the click
// only calls open(). If Link refuses the prepared token before any click
// (onExit with an error while it initialises: INVALID_LINK_TOKEN), Go is
// told (prefetchRefused) and prepares another; the operator does nothing.
//
// What the operator feels is measured here: from the click on Link bank
// account (markClick) to Link on screen and usable — the simulated Link
// says when its first pane is rendered and accepts input; Plaid's own Link
// sends OPEN — and reported to Go (linkShown), which records it on the
// attempt.

import { call } from "./contract.js";

const config = JSON.parse(document.querySelector('meta[name="linkdesk-config"]').content || "{}");

let plaidScript = null;
let plaidHandler = null;
let plaidAttempt = null; // the attempt whose Link the handler is ("" while created ahead)
let plaidToken = null; // the link token the handler was created with
// ahead: the handler was created before the click for a prepared token:
// {id (the reserved attempt id), customer, token, loaded, adopted,
// openWanted, queue, early (opened at the click, before Go answered),
// marks (when it got where, before the attempt existed), usable}.
let ahead = null;
// The number of the last Plaid callback forwarded, per attempt: Go applies
// an attempt's callbacks in this order, whatever order they reach it in.
const plaidSeq = new Map();

// hooks are app.js's: report(text, warn) adds to Activity; banner(text)
// shows a page-wide message.
const hooks = { report: () => {}, banner: () => {} };
export function setHooks(h) { Object.assign(hooks, h); }

// linkAttempt is the attempt whose Link handler exists ("" none, or Link
// created ahead of the click and not yet the click's).
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
  plaidToken = null;
  ahead = null;
}

// send numbers one callback of attempt id and sends it to Go.
function send(id, base, method, params, at) {
  const seq = Math.max(plaidSeq.get(id) || 0, base || 0) + 1;
  plaidSeq.set(id, seq);
  call(method, { attempt_id: id, seq, at, ...params }).catch((e) => hooks.report(`${method}: ${e.message}`, true));
}

// prepareLink creates Link, hidden, with the token Go prepared for the
// customer on screen (p: a "ready" prepared push), so that the click only
// opens it. It destroys the previous handler first; call it only when no
// attempt of that customer has Link.
export async function prepareLink(p) {
  if (ahead && ahead.id === p.attempt_id && ahead.token === p.link_token) return;
  if (plaidAttempt) return; // an attempt's Link is in use
  destroyPlaid();
  const mine = { id: p.attempt_id, customer: p.customer_guid, token: p.link_token, loaded: false, adopted: false, openWanted: false, queue: [], base: 0, early: false, marks: {}, usable: null };
  ahead = mine;
  let Plaid;
  try {
    Plaid = await loadPlaid();
  } catch (e) {
    if (ahead === mine) ahead = null;
    return; // the click will say so
  }
  if (ahead !== mine) return;
  // Until the click's attempt exists, callbacks wait here, in order.
  const forward = (method, params) => {
    if (mine.adopted) send(mine.id, mine.base, method, params, Date.now());
    else mine.queue.push({ method, params, at: Date.now() });
  };
  plaidHandler = Plaid.create({
    token: p.link_token,
    onLoad: () => {
      forward("plaid.onLoad", {});
      mine.loaded = true;
      markAhead(mine, "loaded");
      if (ahead === mine && mine.openWanted) {
        markAhead(mine, "opened");
        plaidHandler.open();
      }
    },
    onEvent: (eventName, metadata) => {
      forward("plaid.onEvent", { event_name: eventName, metadata });
      if (eventName === "OPEN") markAhead(mine, "open_event");
      if (eventName === "OPEN" && !simulated()) shown(mine.id, "open_event");
    },
    onExit: (error, metadata) => {
      if (!mine.adopted && !mine.early && error) {
        // Link refused the prepared token before any click: Go prepares
        // another (pushed when ready).
        if (ahead === mine) destroyPlaid();
        call("prefetchRefused", { attempt_id: mine.id, error }).catch((e) => hooks.report(`prefetchRefused: ${e.message}`, true));
        return;
      }
      forward("plaid.onExit", { error, metadata });
    },
    onSuccess: (publicToken, metadata) => forward("plaid.onSuccess", { public_token: publicToken, metadata }),
  });
  plaidToken = p.link_token;
}

// markAhead notes step name of Link created ahead: for the click's watch
// once the attempt took it, else (opened at the click, Go's answer still on
// its way) until it does.
function markAhead(mine, name) {
  if (mine.adopted) phase(mine.id, name);
  else if (mine.early && !(name in mine.marks)) mine.marks[name] = performance.now();
}

// openAhead is the click on Link bank account for customerGUID: Link
// created ahead for that customer opens at once, before Go has answered
// startLink. The click's attempt takes it when the answer comes (its
// callbacks wait in the page until then); an answer with another attempt
// or token — or none — closes it (settleClick).
export function openAhead(customerGUID) {
  const mine = ahead;
  if (!mine || mine.adopted || mine.early || mine.customer !== customerGUID || !plaidHandler) return;
  mine.early = true;
  if (mine.loaded) {
    markAhead(mine, "opened");
    plaidHandler.open();
  } else mine.openWanted = true;
}

// settleClick is called once the click's startLink has been answered (or
// has failed): Link opened at the click that no attempt took is closed.
export function settleClick() {
  if (ahead && ahead.early && !ahead.adopted) destroyPlaid();
}

// unprepare destroys Link created ahead for the prepared token of attempt
// id (any, when id is not given) that is no longer usable.
export function unprepare(id) {
  if (ahead && !ahead.adopted && (!id || ahead.id === id)) destroyPlaid();
}

// openPlaid creates Link for the attempt and opens it once loaded. With
// receivedRedirectUri (the OAuth redirect return) it re-creates Link with the
// same link token, as Plaid requires, and opens it at once. Link created
// ahead for this attempt and token is opened as it is.
export async function openPlaid(attempt, receivedRedirectUri) {
  const id = attempt.id;
  if (!receivedRedirectUri && ahead && !ahead.adopted && ahead.id === id && ahead.token === attempt.link_token && plaidHandler) {
    // The click's attempt takes Link created ahead: its waiting callbacks
    // go first, numbered from the attempt's first.
    const mine = ahead;
    mine.adopted = true;
    mine.base = attempt.plaid_seq || 0;
    plaidAttempt = id;
    watchClick(attempt, true);
    if (watch && watch.id === id) {
      for (const [k, t] of Object.entries(mine.marks)) watch.phases[k] = Math.round((t - watch.at) * 10) / 10;
    }
    for (const q of mine.queue.splice(0)) send(id, mine.base, q.method, q.params, q.at);
    if (mine.early) {
      // Opened at the click already; it may even be usable by now.
      if (mine.usable) shown(id, mine.usable.signal, mine.usable.at);
    } else if (mine.loaded) {
      phase(id, "opened");
      plaidHandler.open();
    } else mine.openWanted = true;
    return;
  }
  if (plaidAttempt === id && plaidToken === attempt.link_token && !receivedRedirectUri) return;
  destroyPlaid();
  plaidAttempt = id;
  plaidToken = attempt.link_token;
  if (!receivedRedirectUri) watchClick(attempt, false);
  let Plaid;
  try {
    Plaid = await loadPlaid();
  } catch (e) {
    hooks.banner(e.message);
    call("cancel", { attempt_id: id }).catch(() => {});
    return;
  }
  if (plaidAttempt !== id || plaidToken !== attempt.link_token) return;
  // Each callback is numbered when Link delivers it, then sent at once.
  const forward = (method, params) => send(id, attempt.plaid_seq, method, params, Date.now());
  const cfg = {
    token: attempt.link_token,
    onLoad: () => {
      forward("plaid.onLoad", {});
      phase(id, "loaded");
      if (plaidAttempt === id && plaidHandler) {
        phase(id, "opened");
        plaidHandler.open();
      }
    },
    onEvent: (eventName, metadata) => {
      forward("plaid.onEvent", { event_name: eventName, metadata });
      if (eventName === "OPEN") phase(id, "open_event");
      if (eventName === "OPEN" && !simulated()) shown(id, "open_event");
    },
    onExit: (error, metadata) => forward("plaid.onExit", { error, metadata }),
    onSuccess: (publicToken, metadata) => forward("plaid.onSuccess", { public_token: publicToken, metadata }),
  };
  // Never on the first init: Plaid rejects a receivedRedirectUri without a
  // valid oauth_state_id.
  if (receivedRedirectUri) cfg.receivedRedirectUri = receivedRedirectUri;
  phase(id, "created");
  plaidHandler = Plaid.create(cfg);
}

// ---- click → Link usable -------------------------------------------------------

// click: the last click on Link bank account, {customer, at (performance
// clock), wall (Date.now())}; watch: the attempt it started, whose Link is
// being opened, {id, at, prepared, phases}: phases are the milliseconds from
// the click to each step on the way (where the time goes).
let click = null;
let watch = null;

// markClick notes a click on Link bank account for customerGUID; at is the
// click event's time (performance clock).
export function markClick(customerGUID, at) {
  const now = performance.now();
  click = { customer: customerGUID, at: at > 0 && at <= now ? at : now, wall: Date.now() - (now - (at > 0 && at <= now ? at : now)) };
}

// watchClick: Link is being opened for attempt; when the last click started
// it, time Link from that click.
function watchClick(attempt, prepared) {
  if (!click || click.customer !== attempt.customer_guid || Date.parse(attempt.started_at) < click.wall - 1000) return;
  watch = { id: attempt.id, at: click.at, prepared, phases: {} };
  click = null;
  phase(attempt.id, "attempt");
}

// phase notes when the watched attempt's Link reached step name.
function phase(id, name) {
  if (watch && watch.id === id && !(name in watch.phases)) watch.phases[name] = Math.round((performance.now() - watch.at) * 10) / 10;
}

function simulated() { return !!(window.Plaid && window.Plaid.__linkdeskSimulator); }

// shown reports the watched attempt's Link usable (at: when; now when not
// given), once. Link opened at the click and usable before Go answered
// keeps it until the attempt takes it.
function shown(id, signal, at = performance.now()) {
  if (ahead && ahead.early && !ahead.adopted && ahead.id === id) {
    if (!ahead.usable) ahead.usable = { signal, at };
    return;
  }
  if (!watch || watch.id !== id) return;
  const ms = Math.round((at - watch.at) * 10) / 10;
  const { prepared, phases } = watch;
  watch = null;
  call("linkShown", { attempt_id: id, click_ms: ms, signal, prepared, phases }).catch((e) => hooks.report(`linkShown: ${e.message}`, true));
}

// The simulated Link posts "usable" when its first pane is rendered and
// accepts input (Plaid's own Link has no such message: OPEN stands in).
const linkOrigin = (() => { try { return new URL(config.plaid_script_url).origin; } catch (e) { return ""; } })();
window.addEventListener("message", (ev) => {
  if (ev.origin !== linkOrigin || !ev.data || ev.data.type !== "linkdesk-plaid" || ev.data.action !== "usable") return;
  const f = document.querySelector('iframe[id^="plaid-link-iframe"]');
  if (!f || ev.source !== f.contentWindow) return;
  if (watch) shown(watch.id, "first_pane");
  else if (ahead && ahead.early) shown(ahead.id, "first_pane");
});
