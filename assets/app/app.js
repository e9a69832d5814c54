// linkdesk's page. Go owns the state: this page sends intents to Go (calls
// named in contract.js) and renders the snapshots Go returns and pushes. It
// keeps no business state of its own beyond what it shows: the attempt panel
// shows the selected customer's own latest attempt, as Go reports it.

import { call, onPush, PUSH } from "./contract.js";
import { $, $$, el, tid } from "./dom.js";
import { destroyPlaid, linkAttempt, loadPlaid, markClick, openAhead, openPlaid as openLink, prepareLink, setHooks, settleClick, unprepare } from "./plaidlink.js";
import { problemLine, problemOf, problemView } from "./problem.js";



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
  bankWaits: new Map(), // attempt id → its wait for the bank in the system browser (oauth_browser)
  bankNotes: new Map(), // attempt id → what the operator's last action on that wait did
};
// running: the selected customer's attempt has not ended.
const running = () => state.attempt && !FINAL.includes(state.attempt.state);

// Cybrid links bank accounts only for verified customers (Go checks again
// at the click: the list may be older than the customer's state).
const cannotLinkWhy = (c) => !c || !c.state || c.state === "verified" ? ""
  : `Cybrid links bank accounts only for verified customers; ${c.name || "this customer"} is ${c.state}.` +
    (c.state === "frozen" ? " Ask your compliance team to review the customer." : c.state === "unverified" || c.state === "storing" ? " Complete the customer's identity verification first." : "");

// updateLinkButton disables Link bank account while an attempt of the
// customer runs, or when the customer cannot link — and then says why.
function updateLinkButton() {
  const why = cannotLinkWhy(state.customer);
  tid("link-account").disabled = !!why || !!running();
  tid("link-why").textContent = why;
  tid("link-why").hidden = !why;
}
const nameOf = (guid) => state.names.get(guid) || guid;

// nameCell shows a customer's name where the page knows it, else the GUID
// until nameCustomers learns the name.
const nameCell = (tag, guid, attrs = {}) => el(tag, { ...attrs, "data-name-of": guid, title: guid, text: nameOf(guid) });

// nameCustomers asks Go, once per GUID and page load, for the names of
// customers shown by GUID only (interrupted attempts, the audit log), and
// fills in every nameCell. Only the current environment's customers can be
// named; the others keep their GUID.
const askedNames = new Set();
async function nameCustomers(guids) {
  const want = [...new Set(guids)].filter((g) => g && !state.names.has(g) && !askedNames.has(g)).slice(0, 100);
  if (!want.length) return;
  want.forEach((g) => askedNames.add(g));
  try {
    const names = await call("customerNames", { customer_guids: want });
    for (const [g, n] of Object.entries(names)) state.names.set(g, n || "(no name)");
  } catch (e) {
    return; // the GUIDs stay shown
  }
  for (const e of $$("[data-name-of]")) e.textContent = nameOf(e.dataset.nameOf);
}

// openPlaid opens Link for the attempt — only for the customer on screen.
function openPlaid(attempt, receivedRedirectUri) {
  if (!state.customer || attempt.customer_guid !== state.customer.guid) return;
  openLink(attempt, receivedRedirectUri);
}

// ---- small UI parts -----------------------------------------------------
function showBanner(text, cls = "") {
  const b = tid("banner");
  b.textContent = text;
  b.className = "banner " + cls;
  b.hidden = !text;
}

// ask shows a modal dialog; resolves true for OK. Cancel (or Esc) changes
// nothing. inform is ask with only a Close button.
function ask(title, body, okText = "OK", danger = false, wide = false, cancel = true) {
  const d = tid("dialog");
  d.classList.toggle("wide", wide);
  tid("dialog-cancel").hidden = !cancel;
  tid("dialog-title").textContent = title;
  const b = tid("dialog-body");
  b.replaceChildren(...(Array.isArray(body) ? body : [typeof body === "string" ? el("p", { text: body }) : body]));
  const ok = tid("dialog-ok");
  ok.textContent = okText;
  ok.className = danger ? "primary danger" : "primary";
  d.returnValue = "cancel";
  d.showModal();
  (cancel ? tid("dialog-cancel") : ok).focus();
  return new Promise((resolve) => d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true }));
}

