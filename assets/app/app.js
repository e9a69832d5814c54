// linkdesk's page. Go owns the state: this page sends intents to Go (calls
// named in contract.js) and renders the snapshots Go returns and pushes. It
// keeps no business state of its own beyond what it shows: the attempt panel
// shows the selected customer's own latest attempt, as Go reports it.

import { call, onPush, PUSH } from "./contract.js";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
const tid = (id) => $(`[data-testid="${id}"]`);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined && kid !== false) e.append(kid);
  return e;
};

const config = JSON.parse($('meta[name="linkdesk-config"]').content || "{}");

// ---- state --------------------------------------------------------------
const FINAL = ["done", "failed", "exited"];
const state = {
  info: null,
  page: 0,
  perPage: 25,
  total: 0,
  customers: [],
  searching: null, // {query, result} while a search is shown
  customer: null,
  accounts: [],
  attempt: null, // the selected customer's latest attempt, as Go last reported it
  tab: "activity",
  names: new Map(), // customer GUID → name, from the lists shown
};
// running: the selected customer's attempt has not ended.
const running = () => state.attempt && !FINAL.includes(state.attempt.state);
const nameOf = (guid) => state.names.get(guid) || guid;

// ---- Plaid Link ---------------------------------------------------------
let plaidScript = null;
let plaidHandler = null;
let plaidAttempt = null;
// The number of the last Plaid callback forwarded, per attempt: Go applies
// an attempt's callbacks in this order, whatever order they reach it in.
const plaidSeq = new Map();

