// linkdesk's page. Go owns the state: this page sends intents through the
// bridge (window.linkdesk_rpc, bound by the window) and renders the attempt
// snapshots Go pushes. It keeps no business state of its own beyond what it
// shows.

const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined) e.append(kid);
  return e;
};

const secret = $('meta[name="linkdesk-session"]').content;
const config = JSON.parse($('meta[name="linkdesk-config"]').content || "{}");

// ---- bridge -------------------------------------------------------------
const pending = new Map();
let seq = 0;
const listeners = [];

window.linkdesk = {
  deliver(msg) {
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.value);
    else p.reject(new Error(msg.error || "unknown error"));
  },
  push(msg) {
    for (const fn of listeners) {
      try { fn(msg); } catch (e) { console.error("linkdesk push handler", e); }
    }
  },
};

function rpc(method, params = {}) {
  const id = "c" + (++seq);
  return new Promise((resolve, reject) => {
    if (typeof window.linkdesk_rpc !== "function") {
      reject(new Error("linkdesk's bridge is not available in this page"));
      return;
    }
    pending.set(id, { resolve, reject });
    window.linkdesk_rpc(secret, id, method, params).catch((e) => {
      pending.delete(id);
      reject(new Error(String(e)));
    });
  });
}

// ---- state --------------------------------------------------------------
const state = {
  info: null,
  page: 0,
  perPage: 25,
  total: 0,
  customers: [],
  filter: "",
  customer: null,
  accounts: [],
  attempt: null, // latest snapshot of the attempt shown
  activity: [],
};

// ---- Plaid Link ---------------------------------------------------------
let plaidScript = null;
let plaidHandler = null;
let plaidAttempt = null;

function loadPlaid() {
  if (!plaidScript) {
    plaidScript = new Promise((resolve, reject) => {
      if (window.Plaid) return resolve(window.Plaid);
      const s = el("script", { src: config.plaid_script_url, async: true });
      s.addEventListener("load", () => (window.Plaid ? resolve(window.Plaid) : reject(new Error("the Plaid script loaded but defined no Plaid object"))));
      s.addEventListener("error", () => reject(new Error(`Plaid Link could not be loaded from ${config.plaid_script_url}. Check the network connection and try again.`)));
      document.head.append(s);
    });
    plaidScript.catch(() => { plaidScript = null; });
  }
  return plaidScript;
}

function destroyPlaid() {
  if (plaidHandler) {
    try { plaidHandler.destroy(); } catch (e) { console.warn("Plaid destroy", e); }
  }
  plaidHandler = null;
  plaidAttempt = null;
}