function inform(title, body, wide = false) {
  return ask(title, body, "Close", false, wide, false);
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

// ---- copying ----------------------------------------------------------------
// guidLine shows a GUID (cut with an ellipsis when narrow; the whole of it
// in the tooltip) with a copy button.
function guidLine(guid, what) {
  return el("div", { class: "sub guidline" }, el("span", { class: "g", title: guid, text: guid }), copyButton(guid, "Copy", "copy-guid", "Copy the " + what));
}

// copyButton copies text to the clipboard and says so on the button.
function copyButton(text, label = "Copy", testid = "copy", title = "Copy to the clipboard") {
  const b = el("button", { class: "small copy", type: "button", "data-testid": testid, title, "aria-label": title, text: label });
  b.addEventListener("click", async (e) => {
    e.preventDefault();
    try {
      await navigator.clipboard.writeText(text);
    } catch (err) {
      // Older engines: copy from a selected, off-screen text field.
      const t = el("textarea", { style: "position:fixed;left:-9999px" });
      t.value = text;
      document.body.append(t);
      t.select();
      document.execCommand("copy");
      t.remove();
    }
    b.textContent = "Copied";
    b.dataset.copied = "true";
    setTimeout(() => { b.textContent = label; delete b.dataset.copied; }, 1500);
  });
  return b;
}

// showSimulator shows where the built-in simulator listens, with commands a
// QA engineer can paste into a terminal.
function showSimulator() {
  const s = state.info && state.info.simulator;
  if (!s) return;
  const row = (name, value, testid) => el("tr", {}, el("th", { text: name }), el("td", {}, el("code", { "data-testid": testid, text: value })), el("td", {}, copyButton(value, "Copy", "copy-" + testid)));
  const reset = el("button", { class: "small danger", type: "button", "data-testid": "sim-reset", text: "Reset simulator…" });
  reset.addEventListener("click", (e) => { e.preventDefault(); tid("dialog").close("cancel"); resetSimulator(); });
  inform("The simulator", [
    el("p", { class: "muted", text: "The built-in simulator keeps this address until linkdesk closes, also when you switch environments." }),
    el("table", { class: "kv" },
      row("Bank API", s.bank_url, "sim-bank-url"),
      row("Identity (tokens)", s.identity_url, "sim-identity-url"),
      row("Plaid Link", s.plaid_url, "sim-plaid-url"),
      row("Client ID", s.client_id, "sim-client-id")),
    el("h3", { text: "State" }),
    el("p", { "data-testid": "sim-state" }, s.state_file
      ? ["Accounts, workflows, verifications and Plaid connections made in the simulator are kept in ", el("code", { text: s.state_file }), " and are there at the next start, so an attempt interrupted by a crash is checked against them."]
      : "The simulator keeps its state in memory only: it is lost when linkdesk closes, and its attempts are not journaled for crash recovery."),
    ...(s.state_note ? [el("p", { class: "error", role: "note", "data-testid": "sim-state-note", text: s.state_note })] : []),
    el("div", { class: "row" }, reset, el("span", { class: "small muted", text: "Start the simulator afresh, with its seed customers only." })),
    el("h3", { text: "Commands" }),
    el("ul", { class: "commands" }, ...s.commands.map((c, i) => el("li", {}, el("div", { class: "muted small", text: c.title }),
      el("div", { class: "cmd" }, el("code", { "data-testid": "sim-command", text: c.line }), copyButton(c.line, "Copy", "copy-command-" + i))))),
  ], true);
}

// resetSimulator starts the built-in simulator afresh, once the operator
// confirmed what is lost; the page then reloads, as after a switch.
async function resetSimulator() {
  const busy = await call("runningAttempts", {}).catch(() => []);
  const running = busy.length ? ` ${busy.length === 1 ? "The attempt" : busy.length + " attempts"} still running (${busy.map((a) => nameOf(a.customer_guid)).join(", ")}) ${busy.length === 1 ? "is" : "are"} cancelled.` : "";
  if (!(await ask("Reset the simulator?",
    "Every external bank account, workflow, identity verification and Plaid connection made in the simulator is deleted, for every customer, and cannot be brought back. " +
    "The simulator starts again with its seed customers, the Normal scenario and no injected faults, at the same address." + running +
    " The timeline and the audit log keep what happened.", "Reset simulator", true))) return;
  try {
    state.info = await call("resetSimulator", {});
    location.reload();
  } catch (e) {
    showBanner("The simulator was not reset: " + problemLine(problemOf(e)));
  }
}

// ---- audit log ----------------------------------------------------------------
const actionLabels = { link: "Link", refresh: "Refresh", verify: "Verify ownership", unlink: "Unlink", credentials_store: "Credentials stored", credentials_delete: "Credentials deleted", switch_environment: "Environment switch" };

// showAudit shows who did what and when: the audit log, newest first, for
// the customer on screen or for everyone, a page at a time, with export.
async function showAudit(page = 0, mine = !!state.customer) {
  const per = 50;
  let r;
  try {
    r = await call("audit.list", { customer_guid: mine && state.customer ? state.customer.guid : "", page, per_page: per });
  } catch (e) {
    inform("Audit log", problemLine(problemOf(e)));
    return;
  }
  nameCustomers(r.records.filter((x) => state.info && x.environment === state.info.environment).map((x) => x.customer_guid));
  const rows = r.records.map((x) => el("tr", { "data-testid": "audit-record", "data-action": x.action, "data-outcome": x.outcome },
    el("td", { class: "when", title: x.time, text: new Date(x.time).toLocaleString() }),
    el("td", { text: x.environment }),
    el("td", { text: actionLabels[x.action] || x.action }),
    el("td", { class: "outcome " + x.outcome, text: x.outcome }),
    el("td", {}, x.customer_guid ? nameCell("div", x.customer_guid) : null, x.account_guid ? el("div", { class: "sub", text: "account " + x.account_guid }) : null, x.detail ? el("div", { class: "sub", text: x.detail }) : null),
    el("td", { text: x.user + (x.host ? "@" + x.host : "") })));
  const status = r.status || {};
  const body = [];
  if (status.write_error) body.push(el("div", { class: "error", role: "alert", text: "The audit log could not record everything: " + status.write_error }));
  if (status.off) body.push(el("div", { class: "error", role: "alert", text: "The audit log is off: " + status.off }));
  const scope = el("label", { class: "small" }, el("input", { type: "checkbox", "data-testid": "audit-mine", checked: mine && !!state.customer, disabled: !state.customer }), ` Only ${state.customer ? nameOf(state.customer.guid) : "the customer on screen"}`);
  scope.querySelector("input").addEventListener("change", (e) => { tid("dialog").close("cancel"); showAudit(0, e.target.checked); });
  const exported = el("span", { class: "small muted", "data-testid": "audit-export-note" });
  const exp = el("button", { class: "small", type: "button", "data-testid": "audit-export", text: "Export CSV" });
  exp.addEventListener("click", async (e) => {
    e.preventDefault();
    try {
      const res = await call("audit.export", { format: "csv", customer_guid: mine && state.customer ? state.customer.guid : "" });
      exported.replaceChildren("Saved ", ...res.files.map((f) => el("code", { text: f.path })));
    } catch (err) { exported.textContent = "Export failed: " + problemLine(problemOf(err)); }
  });
  const pager = el("div", { class: "row" },
    el("button", { class: "small", type: "button", disabled: page === 0, text: "‹ Newer", onclick: (e) => { e.preventDefault(); tid("dialog").close("cancel"); showAudit(page - 1, mine); } }),
    el("span", { class: "small muted", text: `${r.total ? page * per + 1 : 0}–${Math.min(r.total, (page + 1) * per)} of ${r.total}` }),
    el("button", { class: "small", type: "button", disabled: (page + 1) * per >= r.total, text: "Older ›", onclick: (e) => { e.preventDefault(); tid("dialog").close("cancel"); showAudit(page + 1, mine); } }));
  body.push(el("div", { class: "row" }, scope, el("div", { class: "spacer" }), exp), exported,
    rows.length ? el("div", { class: "audit-scroll" }, el("table", { class: "audit", "data-testid": "audit-table" },
      el("thead", {}, el("tr", {}, ...["When", "Env.", "Action", "Outcome", "Customer / account", "Who"].map((h) => el("th", { text: h })))),
      el("tbody", {}, ...rows))) : el("p", { class: "muted", text: "Nothing recorded yet." }), pager);
  inform("Audit log", body, true);
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
  tid("sim-details").hidden = !i.simulator;
  const needs = !!i.needs_credentials;
  const waiting = !!i.problem && !needs;
  tid("firstrun").hidden = !needs;
  tid("main").classList.toggle("needs-credentials", needs);
  tid("env-waiting").hidden = !waiting;
  tid("main").classList.toggle("env-waiting", waiting);
  if (waiting) {
    // The environment waits for the OS keychain (locked, refused, absent,
    // not answering): say why, how to fix it, and retry without a restart.
    tid("no-customer").hidden = true;
    tid("customer").hidden = true;
    tid("env-waiting-env").textContent = i.environment;
    tid("env-waiting-box").replaceChildren(problemView(i.problem, {
      testid: "env-problem",
      lead: state.retriedAt ? `Tried again at ${state.retriedAt}: still not possible.` : "",
      actions: {
        retry_environment: { label: "Try again", run: retryEnvironment },
        store_credentials: { label: "Enter credentials", run: () => switchEnv(i.environment) },
        use_sim: { label: "Use the simulator meanwhile", run: () => switchEnv("sim") },
      },
      extra: i.environment === "sim" ? [] : ["use_sim"],
    }));
  }
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

// retryEnvironment asks Go to start the waiting environment again (after
// the operator unlocked the keychain, say): the page reloads once it runs.
async function retryEnvironment() {
  try {
    const info = await call("retryEnvironment", {});
    if (!info.problem) { location.reload(); return; }
    state.info = info;
    state.retriedAt = new Date().toLocaleTimeString();
    renderInfo();
  } catch (e) {
    showBanner("Trying again failed: " + problemLine(problemOf(e)));
  }
}

async function switchEnv(env) {
  if (state.info && env === state.info.environment && !state.info.needs_credentials) return;
  const busy = await call("runningAttempts", {}).catch(() => []);
  if (busy.length && !(await ask("Switch environment?", `${busy.length === 1 ? "An attempt is" : busy.length + " attempts are"} still running (${busy.map((a) => nameOf(a.customer_guid)).join(", ")}). Switching cancels ${busy.length === 1 ? "it" : "them"}; nothing already linked is lost, and each environment keeps its own timeline until linkdesk closes.`, "Switch and cancel"))) return;
  if (env === "production" && !(await ask("Switch to PRODUCTION?", "Production works with real customers and real money movement.", "Switch to production", true))) return;
  try {
    state.info = await call("switchEnvironment", { environment: env });
    // A new environment has its own Plaid origin and page policy: reload.
    location.reload();
  } catch (e) {
    showBanner("Could not switch to " + env + ": " + problemLine(problemOf(e)));
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
  if (!state.searching && state.customersError) {
    // A failed list is not an empty one: say why, and offer to try again.
    list.append(el("li", { class: "failed", "data-testid": "customers-failed" },
      problemView(state.customersError, {
        testid: "customers-problem", lead: "The customer list could not be loaded.",
        actions: { try_again: { label: "Try again", run: loadCustomers }, reload: { label: "Try again", run: loadCustomers } },
        extra: state.customersError.action === "try_again" ? [] : ["reload"],
      })));
  } else if (!rows.length) list.append(el("li", { class: "muted", "data-testid": "customers-none", text: state.searching ? "No customer matches." : "No customers." }));
  const note = tid("search-note");
  if (state.searching) {
    const r = state.searching.result;
    const what = [state.searching.query ? `“${state.searching.query}”` : "", state.searching.stateFilter ? `state ${state.searching.stateFilter}` : ""].filter(Boolean).join(", ");
    note.textContent = `${r.customers.length} match${r.customers.length === 1 ? "" : "es"} for ${what}` + (r.scanned < r.total ? ` (searched the newest ${r.scanned} of ${r.total})` : "") + " — Esc clears";
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
    state.customersError = null;
  } catch (e) {
    state.customersError = problemOf(e);
  }
  renderCustomers();
}

// search shows the customers matching the search box and the state
// filter (Go reads Cybrid's pages: Cybrid filters neither by name nor by
// state). An answer that arrives after a newer search started is dropped.
let searchSeq = 0;
async function search(query, stateFilter = tid("customer-state-filter").value) {
  query = query.trim();
  if (!query && !stateFilter) { clearSearch(); return; }
  const mySeq = ++searchSeq;
  tid("search-note").hidden = false;
  tid("search-note").replaceChildren(el("span", { class: "spinner" }), " Searching…");
  try {
    const result = await call("searchCustomers", { query, state: stateFilter });
    if (mySeq !== searchSeq) return;
    state.searching = { query, stateFilter, result };
    focusIndex = 0;
    renderCustomers();
  } catch (e) {
    if (mySeq !== searchSeq) return;
    tid("search-note").replaceChildren(el("span", { class: "bad", text: "The search failed: " + problemLine(problemOf(e)) }));
  }
}

// searchSoon searches 300 ms after the last keystroke.
let searchTimer = null;
function searchSoon() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => search(tid("customer-search").value), 300);
}

function clearSearch() {
  searchSeq++;
  clearTimeout(searchTimer);
  state.searching = null;
  tid("customer-search").value = "";
  tid("customer-state-filter").value = "";
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
    if (a.unlinked_by || a.unlinked_at) actions.append(el("div", { class: "sub", "data-testid": "unlinked-by", text: `unlinked${a.unlinked_by ? " by " + a.unlinked_by : ""}${a.unlinked_at ? " · " + shortTime(a.unlinked_at) : ""}` }));
    body.append(el("tr", { tabindex: "-1", "data-testid": "account-row", "data-guid": a.guid, "data-state": a.state, class: state.attempt && state.attempt.account_guid === a.guid && state.attempt.state === "done" ? "fresh" : "" },
      el("td", { class: "acct" }, el("div", { class: "name", text: a.name }), guidLine(a.guid, "account GUID")),
      el("td", { class: "inst" }, el("div", { title: a.institution_id || "", text: a.institution_name || a.institution_id || "—" }), el("div", { class: "sub", text: a.mask ? "•••• " + a.mask : "" })),
      el("td", {}, el("span", { class: "chip " + a.state, "data-testid": "account-state", title: a.failure_code ? "failure code: " + a.failure_code : "" }, busy ? el("span", { class: "spinner" }) : null, stateLabels[a.state] || a.state),
        a.failure_code ? el("div", { class: "sub", "data-testid": "account-failure", text: a.failure_code }) : null),
      el("td", { class: "when", title: a.created_at, text: shortTime(a.created_at) }),
      actions));
  }
  tid("accounts-empty").hidden = state.accounts.length > 0;
}