function loadPlaid() {
  if (!plaidScript) {
    plaidScript = new Promise((resolve, reject) => {
      if (window.Plaid) return resolve(window.Plaid);
      const s = el("script", { src: config.plaid_script_url, async: true });
      s.addEventListener("load", () => (window.Plaid ? resolve(window.Plaid) : reject(new Error("the Plaid script loaded but defined no Plaid object"))));
      s.addEventListener("error", () => reject(new Error(`Plaid Link could not be loaded from ${config.plaid_script_url}. Check the network connection, then try again.`)));
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

// openPlaid creates Link for the attempt and opens it once loaded — only for
// the selected customer's attempt. With receivedRedirectUri (the OAuth
// redirect return) it re-creates Link with the same link token, as Plaid
// requires, and opens it at once.
async function openPlaid(attempt, receivedRedirectUri) {
  if (!state.customer || attempt.customer_guid !== state.customer.guid) return;
  if (plaidAttempt === attempt.id && !receivedRedirectUri) return;
  destroyPlaid();
  plaidAttempt = attempt.id;
  const id = attempt.id;
  let Plaid;
  try {
    Plaid = await loadPlaid();
  } catch (e) {
    showBanner(e.message);
    call("cancel", { attempt_id: id }).catch(() => {});
    return;
  }
  if (plaidAttempt !== id) return;
  // Each callback is numbered when Link delivers it, then sent at once.
  const forward = (method, params) => {
    const seq = Math.max(plaidSeq.get(id) || 0, attempt.plaid_seq || 0) + 1;
    plaidSeq.set(id, seq);
    call(method, { attempt_id: id, seq, at: Date.now(), ...params }).catch((e) => addActivity(`${method}: ${e.message}`, true));
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

// ---- small UI parts -----------------------------------------------------
function showBanner(text, cls = "") {
  const b = tid("banner");
  b.textContent = text;
  b.className = "banner " + cls;
  b.hidden = !text;
}

// ask shows a modal dialog; resolves true for OK. Cancel (or Esc) changes
// nothing.
function ask(title, body, okText = "OK", danger = false) {
  const d = tid("dialog");
  tid("dialog-title").textContent = title;
  const b = tid("dialog-body");
  b.replaceChildren(...(Array.isArray(body) ? body : [typeof body === "string" ? el("p", { text: body }) : body]));
  const ok = tid("dialog-ok");
  ok.textContent = okText;
  ok.className = danger ? "primary danger" : "primary";
  d.returnValue = "cancel";
  d.showModal();
  tid("dialog-cancel").focus();
  return new Promise((resolve) => d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true }));
}

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

// ---- environment --------------------------------------------------------
function renderInfo() {
  const i = state.info;
  for (const b of $$("[data-env]")) b.setAttribute("aria-checked", String(b.dataset.env === i.environment));
  const badge = tid("env-badge");
  badge.textContent = i.environment === "sim" ? "SIMULATOR" : i.environment.toUpperCase();
  badge.className = "env " + i.environment;
  const bits = [];
  if (i.bank_guid) bits.push("bank " + i.bank_guid);
  bits.push("credentials: " + i.credentials);
  tid("env-meta").textContent = bits.join(" · ");
  tid("version").textContent = "linkdesk " + i.version;
  document.title = `linkdesk — ${i.environment}`;
  tid("prod-banner").hidden = i.environment !== "production";
  tid("scenario-box").hidden = i.environment !== "sim";
  const needs = !!i.needs_credentials;
  tid("firstrun").hidden = !needs;
  tid("main").classList.toggle("needs-credentials", needs);
  if (needs) {
    tid("no-customer").hidden = true;
    tid("customer").hidden = true;
    tid("firstrun-env").textContent = i.environment;
    tid("firstrun-env2").textContent = i.environment;
    setTimeout(() => tid("firstrun-client-id").focus(), 0);
  }
  renderHint();
}

function renderHint() {
  const h = tid("sandbox-hint");
  const i = state.info;
  if (!i || i.environment !== "sandbox") { h.hidden = true; return; }
  h.replaceChildren(
    el("div", {}, el("b", { text: "Plaid sandbox: " }), "sign in with ", el("code", { text: "user_good" }), " / ", el("code", { text: "pass_good" }),
      " (MFA code ", el("code", { text: "1234" }), "). OAuth: choose ", el("b", { text: "Platypus OAuth Bank" }), " (ins_127287), any credentials."),
    el("div", {}, el("b", { text: "Redirect URI: " }), i.redirect_uri ? el("code", { text: i.redirect_uri }) : "none configured (OAuth banks then work only in the pop-up)",
      ". Each redirect URI must be registered with Cybrid for each environment."));
  h.hidden = false;
}

async function switchEnv(env) {
  if (state.info && env === state.info.environment && !state.info.needs_credentials) return;
  const busy = await call("runningAttempts", {}).catch(() => []);
  if (busy.length && !(await ask("Switch environment?", `${busy.length === 1 ? "An attempt is" : busy.length + " attempts are"} still running (${busy.map((a) => nameOf(a.customer_guid)).join(", ")}). Switching cancels ${busy.length === 1 ? "it" : "them"}; nothing already linked is lost. The timeline starts afresh in the new environment: export it first if you need it.`, "Switch and cancel"))) return;
  if (env === "production" && !(await ask("Switch to PRODUCTION?", "Production works with real customers and real money movement.", "Switch to production", true))) return;
  try {
    state.info = await call("switchEnvironment", { environment: env });
    // A new environment has its own Plaid origin and page policy: reload.
    location.reload();
  } catch (e) {
    showBanner("Could not switch to " + env + ": " + e.message);
  }
}

// ---- customers ----------------------------------------------------------
let focusIndex = 0;

function shownCustomers() {
  return state.searching ? state.searching.result.customers : state.customers;
}

function renderCustomers() {
  const list = tid("customer-list");
  list.replaceChildren();
  const rows = shownCustomers();
  for (const c of rows) state.names.set(c.guid, c.name || "(no name)");
  rows.forEach((c, i) => {
    const selected = state.customer && state.customer.guid === c.guid;
    list.append(el("li", {
      role: "option", tabindex: i === focusIndex ? "0" : "-1", "aria-selected": selected ? "true" : "false", "data-testid": "customer-row", "data-guid": c.guid,
      onclick: () => { focusIndex = i; selectCustomer(c); },
    }, el("span", { class: "name", text: c.name || "(no name)" }), el("span", { class: "chip " + c.state, text: c.state }), el("span", { class: "g", text: c.guid })));
  });
  if (!rows.length) list.append(el("li", { class: "muted", "data-testid": "customers-none", text: state.searching ? "No customer matches." : "No customers." }));
  const note = tid("search-note");
  if (state.searching) {
    const r = state.searching.result;
    note.textContent = `${r.customers.length} match${r.customers.length === 1 ? "" : "es"} for “${state.searching.query}”` + (r.scanned < r.total ? ` (searched the newest ${r.scanned} of ${r.total})` : "") + " — Esc clears";
    note.hidden = false;
    tid("customer-pager").hidden = true;
  } else {
    note.hidden = true;
    tid("customer-pager").hidden = false;
    const from = state.total ? state.page * state.perPage + 1 : 0;
    const to = Math.min(state.total, (state.page + 1) * state.perPage);
    tid("page-info").textContent = `${from}–${to} of ${state.total}`;
    tid("page-prev").disabled = state.page === 0;
    tid("page-next").disabled = to >= state.total;
  }
}

function focusRow(i) {
  const rows = $$('[data-testid="customer-row"]');
  if (!rows.length) return;
  focusIndex = Math.max(0, Math.min(rows.length - 1, i));
  rows.forEach((r, j) => r.setAttribute("tabindex", j === focusIndex ? "0" : "-1"));
  rows[focusIndex].focus();
  rows[focusIndex].scrollIntoView({ block: "nearest" });
}

async function loadCustomers() {
  try {
    const p = await call("listCustomers", { page: state.page, per_page: state.perPage });
    state.customers = p.customers;
    state.total = p.total;
    renderCustomers();
  } catch (e) {
    showBanner("Customers could not be loaded: " + e.message);
  }
}

async function search(query) {
  query = query.trim();
  if (!query) { clearSearch(); return; }
  tid("search-note").hidden = false;
  tid("search-note").replaceChildren(el("span", { class: "spinner" }), " Searching…");
  try {
    const result = await call("searchCustomers", { query });
    state.searching = { query, result };
    focusIndex = 0;
    renderCustomers();
  } catch (e) {
    tid("search-note").textContent = e.message;
  }
}

function clearSearch() {
  state.searching = null;
  tid("customer-search").value = "";
  renderCustomers();
}

// ---- accounts -----------------------------------------------------------
const stateLabels = {
  storing: "Storing", completed: "Connected", unverified: "Unverified", failed: "Failed",
  refresh_required: "Refresh required", deleting: "Disconnecting", deleted: "Disconnected",
};

function renderAccounts() {
  const body = tid("account-rows");
  body.replaceChildren();
  for (const a of state.accounts) {
    const busy = a.state === "storing" || a.state === "deleting";
    const actions = el("td", { class: "actions" });
    const idle = !running();
    if (a.state === "refresh_required") actions.append(el("button", { "data-testid": "refresh-account", "data-guid": a.guid, disabled: !idle, text: "Refresh connection", onclick: () => startRefresh(a.customer_guid, a.guid) }));
    if (a.state === "unverified") actions.append(el("button", { "data-testid": "verify-account", "data-guid": a.guid, disabled: !idle, text: "Verify ownership", onclick: () => startVerify(a.customer_guid, a.guid) }));
    if (!["deleting", "deleted", "storing"].includes(a.state)) actions.append(el("button", { class: "danger", "data-testid": "unlink-account", "data-guid": a.guid, text: "Unlink…", onclick: () => unlink(a) }));
    body.append(el("tr", { tabindex: "-1", "data-testid": "account-row", "data-guid": a.guid, "data-state": a.state, class: state.attempt && state.attempt.account_guid === a.guid && state.attempt.state === "done" ? "fresh" : "" },
      el("td", {}, el("div", { text: a.name }), el("div", { class: "sub", text: a.guid })),
      el("td", {}, el("div", { text: a.institution_id || "—" }), el("div", { class: "sub", text: a.mask ? "•••• " + a.mask : "" })),
      el("td", {}, el("span", { class: "chip " + a.state, "data-testid": "account-state", title: a.failure_code ? "failure code: " + a.failure_code : "" }, busy ? el("span", { class: "spinner" }) : null, stateLabels[a.state] || a.state),
        a.failure_code ? el("div", { class: "sub", "data-testid": "account-failure", text: a.failure_code }) : null),
      el("td", { class: "when", title: a.created_at, text: shortTime(a.created_at) }),
      actions));
  }
  tid("accounts-empty").hidden = state.accounts.length > 0;
}

let accountTimer = null;
let accountsLoading = false;
async function loadAccounts() {
  if (!state.customer) return;
  const guid = state.customer.guid;
  if (!state.accounts.length) tid("accounts-loading").hidden = false;
  accountsLoading = true;
  try {
    const list = await call("listAccounts", { customer_guid: guid });
    if (!state.customer || state.customer.guid !== guid) return;
    state.accounts = list;
    renderAccounts();
  } catch (e) {
    addActivity("Accounts could not be loaded: " + e.message, true);
  } finally {
    accountsLoading = false;
    tid("accounts-loading").hidden = true;
  }
  clearTimeout(accountTimer);
  // A live list: while something is in motion, look again soon.
  if (state.accounts.some((a) => a.state === "storing" || a.state === "deleting")) accountTimer = setTimeout(loadAccounts, 1200);
}

async function unlink(a) {
  const ok = await ask("Unlink this bank account?", [
    el("p", { text: `${a.name} (•••• ${a.mask || "?"}) will be deleted at Cybrid. The customer must link it again through Plaid to use it.` }),
    el("p", { class: "muted small", text: a.guid }),
  ], "Unlink", true);
  if (!ok) return;
  try {
    const r = await call("unlinkAccount", { customer_guid: a.customer_guid, account_guid: a.guid });
    addActivity(`Unlinking ${a.name} (${r.state})`);
    loadAccounts();
  } catch (e) {
    addActivity("Unlink failed: " + e.message, true);
    ask("Unlink failed", e.message, "OK");
  }
}

// ---- attempt ------------------------------------------------------------
const stepDefs = {
  link: [
    { key: "token", title: "Link token", states: ["creating_workflow", "waiting_for_token"], desc: "Cybrid creates a Plaid link token (workflow)" },
    { key: "plaid", title: "Plaid Link", states: ["link_open"], desc: "The customer signs in to the bank and picks one account" },
    { key: "create", title: "Create account", states: ["creating_account", "account_retry"], desc: "POST /api/external_bank_accounts" },
    { key: "store", title: "Cybrid stores the account", states: ["waiting_for_account"], desc: "Until the account leaves storing" },
  ],
  refresh: [
    { key: "token", title: "Update-mode link token", states: ["creating_workflow", "waiting_for_token"], desc: "Cybrid creates a link token for this account" },
    { key: "plaid", title: "Plaid Link (update mode)", states: ["link_open"], desc: "The customer signs in to the bank again" },
    { key: "patch", title: "Mark connection renewed", states: ["updating_account"], desc: "PATCH the account's state to completed" },
  ],
  verify: [
    { key: "create", title: "Start verification", states: ["creating_verification"], desc: "Identity verification: bank_account, account_ownership" },
    { key: "wait", title: "Cybrid verifies ownership", states: ["waiting_for_verification"], desc: "Until the verification completes" },
  ],
};
const order = ["creating_workflow", "waiting_for_token", "link_open", "creating_account", "account_retry", "waiting_for_account", "updating_account", "creating_verification", "waiting_for_verification"];
const polling = ["waiting_for_token", "waiting_for_account", "waiting_for_verification"];
let lastActive = null;

function renderAttempt() {
  const box = tid("attempt");
  const a = state.attempt;
  if (!a) {
    box.replaceChildren(el("div", { class: "muted", "data-testid": "attempt-empty", text: "No attempt for this customer yet. “Link bank account” starts one; “Refresh connection” re-links an expired one." }));
    return;
  }
  const final = FINAL.includes(a.state);
  if (!final) lastActive = a.state;
  const cur = final ? lastActive : a.state;
  const curIdx = order.indexOf(cur);
  const steps = el("ol", { class: "steps", "data-testid": "steps", "data-state": a.state, "data-kind": a.kind });
  for (const [i, s] of (stepDefs[a.kind] || []).entries()) {
    const idx = Math.max(...s.states.map((x) => order.indexOf(x)));
    const active = s.states.includes(cur);
    let cls = "", mark = String(i + 1), right = "";
    if (active && !final) {
      cls = "active";
      mark = el("span", { class: "spinner" });
      right = elapsed(a.state_since) + (a.polls && polling.includes(cur) ? ` · ${a.polls} polls` : "");
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
      el("span", { class: "mark" }, mark), el("div", {}, el("div", { class: "t", text: s.title }), el("div", { class: "d", text: desc })), el("span", { class: "el", "data-testid": active && !final ? "elapsed" : null, text: right })));
  }
  const parts = [steps];
  const cancel = el("button", { "data-testid": "cancel-attempt", text: "Cancel", onclick: () => call("cancel", { attempt_id: a.id }).catch((e) => addActivity(e.message, true)) });
  if (final) parts.push(resultCard(a));
  else if (a.state === "account_retry") {
    // The account POST failed and Cybrid shows no account from it: the
    // customer need not go through Link again while the public token lives.
    parts.push(el("div", { class: "result bad", "data-testid": "retry-box", role: "status" },
      el("div", { class: "h", text: "The account was not created yet" }),
      el("div", { "data-testid": "retry-text", text: a.error || "" }),
      el("div", { class: "actions" },
        el("button", { class: "primary", "data-testid": "retry-account", text: "Retry account creation", onclick: () => call("retryAccount", { attempt_id: a.id }).then(onAttempt, (e) => addActivity("Retry failed: " + e.message, true)) }),
        cancel)));
  } else parts.push(el("div", { class: "result-actions" }, cancel));
  box.replaceChildren(...parts);
}

function resultCard(a) {
  let cls = "exit", head = "Not linked", body = a.error || "";
  const acct = a.account || {};
  if (a.state === "done") {
    cls = "ok";
    const what = `${acct.name || "The account"} (•••• ${acct.mask || "?"})`;
    if (a.kind === "verify") {
      head = acct.state === "completed" ? "Ownership verified — account ready" : "Verification finished";
      body = `${what} is ${stateLabels[acct.state] || acct.state}.`;
    } else if (acct.state === "unverified") {
      head = a.kind === "refresh" ? "Connection renewed — ownership verification pending" : "Linked — ownership verification pending";
      body = `${what} is linked as ${acct.guid}. Cybrid still needs bank-account ownership verification before it can be used: use “Verify ownership”.`;
    } else {
      head = a.kind === "refresh" ? "Connection renewed" : "Account linked";
      body = `${what} is ${stateLabels[acct.state] || acct.state}: ${acct.guid}.`;
    }
  } else if (a.state === "failed") {
    cls = "bad";
    head = { refresh: "Refresh failed", verify: "Verification failed", link: "Linking failed" }[a.kind];
  } else if (a.state === "exited") {
    head = a.kind === "refresh" ? "Left Plaid Link — connection not renewed" : "Left Plaid Link — nothing linked";
  }
  if (a.state === "done" && (acct.state === "deleting" || acct.state === "deleted")) {
    // Unlinked since: the card must not go on saying "ready".
    cls = "exit";
    head = "Unlinked since";
    body = `${acct.name || "The account"} (•••• ${acct.mask || "?"}) ${acct.guid} was linked by this attempt and has since been unlinked (${stateLabels[acct.state] || acct.state}).`;
  }
  // Every button acts on this attempt's own customer and account.
  let again = null;
  const gone = acct.state === "deleting" || acct.state === "deleted";
  if (a.kind === "link") again = el("button", { "data-testid": "try-again", text: a.state === "done" && !gone ? "Link another account" : "Link again", onclick: () => startLink(a.customer_guid) });
  else if (a.state !== "done" && a.kind === "refresh") again = el("button", { "data-testid": "try-again", text: "Refresh again", onclick: () => startRefresh(a.customer_guid, a.account_guid) });
  else if (a.state !== "done" && a.kind === "verify") again = el("button", { "data-testid": "try-again", text: "Verify again", onclick: () => startVerify(a.customer_guid, a.account_guid) });
  if (a.state === "done" && acct.state === "unverified" && a.kind !== "verify") {
    const v = el("button", { "data-testid": "verify-now", text: "Verify ownership", onclick: () => startVerify(a.customer_guid, acct.guid) });
    again = again ? [again, v] : v;
  }
  return el("div", { class: "result " + cls, "data-testid": "result", "data-result": a.state, "data-customer": a.customer_guid, role: "status" },
    el("div", { class: "h", "data-testid": "result-title", text: head }),
    el("div", { "data-testid": "result-text", text: body }),
    a.code ? el("div", { class: "sub", "data-testid": "result-code", text: "code: " + a.code }) : null,
    again ? el("div", { class: "actions" }, again) : null);
}

// addActivity adds a line to the Activity tab. A line about a customer
// (customerGUID) is shown while that customer is on screen, or as news when
// it happens; opening another customer hides it.
function addActivity(text, warn = false, time = new Date(), customerGUID = state.customer ? state.customer.guid : "") {
  const ol = tid("activity");
  ol.prepend(el("li", { class: warn ? "warn" : "", "data-customer": customerGUID || "" }, el("time", { text: time.toTimeString().slice(0, 8) }), el("span", { text })));
  while (ol.children.length > 300) ol.lastChild.remove();
}

function showActivityOf(customerGUID) {
  for (const li of tid("activity").children) li.hidden = !!li.dataset.customer && li.dataset.customer !== customerGUID;
}

// selectCustomer shows customer c: their accounts and their own latest
// attempt (Go's), or none. An attempt of the customer left goes on in Go;
// its Link opens when the operator comes back to that customer.
async function selectCustomer(c) {
  const same = state.customer && state.customer.guid === c.guid;
  state.customer = c;
  state.names.set(c.guid, c.name || "(no name)");
  tid("no-customer").hidden = true;
  tid("customer").hidden = false;
  tid("customer-name").textContent = c.name || "(no name)";
  tid("customer-guid").textContent = c.guid;
  const st = tid("customer-state");
  st.textContent = c.state;
  st.className = "chip " + c.state;
  renderCustomers();
  if (same) return;
  if (plaidAttempt && plaidHandler && (!state.attempt || state.attempt.id !== plaidAttempt || state.attempt.customer_guid !== c.guid)) destroyPlaid();
  state.accounts = [];
  state.attempt = null;
  lastActive = null;
  showActivityOf(c.guid);
  tid("link-account").disabled = false;
  renderAttempt();
  renderAccounts();
  loadAccounts();
  if (state.tab === "timeline") loadTimeline();
  try {
    const a = await call("currentAttempt", { customer_guid: c.guid });
    if (a) onAttempt(a);
  } catch (e) {
    addActivity("The customer's attempt could not be loaded: " + e.message, true);
  }
  hideElsewhere(c.guid);
}

// start asks Go to start an attempt for customerGUID (the customer on
// screen, or the one an attempt or a row belongs to).
async function start(method, customerGUID, params = {}) {
  if (!customerGUID) return;
  if (state.info && state.info.environment === "sim") loadScenarios();
  try {
    const a = await call(method, { customer_guid: customerGUID, ...params });
    if (!onAttempt(a)) addActivity(`Started for ${nameOf(a.customer_guid)}.`, false, new Date(), a.customer_guid);
  } catch (e) {
    addActivity("Could not start: " + e.message, true);
  }
}
const startLink = (customerGUID = state.customer && state.customer.guid) => start("startLink", customerGUID);
const startRefresh = (customerGUID, accountGUID) => start("startRefresh", customerGUID, { account_guid: accountGUID });
const startVerify = (customerGUID, accountGUID) => start("verifyAccount", customerGUID, { account_guid: accountGUID });

// onAttempt renders a's snapshot if it is the selected customer's latest
// attempt; it reports whether it did. Older snapshots (a lower rev) and
// attempts of other customers change nothing on screen.
function onAttempt(a) {
  if (!state.customer || a.customer_guid !== state.customer.guid) return false;
  const cur = state.attempt;
  if (cur && cur.id === a.id && a.rev <= cur.rev) return true; // stale
  if (cur && cur.id !== a.id && a.started_at < cur.started_at) return false; // an older attempt of this customer
  state.attempt = a;
  tid("link-account").disabled = running();
  if (a.state === "link_open" && a.link_token) openPlaid(a);
  if (FINAL.includes(a.state)) {
    if (plaidAttempt === a.id && a.state !== "done") destroyPlaid();
    loadAccounts();
    // One-shot scenarios reset themselves once used: show what is active.
    if (state.info && state.info.environment === "sim") loadScenarios();
  }
  if (a.state === "waiting_for_account") loadAccounts();
  renderAttempt();
  renderAccounts();
  if (state.tab === "timeline") scheduleTimeline();
  return true;
}

// Another customer's Link is ready while this one is on screen: say so, with
// a way back. Link opens only for the customer on screen.
function showElsewhere(a) {
  const box = tid("elsewhere");
  box.dataset.customer = a.customer_guid;
  box.replaceChildren(el("span", { text: `Plaid Link is ready for ${nameOf(a.customer_guid)}. ` }),
    el("button", { class: "small primary", "data-testid": "elsewhere-open", text: `Open ${nameOf(a.customer_guid)}`, onclick: () => openCustomerByGUID(a.customer_guid) }));
  box.hidden = false;
}

function hideElsewhere(customerGUID) {
  const box = tid("elsewhere");
  if (!customerGUID || box.dataset.customer === customerGUID) box.hidden = true;
}

// ---- timeline & export --------------------------------------------------
let timelineTimer = null;
function scheduleTimeline() {
  clearTimeout(timelineTimer);
  timelineTimer = setTimeout(loadTimeline, 250);
}

async function loadTimeline() {
  const ol = tid("timeline");
  let entries;
  try {
    entries = await call("timeline", { attempt_id: state.attempt ? state.attempt.id : "", since: 0 });
  } catch (e) {
    ol.replaceChildren(el("li", { class: "bad", text: "The timeline could not be loaded: " + e.message }));
    return;
  }
  const list = Array.isArray(entries) ? entries : (entries && entries.entries) || [];
  ol.replaceChildren(...list.slice().reverse().map((e) => {
    const data = e.data && Object.keys(e.data).length ? Object.entries(e.data).filter(([, v]) => v !== null && v !== "").map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ") : "";
    const bad = e.kind === "api" && e.data && e.data.status >= 400;
    return el("li", { "data-testid": "timeline-entry", "data-kind": e.kind },
      el("time", { text: new Date(e.time).toTimeString().slice(0, 8) + "." + String(new Date(e.time).getMilliseconds()).padStart(3, "0") }),
      el("span", { class: "k " + e.kind, text: e.kind.replace("plaid_", "plaid ") }),
      el("span", { class: bad ? "bad" : "", text: e.message }),
      data ? el("span", { class: "data", text: data }) : null);
  }));
  if (!list.length) ol.append(el("li", { class: "muted", text: "Nothing recorded yet." }));
}

function setTab(tab) {
  state.tab = tab;
  for (const b of $$('[role="tab"]')) b.setAttribute("aria-selected", String(b.dataset.tab === tab));
  tid("activity").hidden = tab !== "activity";
  tid("timeline").hidden = tab !== "timeline";
  if (tab === "timeline") loadTimeline();
}

async function exportAs(method, params) {
  const note = tid("export-note");
  note.hidden = false;
  note.replaceChildren(el("span", { class: "spinner" }), " Exporting…");
  try {
    const r = await call(method, { format: "both", ...params });
    const paths = (r && (r.paths || [r.jsonl, r.html].filter(Boolean))) || [];
    note.replaceChildren("Saved ", ...paths.flatMap((p, i) => [i ? " and " : "", el("code", { "data-testid": "export-path", text: p })]), " ",
      el("button", { class: "small", "data-testid": "open-export-folder", text: "Open folder", onclick: () => call("openExportFolder", {}).catch((e) => addActivity(e.message, true)) }));
  } catch (e) {
    note.textContent = "Export failed: " + e.message;
  }
}

// ---- scenarios (simulator) ----------------------------------------------
async function loadScenarios() {
  const sel = tid("scenario-select");
  try {
    const r = await call("scenarios", {});
    sel.replaceChildren(...r.scenarios.map((s) => el("option", { value: s.id, title: s.description, selected: s.id === r.active }, s.title + (s.kind === "guide" ? " (how-to)" : ""))));
    sel.dataset.active = r.active || "";
    sel._scenarios = r.scenarios;
  } catch (e) {
    tid("scenario-box").hidden = true;
  }
}

async function applyScenario(id) {
  const sel = tid("scenario-select");
  const s = (sel._scenarios || []).find((x) => x.id === id);
  try {
    await call("applyScenario", { id, customer_guid: state.customer ? state.customer.guid : "" });
    if (id === "connection_expired") loadAccounts();
    sel.dataset.active = id;
    if (s) {
      addActivity(`Scenario: ${s.title}${s.how_to ? " — " + s.how_to : ""}`);
      if (s.kind === "guide" || s.how_to) ask(s.title, [el("p", { text: s.description }), s.how_to ? el("p", {}, el("b", { text: "How: " }), s.how_to) : null].filter(Boolean), "OK");
    }
  } catch (e) {
    addActivity("Scenario not applied: " + e.message, true);
    sel.value = sel.dataset.active || "";
  }
}

// ---- interrupted attempts (crash journal) ----------------------------------
async function loadRecovered() {
  try {
    renderRecovered(await call("recovered.list", {}));
  } catch (e) {
    /* no journal in this build or environment */
  }
}

async function openCustomerByGUID(guid) {
  try {
    const r = await call("searchCustomers", { query: guid });
    if (r.customers[0]) await selectCustomer(r.customers[0]);
  } catch (e) {
    addActivity(e.message, true);
  }
}

function renderRecovered(st) {
  renderJournalWarning(st);
  const box = tid("recovered");
  const list = (st && st.attempts) || [];
  if (!st || !st.on || (!list.length && !(st.notes || []).length)) { box.hidden = true; return; }
  const items = list.map((r) => {
    const acts = el("span", { class: "acts" });
    const go = async (fn) => { await openCustomerByGUID(r.customer_guid); fn(); };
    if (r.action === "start_link") acts.append(el("button", { class: "small", "data-testid": "recovered-link", text: "Link again", onclick: () => go(() => startLink(r.customer_guid)) }));
    if (r.action === "start_refresh") acts.append(el("button", { class: "small", "data-testid": "recovered-refresh", text: "Refresh connection", onclick: () => go(() => startRefresh(r.customer_guid, r.account_guid)) }));
    if (r.action === "open_accounts") acts.append(el("button", { class: "small", "data-testid": "recovered-open", text: "Open customer", onclick: () => openCustomerByGUID(r.customer_guid) }));
    if (r.action === "recheck") acts.append(el("button", { class: "small", "data-testid": "recovered-recheck", text: "Check again", onclick: () => call("recovered.recheck", {}).then(loadRecovered, (e) => addActivity(e.message, true)) }));
    acts.append(el("button", { class: "small", "data-testid": "recovered-dismiss", text: "Dismiss", onclick: () => call("recovered.dismiss", { attempt_id: r.attempt_id }).then(loadRecovered, (e) => addActivity(e.message, true)) }));
    return el("li", { "data-testid": "recovered-attempt", "data-outcome": r.outcome },
      el("span", { class: "chip " + (r.outcome === "linked" ? "completed" : r.outcome === "checking" ? "storing" : "failed") }, r.outcome === "checking" ? el("span", { class: "spinner" }) : null, String(r.outcome).replaceAll("_", " ")),
      el("div", {}, el("div", { text: r.message }), el("div", { class: "sub", text: `${r.kind} · customer ${r.customer_guid} · stopped at ${r.step}` })),
      acts);
  });
  // Go lists the newest few and counts the rest by outcome.
  const more = Math.max(0, (st.total || 0) - list.length);
  const groups = (st.older || []).map((g) => `${g.count} ${String(g.outcome).replaceAll("_", " ")}`).join(", ");
  const older = more ? el("div", { class: "muted small", "data-testid": "recovered-older",
    text: `…and ${more} older interrupted attempt${more === 1 ? "" : "s"} not listed${groups ? ` (${groups})` : ""}. Dismiss the ones above to list older ones.` }) : null;
  box.replaceChildren(el("h2", { text: "Interrupted attempts — linkdesk stopped before they finished" }),
    ...(st.notes || []).map((n) => el("div", { class: "muted small", text: n })), el("ul", {}, items), older);
  box.hidden = false;
}

// renderJournalWarning shows, for as long as it lasts, that the crash
// journal cannot write: crash recovery is off, why, that new attempts are
// refused and what to do (Go words it, in st.failing). It clears itself
// when Go reports the journal writes again.
function renderJournalWarning(st) {
  const w = tid("journal-warning");
  const text = (st && st.on && st.failing) || "";
  w.textContent = text;
  w.hidden = !text;
}

// ---- keyboard -----------------------------------------------------------
function showHelp() {
  const rows = [["/", "search customers"], ["↑ ↓", "move in the customer list"], ["Enter", "open the customer"], ["Esc", "clear the search / close a dialog"],
    ["n", "link a new bank account"], ["r", "reload the accounts"], ["j k", "move in the accounts table"], ["t", "timeline / activity"], ["d", "light / dark theme"], ["?", "this help"]];
  ask("Keyboard shortcuts", el("table", {}, ...rows.map(([k, v]) => el("tr", {}, el("td", {}, el("kbd", { text: k })), el("td", { text: v })))), "Close");
}

document.addEventListener("keydown", (e) => {
  if (tid("dialog").open) return;
  const t = e.target;
  const typing = t instanceof HTMLInputElement || t instanceof HTMLSelectElement || t instanceof HTMLTextAreaElement;
  if (e.key === "Escape" && t === tid("customer-search")) { clearSearch(); t.blur(); focusRow(0); return; }
  if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
  const inList = t && t.closest && t.closest('[data-testid="customer-list"]');
  if (e.key === "/") { e.preventDefault(); tid("customer-search").focus(); tid("customer-search").select(); return; }
  if (e.key === "?") { e.preventDefault(); showHelp(); return; }
  if (inList || t === document.body) {
    if (e.key === "ArrowDown") { e.preventDefault(); focusRow(inList ? focusIndex + 1 : focusIndex); return; }
    if (e.key === "ArrowUp") { e.preventDefault(); focusRow(focusIndex - 1); return; }
    if (e.key === "Enter" && inList) { e.preventDefault(); const c = shownCustomers()[focusIndex]; if (c) selectCustomer(c); tid("link-account").focus(); return; }
  }
  if (e.key === "n" && state.customer && !running()) { e.preventDefault(); startLink(state.customer.guid); return; }
  if (e.key === "r" && state.customer) { e.preventDefault(); loadAccounts(); return; }
  if (e.key === "t") { e.preventDefault(); setTab(state.tab === "timeline" ? "activity" : "timeline"); return; }
  if (e.key === "d") { e.preventDefault(); toggleTheme(); return; }
  if (e.key === "j" || e.key === "k") {
    const rows = $$('[data-testid="account-row"]');
    if (!rows.length) return;
    const i = rows.indexOf(t.closest ? t.closest("tr") : null);
    const next = rows[Math.max(0, Math.min(rows.length - 1, i + (e.key === "j" ? 1 : -1)))] || rows[0];
    e.preventDefault();
    (next.querySelector("button") || next).focus();
  }
});

// ---- theme ---------------------------------------------------------------
function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  try { localStorage.setItem("linkdesk-theme", theme); } catch (e) { /* private mode */ }
}
function toggleTheme() { applyTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark"); }
(() => {
  let t = null;
  try { t = localStorage.getItem("linkdesk-theme"); } catch (e) { /* ignore */ }
  applyTheme(t || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
})();

// ---- pushes ---------------------------------------------------------------
onPush((msg) => {
  switch (msg.type) {
    case PUSH.OAUTH_REDIRECT: {
      const a = state.attempt;
      if (a && a.id === msg.attempt_id && a.state === "link_open" && a.link_token) openPlaid(a, msg.url);
      else addActivity("A bank sent its customer back, but that customer's Link is not on screen: open the customer to continue.", true);
      return;
    }
    case PUSH.TIMELINE:
      if (state.tab === "timeline") scheduleTimeline();
      return;
    case PUSH.RECOVERED:
      renderRecovered(msg.status);
      return;
    case PUSH.POPUP:
      return;
    case PUSH.ATTEMPT: {
      const a = msg.attempt;
      const mine = state.customer && a.customer_guid === state.customer.guid;
      if (msg.event && msg.event.type !== "poll") addActivity((mine ? "" : nameOf(a.customer_guid) + ": ") + msg.event.message, a.state === "failed", new Date(msg.event.time), a.customer_guid);
      if (!onAttempt(a) && a.state === "link_open" && msg.event && msg.event.type === "state") showElsewhere(a);
      if (!mine && FINAL.includes(a.state)) hideElsewhere(a.customer_guid);
      return;
    }
  }
});

// ---- wiring ---------------------------------------------------------------
setInterval(() => {
  const a = state.attempt;
  if (a && !FINAL.includes(a.state)) {
    const e = tid("elapsed");
    if (e) e.textContent = elapsed(a.state_since) + (a.polls && polling.includes(a.state) ? ` · ${a.polls} polls` : "");
  }
}, 100);

tid("link-account").addEventListener("click", () => startLink(state.customer && state.customer.guid));
tid("accounts-reload").addEventListener("click", loadAccounts);
tid("customers-reload").addEventListener("click", () => { clearSearch(); loadCustomers(); });
tid("page-prev").addEventListener("click", () => { if (state.page > 0) { state.page--; focusIndex = 0; loadCustomers(); } });
tid("page-next").addEventListener("click", () => { state.page++; focusIndex = 0; loadCustomers(); });
tid("customer-search-form").addEventListener("submit", (e) => { e.preventDefault(); search(tid("customer-search").value).then(() => focusRow(0)); });
tid("customer-search").addEventListener("input", (e) => { if (!e.target.value) clearSearch(); });
for (const b of $$("[data-env]")) b.addEventListener("click", () => switchEnv(b.dataset.env));
for (const b of $$('[role="tab"]')) b.addEventListener("click", () => setTab(b.dataset.tab));
tid("export-attempt").addEventListener("click", () => state.attempt ? exportAs("exportAttempt", { attempt_id: state.attempt.id }) : exportAs("exportSession", {}));
tid("export-session").addEventListener("click", () => exportAs("exportSession", {}));
tid("scenario-select").addEventListener("change", (e) => applyScenario(e.target.value));
tid("theme-toggle").addEventListener("click", toggleTheme);
tid("help-open").addEventListener("click", showHelp);
tid("version").addEventListener("click", () => ask("About linkdesk", [
  el("p", {}, el("b", { text: "linkdesk " + (state.info ? state.info.version : "") })),
  el("p", { text: "Links Cybrid customers' external bank accounts through Plaid Link. Environment: " + (state.info ? state.info.environment : "?") + "." }),
], "Close"));
tid("firstrun-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const id = tid("firstrun-client-id"), sec = tid("firstrun-secret"), err = tid("firstrun-error"), btn = tid("firstrun-save");
  err.hidden = true;
  btn.disabled = true;
  try {
    const info = await call("storeCredentials", { environment: state.info.environment, client_id: id.value.trim(), client_secret: sec.value });
    sec.value = "";
    state.info = info;
    location.reload();
  } catch (x) {
    sec.value = ""; // never kept on screen; the operator types it again
    err.textContent = x.message;
    err.hidden = false;
  } finally {
    btn.disabled = false;
  }
});
tid("firstrun-sim").addEventListener("click", () => switchEnv("sim"));
document.addEventListener("contextmenu", (e) => e.preventDefault());

(async () => {
  // Ask for the customers at once, alongside info (a session waiting for
  // credentials refuses it; that answer is then ignored).
  const customers = call("listCustomers", { page: 0, per_page: state.perPage });
  customers.catch(() => {});
  try {
    state.info = await call("info");
    renderInfo();
  } catch (e) {
    showBanner("linkdesk could not start: " + e.message);
    return;
  }
  if (!state.info.needs_credentials) {
    loadPlaid().catch((e) => showBanner(e.message));
    if (state.info.environment === "sim") loadScenarios();
    else loadRecovered();
    try {
      const p = await customers;
      state.customers = p.customers;
      state.total = p.total;
      renderCustomers();
    } catch (e) {
      showBanner("Customers could not be loaded: " + e.message);
    }
  }
  document.body.dataset.ready = "true";
  call("ready", {}).catch(() => {});
})();