// openPlaid creates Link for the attempt and opens it once loaded. With
// receivedRedirectUri (the OAuth redirect return) it re-creates Link with the
// same link token, as Plaid requires, and opens it at once.
async function openPlaid(attempt, receivedRedirectUri) {
  if (plaidAttempt === attempt.id && !receivedRedirectUri) return;
  destroyPlaid();
  plaidAttempt = attempt.id;
  const id = attempt.id;
  let Plaid;
  try {
    Plaid = await loadPlaid();
  } catch (e) {
    showBanner(e.message);
    rpc("cancel", { attempt_id: id }).catch(() => {});
    return;
  }
  if (plaidAttempt !== id) return;
  const forward = (method, params) => rpc(method, { attempt_id: id, ...params }).catch((e) => addActivity(`${method}: ${e.message}`, true));
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

// ---- rendering ----------------------------------------------------------
function showBanner(text, cls = "") {
  const b = $('[data-testid="banner"]');
  b.textContent = text;
  b.className = "banner " + cls;
  b.hidden = !text;
}

function renderInfo() {
  const i = state.info;
  const badge = $('[data-testid="env-badge"]');
  badge.textContent = i.environment === "sim" ? "SIMULATOR" : i.environment.toUpperCase();
  badge.className = "env " + i.environment;
  const bits = [];
  if (i.bank_guid) bits.push("bank " + i.bank_guid);
  bits.push("credentials: " + i.credentials);
  $('[data-testid="env-meta"]').textContent = bits.join(" · ");
  $('[data-testid="version"]').textContent = "linkdesk " + i.version;
  if (i.environment === "production") showBanner("PRODUCTION — real customers, real money movement.", "prod");
}

function renderCustomers() {
  const list = $('[data-testid="customer-list"]');
  list.replaceChildren();
  const f = state.filter.trim().toLowerCase();
  const shown = state.customers.filter((c) => !f || c.name.toLowerCase().includes(f) || c.guid.includes(f));
  for (const c of shown) {
    const selected = state.customer && state.customer.guid === c.guid;
    list.append(el("li", {
      role: "option", tabindex: "0", "aria-selected": selected ? "true" : "false", "data-testid": "customer-row", "data-guid": c.guid,
      onclick: () => selectCustomer(c),
      onkeydown: (e) => { if (e.key === "Enter") selectCustomer(c); },
    }, el("span", { class: "name", text: c.name || "(no name)" }), el("span", { class: "chip " + c.state, text: c.state }), el("span", { class: "g", text: c.guid })));
  }
  if (!shown.length) list.append(el("li", { class: "muted", text: state.customers.length ? "No customer on this page matches." : "No customers." }));
  const from = state.total ? state.page * state.perPage + 1 : 0;
  const to = Math.min(state.total, (state.page + 1) * state.perPage);
  $('[data-testid="page-info"]').textContent = `${from}–${to} of ${state.total}`;
  $('[data-testid="page-prev"]').disabled = state.page === 0;
  $('[data-testid="page-next"]').disabled = to >= state.total;
}

const stateLabels = {
  storing: "Storing", completed: "Connected", unverified: "Unverified", failed: "Failed",
  refresh_required: "Refresh required", deleting: "Disconnecting", deleted: "Disconnected",
};

function renderAccounts() {
  const body = $('[data-testid="account-rows"]');
  body.replaceChildren();
  for (const a of state.accounts) {
    const busy = a.state === "storing" || a.state === "deleting";
    const actions = el("td");
    if (a.state === "refresh_required") {
      actions.append(el("button", { "data-testid": "refresh-account", "data-guid": a.guid, text: "Refresh connection", onclick: () => startRefresh(a) }));
    }
    body.append(el("tr", { "data-testid": "account-row", "data-guid": a.guid, "data-state": a.state },
      el("td", {}, el("div", { text: a.name }), el("div", { class: "sub", text: a.guid })),
      el("td", {}, el("div", { text: a.institution_id || "—" }), el("div", { class: "sub", text: a.mask ? "•••• " + a.mask : "" })),
      el("td", {}, el("span", { class: "chip " + a.state, title: a.failure_code ? "failure code: " + a.failure_code : "" }, busy ? el("span", { class: "spinner" }) : null, stateLabels[a.state] || a.state),
        a.failure_code ? el("div", { class: "sub", text: a.failure_code }) : null),
      el("td", { class: "when", title: a.created_at, text: shortTime(a.created_at) }),
      actions));
  }
  $('[data-testid="accounts-empty"]').hidden = state.accounts.length > 0;
}

const stepDefs = {
  link: [
    { key: "token", title: "Link token", states: ["creating_workflow", "waiting_for_token"], desc: "Cybrid creates a Plaid link token (workflow)" },
    { key: "plaid", title: "Plaid Link", states: ["link_open"], desc: "The customer signs in to the bank and picks one account" },
    { key: "create", title: "Create account", states: ["creating_account"], desc: "POST /api/external_bank_accounts" },
    { key: "store", title: "Cybrid stores the account", states: ["waiting_for_account"], desc: "Until the account leaves storing" },
  ],
  refresh: [
    { key: "token", title: "Update-mode link token", states: ["creating_workflow", "waiting_for_token"], desc: "Cybrid creates a link token for this account" },
    { key: "plaid", title: "Plaid Link (update mode)", states: ["link_open"], desc: "The customer signs in to the bank again" },
    { key: "patch", title: "Mark connection renewed", states: ["updating_account"], desc: "PATCH the account's state to completed" },
  ],
};

const order = ["creating_workflow", "waiting_for_token", "link_open", "creating_account", "waiting_for_account", "updating_account"];
let lastActive = null; // state the attempt was in when it ended

// shortTime shows a timestamp compactly in local time: today as HH:MM,
// otherwise as MMM D.
function shortTime(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return d.toTimeString().slice(0, 5);
  return d.toLocaleDateString(undefined, { month: "short", day: "numeric" });
}

function elapsed(since) {
  const s = Math.max(0, (Date.now() - new Date(since).getTime()) / 1000);
  return s < 60 ? s.toFixed(1) + " s" : Math.floor(s / 60) + " min " + Math.floor(s % 60) + " s";
}

function renderAttempt() {
  const box = $('[data-testid="attempt"]');
  const a = state.attempt;
  if (!a) return;
  const final = ["done", "failed", "exited"].includes(a.state);
  if (!final) lastActive = a.state;
  const cur = final ? lastActive : a.state;
  const curIdx = order.indexOf(cur);
  const steps = el("ol", { class: "steps", "data-testid": "steps", "data-state": a.state });
  for (const [i, s] of stepDefs[a.kind].entries()) {
    const idx = Math.max(...s.states.map((x) => order.indexOf(x)));
    const active = s.states.includes(cur);
    let cls = "", mark = String(i + 1), right = "";
    if (active && !final) {
      cls = "active";
      mark = el("span", { class: "spinner" });
      right = elapsed(a.state_since) + (a.polls && (cur === "waiting_for_token" || cur === "waiting_for_account") ? ` · ${a.polls} polls` : "");
    } else if (active && final) {
      cls = a.state === "done" ? "ok" : "bad";
      mark = a.state === "done" ? "✓" : "✕";
    } else if (idx < curIdx || (final && a.state === "done")) {
      cls = "ok";
      mark = "✓";
    }
    let desc = s.desc;
    if (s.key === "plaid" && active && !final) desc = "Waiting for the customer in Plaid Link";
    steps.append(el("li", { class: cls, "data-testid": "step-" + s.key, "data-status": cls || "pending" },
      el("span", { class: "mark" }, mark), el("div", {}, el("div", { class: "t", text: s.title }), el("div", { class: "d", text: desc })), el("span", { class: "el", "data-testid": active ? "elapsed" : null, text: right })));
  }
  const parts = [steps];
  if (final) parts.push(resultCard(a));
  else parts.push(el("div", { class: "result-actions" }, el("button", { "data-testid": "cancel-attempt", text: "Cancel", onclick: () => rpc("cancel", { attempt_id: a.id }).catch((e) => addActivity(e.message, true)) })));
  box.replaceChildren(...parts);
}

function resultCard(a) {
  let cls = "exit", head = "Not linked", body = a.error || "";
  if (a.state === "done") {
    cls = "ok";
    const acct = a.account || {};
    if (acct.state === "unverified") {
      head = a.kind === "refresh" ? "Connection renewed — ownership verification pending" : "Linked — ownership verification pending";
      body = `${acct.name} (•••• ${acct.mask || "?"}) is linked as ${acct.guid}. Cybrid still needs bank-account ownership verification before it can be used.`;
    } else {
      head = a.kind === "refresh" ? "Connection renewed" : "Account linked";
      body = `${acct.name || "The account"} (•••• ${acct.mask || "?"}) is ${stateLabels[acct.state] || acct.state}: ${acct.guid}.`;
    }
  } else if (a.state === "failed") {
    cls = "bad";
    head = a.kind === "refresh" ? "Refresh failed" : "Linking failed";
  } else if (a.state === "exited") {
    head = "Left Plaid Link — nothing linked";
  }
  let again = null;
  if (a.kind === "link") again = el("button", { "data-testid": "try-again", text: a.state === "done" ? "Link another account" : "Link again", onclick: startLink });
  else if (a.state !== "done") again = el("button", { "data-testid": "try-again", text: "Refresh again", onclick: () => startRefresh({ guid: a.account_guid }) });
  return el("div", { class: "result " + cls, "data-testid": "result", "data-result": a.state },
    el("div", { class: "h", "data-testid": "result-title", text: head }),
    el("div", { "data-testid": "result-text", text: body }),
    a.code ? el("div", { class: "sub", "data-testid": "result-code", text: "code: " + a.code }) : null,
    again ? el("div", { class: "actions" }, again) : null);
}

function addActivity(text, warn = false, time = new Date()) {
  state.activity.unshift({ text, warn, time });
  state.activity.length = Math.min(state.activity.length, 200);
  const ol = $('[data-testid="activity"]');
  ol.prepend(el("li", { class: warn ? "warn" : "" }, el("time", { text: time.toTimeString().slice(0, 8) }), el("span", { text })));
  while (ol.children.length > 200) ol.lastChild.remove();
}

// ---- actions ------------------------------------------------------------
async function loadCustomers() {
  try {
    const p = await rpc("listCustomers", { page: state.page, per_page: state.perPage });
    state.customers = p.customers;
    state.total = p.total;
    renderCustomers();
  } catch (e) {
    showBanner("Customers could not be loaded: " + e.message);
  }
}

async function loadAccounts() {
  if (!state.customer) return;
  const guid = state.customer.guid;
  try {
    const list = await rpc("listAccounts", { customer_guid: guid });
    if (!state.customer || state.customer.guid !== guid) return;
    state.accounts = list;
    renderAccounts();
    scheduleAccountRefresh();
  } catch (e) {
    addActivity("Accounts could not be loaded: " + e.message, true);
  }
}

let accountTimer = null;
function scheduleAccountRefresh() {
  clearTimeout(accountTimer);
  if (state.accounts.some((a) => a.state === "storing" || a.state === "deleting")) accountTimer = setTimeout(loadAccounts, 1500);
}

function selectCustomer(c) {
  if (state.attempt && !["done", "failed", "exited"].includes(state.attempt.state) && state.customer && state.customer.guid !== c.guid) {
    addActivity("Finish or cancel the current attempt before switching customers.", true);
    return;
  }
  state.customer = c;
  state.accounts = [];
  $('[data-testid="no-customer"]').hidden = true;
  $('[data-testid="customer"]').hidden = false;
  $('[data-testid="customer-name"]').textContent = c.name || "(no name)";
  $('[data-testid="customer-guid"]').textContent = c.guid;
  const st = $('[data-testid="customer-state"]');
  st.textContent = c.state;
  st.className = "chip " + c.state;
  renderCustomers();
  renderAccounts();
  loadAccounts();
}

async function startLink() {
  if (!state.customer) return;
  try {
    const a = await rpc("startLink", { customer_guid: state.customer.guid });
    onAttempt(a);
  } catch (e) {
    addActivity("Could not start: " + e.message, true);
  }
}

async function startRefresh(acct) {
  if (!state.customer) return;
  try {
    const a = await rpc("startRefresh", { customer_guid: state.customer.guid, account_guid: acct.guid });
    onAttempt(a);
  } catch (e) {
    addActivity("Could not start: " + e.message, true);
  }
}

function onAttempt(a) {
  if (state.attempt && state.attempt.id === a.id && a.updated_at < state.attempt.updated_at) return; // stale
  state.attempt = a;
  const running = !["done", "failed", "exited"].includes(a.state);
  $('[data-testid="link-account"]').disabled = running;
  $('[data-testid="attempt-empty"]')?.remove();
  if (a.state === "link_open" && a.link_token) openPlaid(a);
  if (!running) {
    if (plaidAttempt === a.id && a.state !== "done") destroyPlaid();
    loadAccounts();
  }
  if (a.state === "waiting_for_account" || a.state === "done") loadAccounts();
  renderAttempt();
}

listeners.push((msg) => {
  if (msg.type === "oauth_redirect") {
    const a = state.attempt;
    if (a && a.state === "link_open" && a.link_token) openPlaid(a, msg.url);
    else addActivity("The bank sent the customer back, but no Link is open to resume.", true);
    return;
  }
  if (msg.type !== "attempt") return;
  if (msg.event && msg.event.type !== "poll") addActivity(msg.event.message, msg.attempt.state === "failed", new Date(msg.event.time));
  onAttempt(msg.attempt);
});

// ---- start --------------------------------------------------------------
setInterval(() => {
  const a = state.attempt;
  if (a && !["done", "failed", "exited"].includes(a.state)) {
    const e = $('[data-testid="elapsed"]');
    if (e) e.textContent = elapsed(a.state_since) + (a.polls && (a.state === "waiting_for_token" || a.state === "waiting_for_account") ? ` · ${a.polls} polls` : "");
  }
}, 100);

$('[data-testid="link-account"]').addEventListener("click", startLink);
$('[data-testid="accounts-reload"]').addEventListener("click", loadAccounts);
$('[data-testid="customers-reload"]').addEventListener("click", loadCustomers);
$('[data-testid="page-prev"]').addEventListener("click", () => { if (state.page > 0) { state.page--; loadCustomers(); } });
$('[data-testid="page-next"]').addEventListener("click", () => { state.page++; loadCustomers(); });
$('[data-testid="customer-search"]').addEventListener("input", (e) => { state.filter = e.target.value; renderCustomers(); });
document.addEventListener("contextmenu", (e) => e.preventDefault());

(async () => {
  try {
    state.info = await rpc("info");
    renderInfo();
  } catch (e) {
    showBanner("linkdesk could not start: " + e.message);
    return;
  }
  loadPlaid().catch((e) => showBanner(e.message));
  await loadCustomers();
  document.body.dataset.ready = "true";
})();