let accountTimer = null;
let accountLook = 300; // ms until the next look at a list with something in motion
let accountsLoading = false;
async function loadAccounts() {
  if (!state.customer) return;
  const guid = state.customer.guid;
  if (!state.accounts.length) tid("accounts-loading").hidden = false;
  accountsLoading = true;
  try {
    const list = await call("listAccounts", { customer_guid: guid, include_deleted: tid("show-unlinked").checked });
    if (!state.customer || state.customer.guid !== guid) return;
    state.accounts = list;
    renderAccounts();
  } catch (e) {
    addActivity("Accounts could not be loaded: " + problemLine(problemOf(e)), true);
  } finally {
    accountsLoading = false;
    tid("accounts-loading").hidden = true;
  }
  clearTimeout(accountTimer);
  // A live list: while something is in motion, look again — soon at first
  // (an unlink the simulator finishes at once shows as done in 0.3 s), then
  // less often, up to every 2 s for Cybrid's slower changes.
  if (state.accounts.some((a) => a.state === "storing" || a.state === "deleting")) {
    accountTimer = setTimeout(loadAccounts, accountLook);
    accountLook = Math.min(accountLook * 1.5, 2000);
  } else {
    accountLook = 300;
  }
}

async function unlink(a) {
  const who = nameOf(a.customer_guid);
  const ok = await ask(`Unlink ${who}'s bank account?`, [
    el("p", { text: `${a.name} (•••• ${a.mask || "?"}) at ${a.institution_name || a.institution_id || "the bank"} will be deleted at Cybrid for ${who}. ${who} must link it again through Plaid to use it.` }),
    el("p", { class: "muted small", text: `account ${a.guid} · customer ${a.customer_guid}` }),
  ], "Unlink", true);
  if (!ok) return;
  try {
    const r = await call("unlinkAccount", { customer_guid: a.customer_guid, account_guid: a.guid });
    addActivity(`Unlinking ${a.name} (${r.state})`);
    loadAccounts();
  } catch (e) {
    addActivity("Unlink failed: " + problemLine(problemOf(e)), true);
    ask("Unlink failed", problemLine(problemOf(e)), "OK");
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
  // A start Go refused for this customer shows above the last attempt.
  const r = state.refusal && state.customer && state.refusal.customer === state.customer.guid ? state.refusal : null;
  const refused = r ? problemView(r.problem, { testid: "start-refused", lead: `${r.what}: not started.` }) : null;
  if (!a) {
    box.replaceChildren(...[refused, el("div", { class: "muted", "data-testid": "attempt-empty", text: "No attempt for this customer yet. “Link bank account” starts one; “Refresh connection” re-links an expired one." }), routeSwitch()].filter(Boolean));
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
    // [prefetch] A token prepared before the click says so.
    if (s.key === "token" && a.prefetched) desc = preparedText(a);
    steps.append(el("li", { class: cls, "data-testid": "step-" + s.key, "data-status": cls || "pending" },
      el("span", { class: "mark" }, mark), el("div", {}, el("div", { class: "t", text: s.title }), el("div", { class: "d", text: desc })), el("span", { class: "el", "data-testid": active && !final ? "elapsed" : null, text: right })));
  }
  const parts = refused ? [refused, steps] : [steps];
  const cancel = el("button", { "data-testid": "cancel-attempt", text: "Cancel", onclick: () => call("cancel", { attempt_id: a.id }).catch((e) => addActivity(problemLine(problemOf(e)), true)) });
  if (final) parts.push(resultCard(a));
  else if (a.state === "account_retry") {
    // The account POST failed and Cybrid shows no account from it: the
    // customer need not go through Link again while the public token lives.
    parts.push(el("div", { class: "result bad", "data-testid": "retry-box", role: "status" },
      el("div", { class: "h", text: "The account was not created yet" }),
      el("div", { "data-testid": "retry-text", text: a.problem ? a.problem.headline : a.error || "" }),
      a.problem && a.problem.fix ? el("div", { "data-testid": "retry-fix", class: "fix", text: a.problem.fix }) : null,
      a.problem && a.problem.detail ? el("details", { class: "detail" }, el("summary", { text: "Technical detail" }), el("pre", { text: a.problem.detail })) : null,
      el("div", { class: "actions" },
        el("button", { class: "primary", "data-testid": "retry-account", text: "Retry account creation", onclick: () => call("retryAccount", { attempt_id: a.id }).then(onAttempt, (e) => addActivity("Retry failed: " + problemLine(problemOf(e)), true)) }),
        cancel)));
  } else {
    const w = state.bankWaits.get(a.id);
    if (w && a.state === "link_open") parts.push(bankWaitCard(a, w));
    parts.push(el("div", { class: "result-actions" }, cancel));
  }
  parts.push(routeSwitch());
  box.replaceChildren(...parts);
}

// bankWaitCard: the bank's sign-in runs in the system browser (it refuses
// embedded views, or the route says so). The customer finishes there; the
// operator can copy the page's address, open it again, or stop waiting.
function bankWaitCard(a, w) {
  const act = (action) => async () => {
    try {
      const r = await call("oauth.browserAction", { attempt_id: a.id, action });
      state.bankNotes.set(a.id, r.message);
    } catch (e) {
      state.bankNotes.set(a.id, problemLine(problemOf(e)));
    }
    renderAttempt();
  };
  const bank = w.institution || w.institution_id || "the bank";
  const note = state.bankNotes.get(a.id);
  return el("div", { class: "result wait", "data-testid": "bank-browser", role: "status" },
    el("div", { class: "h", "data-testid": "bank-browser-title", text: `Finish signing in to ${bank} in your browser` }),
    el("div", { text: "The bank's page opened in the system browser. When the customer has signed in there, the bank sends them back and Plaid Link continues here." }),
    w.reason ? el("div", { class: "sub", "data-testid": "bank-browser-reason", text: w.reason }) : null,
    w.url ? el("div", { class: "sub url", title: w.url, text: w.url }) : null,
    note ? el("div", { "data-testid": "bank-browser-note", text: note }) : null,
    el("div", { class: "actions" },
      el("button", { "data-testid": "bank-browser-copy", text: "Copy link", onclick: act("copy") }),
      el("button", { "data-testid": "bank-browser-open", text: "Open again", onclick: act("open") }),
      el("button", { "data-testid": "bank-browser-cancel", text: "Stop waiting", onclick: act("cancel") })));
}

// routeSwitch: where banks' OAuth sign-in pages open, for the rest of the
// run (LINKDESK_OAUTH_ROUTE sets it at start).
function routeSwitch() {
  const r = state.info && state.info.oauth_route;
  if (!r) return null;
  const listed = (r.browser_institutions || []).join(", ") || "none listed";
  const sel = el("select", { "data-testid": "oauth-route", "aria-label": "Where banks' sign-in pages open",
    onchange: async (e) => {
      try {
        state.info.oauth_route = await call("oauth.setRoute", { route: e.target.value });
        addActivity(`Banks' sign-in pages now open: ${e.target.selectedOptions[0].textContent}.`, false);
      } catch (x) {
        addActivity(problemLine(problemOf(x)), true);
      }
      renderAttempt();
    } },
    el("option", { value: "auto", selected: r.route === "auto", text: "Automatic" }),
    el("option", { value: "popup", selected: r.route === "popup", text: "In linkdesk" }),
    el("option", { value: "browser", selected: r.route === "browser", text: "In the system browser" }));
  return el("label", { class: "route muted small", title: `Automatic: in linkdesk's window, except banks that refuse embedded views, which open in the system browser (${listed})` }, "Bank sign-in: ", sel);
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
    if (a.problem) body = a.problem.headline;
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
    a.state === "failed" && a.problem && a.problem.fix ? el("div", { "data-testid": "result-fix", text: a.problem.fix }) : null,
    a.state === "failed" && a.problem && a.problem.detail ? el("details", { class: "detail", "data-testid": "result-detail" }, el("summary", { text: "Technical detail" }), el("pre", { text: a.problem.detail })) : null,
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

// activityFor adds an attempt's event to Activity. Link's view changes
// (TRANSITION_VIEW, about half of Link's events) fold into one line per run
// of them, which says the current view; the timeline keeps each.
function activityFor(a, ev, mine) {
  const prefix = mine ? "" : nameOf(a.customer_guid) + ": ";
  const name = ev.data && ev.data.event;
  if (ev.type === "plaid_event" && name === "TRANSITION_VIEW") {
    const view = (ev.data.metadata && ev.data.metadata.view_name) || "?";
    const top = tid("activity").firstElementChild;
    if (top && top.dataset.fold === a.id) {
      const n = Number(top.dataset.count) + 1;
      top.dataset.count = String(n);
      top.querySelector("span").textContent = `${prefix}Plaid Link view: ${view} (${n} view changes)`;
      return;
    }
    addActivity(`${prefix}Plaid Link view: ${view}`, false, new Date(ev.time), a.customer_guid);
    const li = tid("activity").firstElementChild;
    li.dataset.fold = a.id;
    li.dataset.count = "1";
    return;
  }
  addActivity(prefix + ev.message, a.state === "failed", new Date(ev.time), a.customer_guid);
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
  tid("customer-guid").dataset.guid = c.guid;
  tid("customer-guid").replaceChildren(el("span", { text: c.guid }), " ", copyButton(c.guid, "Copy", "copy-customer-guid", "Copy the customer GUID"));
  const st = tid("customer-state");
  st.textContent = c.state;
  st.className = "chip " + c.state;
  renderCustomers();
  if (same) return;
  if (linkAttempt() && (!state.attempt || state.attempt.id !== linkAttempt() || state.attempt.customer_guid !== c.guid)) destroyPlaid();
  if (!cannotLinkWhy(c)) prefetchFor(c); // [prefetch]
  state.accounts = [];
  state.attempt = null;
  if (state.refusal && state.refusal.customer !== c.guid) state.refusal = null;
  lastActive = null;
  showActivityOf(c.guid);
  updateLinkButton();
  renderAttempt();
  renderAccounts();
  loadAccounts();
  if (state.tab === "timeline") loadTimeline();
  try {
    const a = await call("currentAttempt", { customer_guid: c.guid });
    if (a) onAttempt(a);
  } catch (e) {
    addActivity("The customer's attempt could not be loaded: " + problemLine(problemOf(e)), true);
  }
  hideElsewhere(c.guid);
}

// start asks Go to start an attempt for customerGUID (the customer on
// screen, or the one an attempt or a row belongs to).
async function start(method, customerGUID, params = {}) {
  if (!customerGUID) return;
  if (state.info && state.info.environment === "sim") loadScenarios();
  state.refusal = null;
  try {
    const a = await call(method, { customer_guid: customerGUID, ...params });
    if (!onAttempt(a)) addActivity(`Started for ${nameOf(a.customer_guid)}.`, false, new Date(), a.customer_guid);
  } catch (e) {
    // Refused before anything started (a customer Cybrid would not link,
    // a journal that cannot record, …): shown where the attempt would be.
    const p = problemOf(e);
    addActivity("Could not start: " + problemLine(p), true, new Date(), customerGUID);
    if (state.customer && state.customer.guid === customerGUID) {
      state.refusal = { customer: customerGUID, problem: p, what: { startLink: "Link bank account", startRefresh: "Refresh connection", verifyAccount: "Verify ownership" }[method] };
      renderAttempt();
    }
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
  if (!a.bank_in_browser || FINAL.includes(a.state)) state.bankWaits.delete(a.id);
  else if (!state.bankWaits.has(a.id)) {
    // Opened after the wait began (or the page reloaded): ask Go.
    call("oauth.browserWait", { attempt_id: a.id }).then((w) => {
      if (w.waiting) { state.bankWaits.set(a.id, w); if (state.attempt && state.attempt.id === a.id) renderAttempt(); }
    }, () => {});
  }
  updateLinkButton();
  if (a.state === "link_open" && a.link_token) openPlaid(a);
  if (FINAL.includes(a.state)) {
    if (linkAttempt() === a.id && a.state !== "done") destroyPlaid();
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

// loadTimeline shows the attempt's (or, with none, the session's) timeline:
// one line per entry, newest first; a click opens the entry's data, and
// Copy puts the whole entry on the clipboard as JSON.
async function loadTimeline() {
  const ol = tid("timeline");
  let res;
  try {
    res = await call("timeline", { attempt_id: state.attempt ? state.attempt.id : "", since: 0 });
  } catch (e) {
    ol.replaceChildren(el("li", { class: "bad", text: "The timeline could not be loaded: " + problemLine(problemOf(e)) }));
    return;
  }
  const list = (res && res.entries) || [];
  const kind = tid("timeline-filter").value;
  const shown = list.filter((e) => !kind || e.kind === kind || (kind === "plaid" && e.kind.startsWith("plaid_")));
  const open = new Set($$('[data-testid="timeline-entry"].open', ol).map((li) => li.dataset.seq));
  ol.replaceChildren(...shown.slice().reverse().map((e) => {
    const t = new Date(e.time);
    const bad = (e.kind === "api" && e.data && (e.data.status >= 400 || e.data.error)) || (e.data && e.data.state === "failed" && e.data.from);
    const data = e.data && Object.keys(e.data).length ? JSON.stringify(e.data, null, 2) : "";
    const li = el("li", { "data-testid": "timeline-entry", "data-kind": e.kind, "data-seq": String(e.seq), class: open.has(String(e.seq)) ? "open" : "" });
    const head = el("button", { class: "entry", type: "button", "aria-expanded": open.has(String(e.seq)) ? "true" : "false", title: data ? "Show the entry's data" : "" },
      el("time", { text: t.toTimeString().slice(0, 8) + "." + String(t.getMilliseconds()).padStart(3, "0") }),
      el("span", { class: "k " + e.kind, text: e.kind.replace("plaid_", "plaid ") }),
      el("span", { class: "msg" + (bad ? " bad" : ""), text: e.message }));
    head.addEventListener("click", () => {
      li.classList.toggle("open");
      head.setAttribute("aria-expanded", String(li.classList.contains("open")));
    });
    li.append(head, el("div", { class: "detail" }, data ? el("pre", { "data-testid": "timeline-data", text: data }) : el("div", { class: "muted", text: "No data." }),
      copyButton(JSON.stringify(e, null, 2), "Copy entry", "copy-entry", "Copy this entry as JSON")));
    return li;
  }));
  if (!shown.length) ol.append(el("li", { class: "muted", text: list.length ? "No entry of this kind." : "Nothing recorded yet." }));
}

function setTab(tab) {
  state.tab = tab;
  for (const b of $$('[role="tab"]')) b.setAttribute("aria-selected", String(b.dataset.tab === tab));
  $("#panel-activity").hidden = tab !== "activity";
  $("#panel-timeline").hidden = tab !== "timeline";
  tid("timeline-filter").hidden = tab !== "timeline";
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
      el("button", { class: "small", "data-testid": "open-export-folder", text: "Open folder", onclick: () => call("openExportFolder", {}).catch((e) => addActivity(problemLine(problemOf(e)), true)) }));
  } catch (e) {
    note.textContent = "Export failed: " + problemLine(problemOf(e));
  }
}

// ---- scenarios (simulator) ----------------------------------------------
let scenarioTimer = null;
// Back in the window after applying a scenario from a terminal (curl, a
// script): the picker shows it at once rather than at the next 5 s look.
window.addEventListener("focus", () => { if (state.info && state.info.environment === "sim") loadScenarios(); });
async function loadScenarios() {
  const sel = tid("scenario-select");
  clearTimeout(scenarioTimer);
  // A scenario applied over HTTP (curl, a test script) shows up here too.
  if (state.info && state.info.environment === "sim") scenarioTimer = setTimeout(loadScenarios, 5000);
  if (document.activeElement === sel || tid("dialog").open) return;
  try {
    const r = await call("scenarios", {});
    sel.replaceChildren(...r.scenarios.map((s) => el("option", { value: s.id, title: s.description, selected: s.id === r.active }, s.title + (s.kind === "guide" ? " (how-to)" : ""))));
    sel.dataset.active = r.active || "";
    sel._scenarios = r.scenarios;
  } catch (e) {
    tid("scenario-box").hidden = true;
  }
}

// applyScenario applies the picked scenario. Normal applies at once;
// another scenario first shows what it does, with its options to edit, and
// applies on OK — Cancel leaves the active one as it was.
async function applyScenario(id) {
  const sel = tid("scenario-select");
  const s = (sel._scenarios || []).find((x) => x.id === id);
  let options = {};
  if (s && id !== "normal") {
    const fields = (s.options || []).map((o) => {
      const input = el("input", { "data-testid": "scenario-option-" + o.name, name: o.name, value: o.default || "", placeholder: o.default ? "" : "optional", spellcheck: "false" });
      return { o, input, row: el("label", { class: "option" }, el("span", { class: "name", text: o.name }), input, el("span", { class: "muted small", text: o.description })) };
    });
    const body = [el("p", { text: s.description })];
    if (s.how_to) body.push(el("p", {}, el("b", { text: "What to do: " }), s.how_to));
    if (s.expect) body.push(el("p", {}, el("b", { text: "What linkdesk should show: " }), s.expect));
    if (fields.length) body.push(el("div", { class: "options" }, ...fields.map((f) => f.row)));
    const ok = await ask(s.title, body, s.kind === "guide" ? "Use this scenario" : "Apply", false, true);
    if (!ok) {
      sel.value = sel.dataset.active || "normal";
      return;
    }
    for (const f of fields) if (f.input.value.trim() !== "") options[f.o.name] = f.input.value.trim();
  }
  try {
    const r = await call("applyScenario", { id, customer_guid: state.customer ? state.customer.guid : "", options });
    if (id === "connection_expired") loadAccounts();
    sel.dataset.active = r.active;
    sel.value = r.active;
    if (s) addActivity(`Scenario: ${s.title}${s.how_to ? " — " + s.how_to : ""}`, false, new Date(), "");
  } catch (e) {
    addActivity("Scenario not applied: " + problemLine(problemOf(e)), true, new Date(), "");
    ask("Scenario not applied", problemLine(problemOf(e)), "OK");
    sel.value = sel.dataset.active || "normal";
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
    addActivity(problemLine(problemOf(e)), true);
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
    if (r.action === "recheck") acts.append(el("button", { class: "small", "data-testid": "recovered-recheck", text: "Check again", onclick: () => call("recovered.recheck", {}).then(loadRecovered, (e) => addActivity(problemLine(problemOf(e)), true)) }));
    acts.append(el("button", { class: "small", "data-testid": "recovered-dismiss", text: "Dismiss", onclick: () => call("recovered.dismiss", { attempt_id: r.attempt_id }).then(loadRecovered, (e) => addActivity(problemLine(problemOf(e)), true)) }));
    return el("li", { "data-testid": "recovered-attempt", "data-outcome": r.outcome },
      el("span", { class: "chip " + (r.outcome === "linked" ? "completed" : r.outcome === "checking" ? "storing" : "failed") }, r.outcome === "checking" ? el("span", { class: "spinner" }) : null, String(r.outcome).replaceAll("_", " ")),
      el("div", {}, el("div", { text: r.message }), el("div", { class: "sub" }, `${r.kind} · `, nameCell("span", r.customer_guid, { "data-testid": "recovered-customer" }), ` · stopped at ${r.step}`)),
      acts);
  });
  nameCustomers(list.map((r) => r.customer_guid));
  // Go lists the newest few and counts the rest by outcome.
  const more = Math.max(0, (st.total || 0) - list.length);
  const groups = (st.older || []).map((g) => `${g.count} ${String(g.outcome).replaceAll("_", " ")}`).join(", ");
  const older = more ? el("div", { class: "muted small", "data-testid": "recovered-older",
    text: `…and ${more} older interrupted attempt${more === 1 ? "" : "s"} not listed${groups ? ` (${groups})` : ""}. Dismiss the ones above to list older ones.` }) : null;
  box.replaceChildren(el("h2", { text: "Interrupted attempts — linkdesk stopped before they finished" }),
    ...(st.notes || []).map((n) => el("div", { class: "muted small", text: n })), el("ul", {}, items), ...(older ? [older] : []));
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
    ["n", "link a new bank account"], ["r", "reload the accounts"], ["j k", "move in the accounts table"],
    ["v", "verify the ownership of the account"], ["f", "refresh the account's connection"], ["u", "unlink the account…"], ["e", "export the attempt (or the session)"], ["a", "the audit log: who did what, and when"],
    ["t", "timeline / activity"], ["d", "light / dark theme"], ["?", "this help"]];
  inform("Keyboard shortcuts", el("table", {}, ...rows.map(([k, v]) => el("tr", {}, el("td", {}, el("kbd", { text: k })), el("td", { text: v })))));
}

// Focus rings follow the keyboard: after a key press every focused element
// shows one (also when a shortcut moved the focus); a mouse click hides
// them again.
document.addEventListener("keydown", () => { document.body.dataset.kbd = "true"; }, true);
document.addEventListener("mousedown", () => { delete document.body.dataset.kbd; }, true);

// focusedAccount is the account whose row (or a button in it) has the
// focus, else the only account that fits.
function focusedAccount(fits) {
  const row = document.activeElement && document.activeElement.closest && document.activeElement.closest('[data-testid="account-row"]');
  if (row) return state.accounts.find((a) => a.guid === row.dataset.guid && fits(a));
  const ok = state.accounts.filter(fits);
  return ok.length === 1 ? ok[0] : null;
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
  if (e.key === "n" && state.customer && !tid("link-account").disabled) { e.preventDefault(); startLink(state.customer.guid); return; }
  if (e.key === "r" && state.customer) { e.preventDefault(); loadAccounts(); return; }
  if (e.key === "v" && state.customer && !running()) {
    const a = focusedAccount((x) => x.state === "unverified");
    e.preventDefault();
    if (a) startVerify(a.customer_guid, a.guid); else addActivity("v verifies an unverified account: move to it with j / k first.", true);
    return;
  }
  if (e.key === "f" && state.customer && !running()) {
    const a = focusedAccount((x) => x.state === "refresh_required");
    e.preventDefault();
    if (a) startRefresh(a.customer_guid, a.guid); else addActivity("f refreshes an account whose connection expired: move to it with j / k first.", true);
    return;
  }
  if (e.key === "u" && state.customer) {
    const a = focusedAccount((x) => !["deleting", "deleted", "storing"].includes(x.state));
    e.preventDefault();
    if (a) unlink(a); else addActivity("u unlinks an account: move to it with j / k first.", true);
    return;
  }
  if (e.key === "e") { e.preventDefault(); tid("export-attempt").click(); return; }
  if (e.key === "a") { e.preventDefault(); showAudit(); return; }
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
    case PUSH.OAUTH_BROWSER: {
      if (msg.state === "waiting") state.bankWaits.set(msg.attempt_id, msg);
      else {
        state.bankWaits.delete(msg.attempt_id);
        state.bankNotes.delete(msg.attempt_id);
        const bank = msg.institution || msg.institution_id || "the bank";
        const said = { returned: `${bank} sent the customer back; Plaid Link continues.`, cancelled: `Stopped waiting for ${bank} in the browser; Link is back at its sign-in step.`, ended: `The sign-in at ${bank} in the browser ended.` }[msg.state];
        if (said) addActivity(said, msg.state !== "returned");
      }
      if (state.attempt && state.attempt.id === msg.attempt_id) renderAttempt();
      return;
    }
    case PUSH.TIMELINE:
      if (state.tab === "timeline") scheduleTimeline();
      return;
    case PUSH.RECOVERED:
      renderRecovered(msg.status);
      return;
    case PUSH.POPUP:
      // The attempt's own event (pushed with it) says what happened.
      return;
    case PUSH.ATTEMPT: {
      const a = msg.attempt;
      const mine = state.customer && a.customer_guid === state.customer.guid;
      if (msg.event && msg.event.type !== "poll") activityFor(a, msg.event, mine);
      if (!onAttempt(a) && a.state === "link_open" && msg.event && msg.event.type === "state") showElsewhere(a);
      if (!mine && FINAL.includes(a.state)) hideElsewhere(a.customer_guid);
      return;
    }
  }
});

