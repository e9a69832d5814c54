// The page's side of the page↔Go contract (Go's side: package app/pageapi).
// Every call the page can make and every message Go pushes is named here,
// and only here; a Go test checks that both sides list the same names.
//
// Calls go to Go as a same-origin POST /call/<name> with the per-launch
// secret in a header; the answer is the HTTP response. No function is bound
// into the page. Go's messages arrive through window.linkdesk.push(msg).

export const CALLS = Object.freeze([
  "applyScenario",
  "audit.export",
  "audit.list",
  "cancel",
  "currentAttempt",
  "customerNames",
  "exportAttempt",
  "exportSession",
  "info",
  "linkShown",
  "listAccounts",
  "listCustomers",
  "oauth.browserAction",
  "oauth.browserWait",
  "oauth.route",
  "oauth.setRoute",
  "openExportFolder",
  "plaid.onEvent",
  "plaid.onExit",
  "plaid.onLoad",
  "plaid.onSuccess",
  "prefetchLink",
  "prefetchRefused",
  "ready",
  "recovered.dismiss",
  "recovered.list",
  "recovered.recheck",
  "resetSimulator",
  "retryAccount",
  "retryEnvironment",
  "runningAttempts",
  "scenarios",
  "searchCustomers",
  "startLink",
  "startRefresh",
  "storeCredentials",
  "switchEnvironment",
  "timeline",
  "unlinkAccount",
  "verifyAccount",
]);

export const PUSH = Object.freeze({
  ATTEMPT: "attempt",
  OAUTH_BROWSER: "oauth_browser",
  OAUTH_REDIRECT: "oauth_redirect",
  POPUP: "popup",
  PREPARED: "prepared",
  RECOVERED: "recovered",
  TIMELINE: "timeline",
});

const secret = document.querySelector('meta[name="linkdesk-session"]').content;

// call asks Go for method with params and resolves with its result; it
// rejects with an Error whose message is Go's error message and, when Go
// classified the failure, whose .problem is {kind, headline, fix, detail,
// action} (see app/problem).
export async function call(method, params = {}) {
  if (!CALLS.includes(method)) throw new Error(`linkdesk's page has no call named ${method}`);
  let r;
  try {
    r = await fetch("/call/" + method, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Linkdesk-Secret": secret },
      body: JSON.stringify(params),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (e) {
    throw new Error("linkdesk did not answer (" + (e && e.message ? e.message : e) + "). If this repeats, restart linkdesk.");
  }
  let body = null;
  try { body = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) {
    const err = new Error((body && body.error) || `linkdesk answered ${r.status}`);
    if (body && body.problem && typeof body.problem === "object") err.problem = body.problem;
    throw err;
  }
  return body;
}

const listeners = [];

// onPush registers fn for every message Go pushes.
export function onPush(fn) { listeners.push(fn); }

// Go evaluates window.linkdesk.push(<JSON>); nothing else in the page may
// replace it.
Object.defineProperty(window, "linkdesk", {
  value: Object.freeze({
    push(msg) {
      for (const fn of listeners) {
        try { fn(msg); } catch (e) { console.error("linkdesk push handler", e); }
      }
    },
  }),
  writable: false,
  configurable: false,
});
