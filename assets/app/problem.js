// Problems as the operator sees them. Go classifies every failure (package
// app/problem) into {kind, headline, fix, detail, action}: a failed call's
// error carries it as .problem (contract.js), an attempt as attempt.problem,
// a session waiting for its environment as info.problem. This module is the
// one way the page shows one: the headline first, how to fix it below, the
// technical detail folded (for a bug report), and the one action Go says
// may help.

import { el } from "./dom.js";

// problemOf returns the Problem of a failed call's error, or one made of
// its message when Go sent none (a transport refusal).
export function problemOf(err) {
  if (err && err.problem) return err.problem;
  return { kind: "other", headline: err ? String(err.message || err) : "Something went wrong." };
}

// problemView renders p. actions maps an action name (p.action, or any
// name in extra) to {label, run}: the buttons offered, p's own first.
// testid names the box; its parts are testid-headline, -fix, -detail and
// -action (p's own action).
export function problemView(p, { testid = "problem", actions = {}, extra = [], lead = "" } = {}) {
  const own = p.action && actions[p.action];
  const buttons = [];
  if (own) buttons.push(el("button", { class: "primary", "data-testid": testid + "-action", text: own.label, onclick: own.run }));
  for (const name of extra) {
    if (name === p.action || !actions[name]) continue;
    buttons.push(el("button", { "data-testid": testid + "-" + name.replaceAll("_", "-"), text: actions[name].label, onclick: actions[name].run }));
  }
  return el("div", { class: "problem", "data-testid": testid, "data-kind": p.kind, role: "alert" },
    lead ? el("div", { class: "lead", text: lead }) : null,
    el("div", { class: "h", "data-testid": testid + "-headline", text: p.headline }),
    p.fix ? el("div", { class: "fix", "data-testid": testid + "-fix", text: p.fix }) : null,
    p.detail ? el("details", { class: "detail" }, el("summary", { text: "Technical detail" }),
      el("pre", { "data-testid": testid + "-detail", text: p.detail })) : null,
    buttons.length ? el("div", { class: "actions" }, buttons) : null);
}

// problemLine is p as one line, for the Activity list and notices.
export function problemLine(p) {
  return p.fix ? `${p.headline} ${p.fix}` : p.headline;
}