// ---- [prefetch] Link prepared before the click (issue 12) -------------------
// Opening a customer asks Go to prepare a link token for them (Go checks that
// the customer can link; prefetchLink answers null when nothing is
// prepared). Once the token is ready, Link is created hidden, so that the
// click on Link bank account only opens it. Plaid's script loads then.
function prefetchFor(c) {
  loadPlaid().catch((e) => showBanner(e.message));
  call("prefetchLink", { customer_guid: c.guid }).then(onPrepared, (e) => addActivity("No link token prepared: " + problemLine(problemOf(e)), true, new Date(), c.guid));
}

// onPrepared follows the customer on screen's prepared token: Link is
// created ahead once it is ready (unless an attempt of theirs is running),
// destroyed when the token is discarded.
function onPrepared(p) {
  if (!p || !state.customer || p.customer_guid !== state.customer.guid) return;
  if (p.state !== "ready") { unprepare(p.attempt_id); return; }
  if (!running()) prepareLink(p);
}
onPush((msg) => { if (msg.type === PUSH.PREPARED) onPrepared(msg.prepared); });

// preparedText describes a token prepared before the click.
function preparedText(a) {
  const p = a.prefetched;
  if (!p.ready_at) return "Being prepared since the customer was opened (" + elapsed(p.requested_at) + " ago)";
  return "ready (prepared " + elapsed(p.ready_at) + " ago)" + (p.replaced ? " — replaced once: Plaid Link refused the first" : "");
}

// ---- wiring ---------------------------------------------------------------
setHooks({ report: (text, warn) => addActivity(text, warn), banner: (text) => showBanner(text) });
setInterval(() => {
  const a = state.attempt;
  if (a && !FINAL.includes(a.state)) {
    const e = tid("elapsed");
    if (e) e.textContent = elapsed(a.state_since) + (a.polls && polling.includes(a.state) ? ` · ${a.polls} polls` : "");
  }
}, 100);

// [prefetch] One click, one attempt: a second click while the first one's
// startLink is on its way does nothing. Link created ahead opens at once;
// the click's attempt takes it. The click is timed to Link usable.
let linkClicked = false;
tid("link-account").addEventListener("click", async (e) => {
  if (linkClicked || !state.customer) return;
  linkClicked = true;
  const guid = state.customer.guid;
  markClick(guid, e.timeStamp);
  openAhead(guid);
  try { await startLink(guid); } finally { linkClicked = false; settleClick(); }
});
tid("accounts-reload").addEventListener("click", loadAccounts);
tid("customers-reload").addEventListener("click", () => { clearSearch(); loadCustomers(); });
tid("page-prev").addEventListener("click", () => { if (state.page > 0) { state.page--; focusIndex = 0; loadCustomers(); } });
tid("page-next").addEventListener("click", () => { state.page++; focusIndex = 0; loadCustomers(); });
tid("customer-search-form").addEventListener("submit", (e) => { e.preventDefault(); clearTimeout(searchTimer); search(tid("customer-search").value).then(() => focusRow(0)); });
tid("customer-search").addEventListener("input", searchSoon);
tid("customer-state-filter").addEventListener("change", () => search(tid("customer-search").value));
for (const b of $$("[data-env]")) b.addEventListener("click", () => switchEnv(b.dataset.env));
for (const b of $$('[role="tab"]')) b.addEventListener("click", () => setTab(b.dataset.tab));
tid("export-attempt").addEventListener("click", () => state.attempt ? exportAs("exportAttempt", { attempt_id: state.attempt.id }) : exportAs("exportSession", {}));
tid("export-session").addEventListener("click", () => exportAs("exportSession", {}));
tid("scenario-select").addEventListener("change", (e) => applyScenario(e.target.value));
tid("theme-toggle").addEventListener("click", toggleTheme);
tid("help-open").addEventListener("click", showHelp);
tid("sim-details").addEventListener("click", showSimulator);
tid("audit-open").addEventListener("click", () => showAudit());
tid("show-unlinked").addEventListener("change", loadAccounts);
tid("timeline-filter").addEventListener("change", loadTimeline);
tid("version").addEventListener("click", () => inform("About linkdesk", [
  el("p", {}, el("b", { text: "linkdesk " + (state.info ? state.info.version : "") })),
  el("p", { text: "Links Cybrid customers' external bank accounts through Plaid Link. Environment: " + (state.info ? state.info.environment : "?") + "." }),
]));
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
    err.textContent = problemLine(problemOf(x));
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
    showBanner("linkdesk could not start: " + problemLine(problemOf(e)));
    return;
  }
  if (!state.info.problem) {
    // [start-up] Plaid's script loads when a customer is opened, and the
    // simulator's scenario catalogue once the page is ready: neither is
    // needed to show the customers.
    loadRecovered();
    try {
      const p = await customers;
      state.customers = p.customers;
      state.total = p.total;
      state.customersError = null;
    } catch (e) {
      state.customersError = problemOf(e);
    }
    renderCustomers();
  }
  document.body.dataset.ready = "true";
  call("ready", {}).catch(() => {});
  if (state.info && !state.info.needs_credentials && state.info.environment === "sim") setTimeout(loadScenarios, 0); // [start-up]
})();
