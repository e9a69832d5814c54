// Drives Cybrid's web SDK (@cybrid/cybrid-sdk-ui-js) in headless Chromium
// against linkdesk's simulator. Started by websdk_test.go, which owns the
// simulator, the TLS front that answers bank.sandbox.cybrid.app and
// cdn.plaid.com, and the host page's server; it reads the outcome from
// stdout and checks the simulator's state afterwards.
//
// Input: JSON in $LINKDESK_WEBSDK_CONFIG
//   {chromium, resolverRules, spki, hostURL, simURL, token, customer, artifacts, timeoutMs}
// (token is a customer token: never printed).
// Output: one JSON object per line on stdout:
//   {step, ok, ms, shown?, accounts?, error?, sdkErrors?, httpErrors?}
// then {done: true}. Exit status 0 when every step passed. Screenshots of
// every step go to <artifacts>/NN-<name>.png. Diagnostics go to stderr.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const cfg = JSON.parse(process.env.LINKDESK_WEBSDK_CONFIG || '{}');
const STEP_TIMEOUT = 20000;
const LINK = 'https://cdn.plaid.com/link/v2/stable/link.html';
let shot = 0;

function out(obj) { process.stdout.write(JSON.stringify(obj) + '\n'); }
function log(...a) { process.stderr.write(a.join(' ') + '\n'); }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function screenshot(page, name) {
  shot += 1;
  const file = path.join(cfg.artifacts, String(shot).padStart(2, '0') + '-' + name + '.png');
  await page.screenshot({ path: file });
  return file;
}

// until polls fn (async, truthy = done) until it holds or the step times out.
async function until(what, fn, timeout = STEP_TIMEOUT) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    await sleep(100);
  }
  throw new Error('timed out waiting for ' + what + (last ? ' (' + last.message + ')' : ''));
}

// The SDK's page text (the host page, SDK included; not Link's iframe).
const pageText = (page) => page.evaluate(() => document.body.innerText);

async function waitText(page, text) {
  await until('"' + text + '" on the page', async () => (await pageText(page)).includes(text));
}

// linkFrame returns the frame of the Plaid Link iframe that is on screen
// (a page can hold several: the SDK creates a handler per attempt).
async function linkFrame(page) {
  return until('Plaid Link on screen', async () => {
    for (const f of page.frames()) {
      if (!f.url().startsWith(LINK)) continue;
      const el = await f.frameElement();
      if (el && await el.evaluate((e) => e.style.display !== 'none')) return f;
    }
    return null;
  });
}

async function view(frame, name) {
  await frame.waitForSelector('body[data-view="' + name + '"]', { timeout: STEP_TIMEOUT });
}

const tid = (id) => '[data-testid="' + id + '"]';

// signIn walks Link from consent to Account Select at a credentials bank.
async function signIn(frame, institution) {
  await view(frame, 'CONSENT');
  await frame.click(tid('consent-continue'));
  await view(frame, 'SELECT_INSTITUTION');
  await frame.click(tid('institution-' + institution));
  await view(frame, 'CREDENTIAL');
  await frame.type(tid('credentials-username'), 'user_good');
  await frame.type(tid('credentials-password'), 'pass_good');
  await frame.click(tid('credentials-submit'));
}

async function pickAccount(page, frame, mask, shotName) {
  await view(frame, 'SELECT_ACCOUNT');
  await frame.click(tid('account-' + mask));
  await screenshot(page, shotName);
  await frame.click(tid('account-continue'));
  await view(frame, 'CONNECTED');
  await frame.click(tid('connected-continue'));
}

// confirmUSD answers the SDK's "Confirm Currency" dialog (Plaid's metadata
// carries no iso_currency_code) and waits for the SDK's success message.
async function confirmUSD(page, name) {
  await waitText(page, 'Confirm Currency');
  await screenshot(page, name + '-confirm-currency');
  await page.click('app-bank-account-confirm button#confirm');
  await waitText(page, 'Account successfully added.');
  return screenshot(page, name + '-added');
}

async function api(p, init = {}) {
  const r = await fetch(cfg.simURL + p, { ...init, headers: { Authorization: 'Bearer ' + cfg.token, ...(init.headers || {}) } });
  const j = await r.json();
  if (!r.ok) throw new Error(p + ': HTTP ' + r.status + ' ' + j.message_code);
  return j;
}

async function main() {
  fs.mkdirSync(cfg.artifacts, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'linkdesk-websdk-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: cfg.chromium,
    headless: true,
    userDataDir: profile,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--no-first-run', '--disable-sync',
      // Cybrid's and Plaid's hosts go to the test's TLS front; nothing
      // else leaves the machine.
      '--host-resolver-rules=' + cfg.resolverRules + ', MAP * ~NOTFOUND, EXCLUDE localhost',
      '--ignore-certificate-errors-spki-list=' + cfg.spki],
  });
  let ok = true;
  try {
    const steps = [
      ['new-link', stepNewLink],
      ['exit-and-resume', stepExitAndResume],
      ['oauth-bank', stepOAuth],
      ['expire', stepExpire],
      ['list-refresh-required', stepListRefreshRequired],
      ['update-mode', stepUpdateMode],
      ['list-after-update', stepListAfterUpdate],
    ];
    const ctx = {};
    for (const [name, fn] of steps) {
      const page = await browser.newPage();
      await page.setViewport({ width: 1100, height: 820 });
      const sdkErrors = [];
      const httpErrors = [];
      page.on('console', (m) => {
        const t = m.text();
        if (t.startsWith('sdk error ')) sdkErrors.push(JSON.parse(t.slice(10)));
        log('[' + name + '] console.' + m.type() + ': ' + t.slice(0, 400));
      });
      page.on('pageerror', (e) => log('[' + name + '] page error: ' + e.message));
      page.on('response', (r) => {
        const u = new URL(r.url());
        if ((u.hostname.endsWith('cybrid.app') || u.hostname === 'cdn.plaid.com') && r.status() >= 400) {
          httpErrors.push(r.request().method() + ' ' + u.pathname + ' → ' + r.status());
        }
      });
      page.on('requestfailed', (r) => log('[' + name + '] request failed: ' + r.url().split('?')[0] + ' ' + (r.failure() || {}).errorText));
      await page.evaluateOnNewDocument((token, customer) => { window.__linkdesk = { token, customer }; }, cfg.token, cfg.customer);
      const started = Date.now();
      try {
        const res = (await fn(page, browser, ctx)) || {};
        out({ step: name, ok: true, ms: Date.now() - started, sdkErrors, httpErrors, ...res });
      } catch (e) {
        ok = false;
        let file = '';
        try { file = await screenshot(page, name + '-failure'); } catch { /* page gone */ }
        out({ step: name, ok: false, ms: Date.now() - started, error: e.message, screenshot: file, sdkErrors, httpErrors });
        break;
      } finally {
        await page.close().catch(() => {});
      }
    }
  } finally {
    await browser.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
  out({ done: true });
  return ok;
}

const open = (page, query) => page.goto(cfg.hostURL + '/?' + query, { waitUntil: 'domcontentloaded' });

// New link: consent, First Platypus Bank, user_good, Plaid Checking 0000.
async function stepNewLink(page) {
  await open(page, 'component=bank-account-connect');
  const frame = await linkFrame(page);
  await view(frame, 'CONSENT');
  await screenshot(page, 'new-link-consent');
  await signIn(frame, 'ins_109508');
  await pickAccount(page, frame, '0000', 'new-link-select-account');
  await confirmUSD(page, 'new-link');
  return { shown: 'Account successfully added.' };
}

// Exit at consent (onExit with no error), "Resume adding account", then a
// second Link (a new workflow and handler) links Plaid Saving 1111.
async function stepExitAndResume(page) {
  await open(page, 'component=bank-account-connect');
  let frame = await linkFrame(page);
  await view(frame, 'CONSENT');
  await frame.click(tid('close'));
  await waitText(page, 'Resume adding account');
  await screenshot(page, 'exit-resume-offered');
  await page.click('button::-p-text(RESUME)');
  frame = await until('a second Link', async () => {
    const f = await linkFrame(page);
    const n = page.frames().filter((x) => x.url().startsWith(LINK)).length;
    return n >= 2 ? f : null;
  });
  await signIn(frame, 'ins_109508');
  await pickAccount(page, frame, '1111', 'exit-resume-select-account');
  await confirmUSD(page, 'exit-resume');
  return { shown: 'Resume adding account → Account successfully added.' };
}

// OAuth bank: Platypus OAuth Bank in a pop-up under https://cdn.plaid.com
// (through the front), Approve, back in Link at Account Select.
async function stepOAuth(page, browser) {
  await open(page, 'component=bank-account-connect');
  const frame = await linkFrame(page);
  await view(frame, 'CONSENT');
  await frame.click(tid('consent-continue'));
  await view(frame, 'SELECT_INSTITUTION');
  await frame.click(tid('institution-ins_127287'));
  await view(frame, 'OAUTH');
  await screenshot(page, 'oauth-continue-to-bank');
  const popupTarget = browser.waitForTarget((t) => t.url().includes('/link/v2/stable/sandbox-oauth-login.html'), { timeout: STEP_TIMEOUT });
  await frame.click(tid('oauth-continue')); // a real click: the pop-up is a user gesture
  const popup = await (await popupTarget).page();
  await popup.setViewport({ width: 520, height: 720 });
  const popupURL = new URL(popup.url());
  await popup.waitForFunction(() => document.querySelector('[data-testid="bank-name"]').textContent === 'Platypus OAuth Bank', { timeout: STEP_TIMEOUT });
  await screenshot(popup, 'oauth-bank-page');
  const closed = new Promise((resolve) => popup.once('close', resolve));
  await popup.click(tid('bank-approve'));
  await Promise.race([closed, sleep(STEP_TIMEOUT).then(() => { throw new Error('the bank pop-up did not close after Approve'); })]);
  await pickAccount(page, frame, '0000', 'oauth-select-account');
  await confirmUSD(page, 'oauth');
  return { shown: 'Account successfully added.', popupOrigin: popupURL.origin };
}

// The simulator's hook expires the first account's bank connection
// (POST /sim/external_bank_accounts/{guid}/expire): refresh_required.
async function stepExpire(page, browser, ctx) {
  const list = await api('/api/external_bank_accounts?customer_guid=' + cfg.customer + '&per_page=100');
  const first = list.objects.find((a) => a.plaid_institution_id === 'ins_109508' && a.plaid_account_mask === '0000' && a.state !== 'failed');
  if (!first) throw new Error('no account at ins_109508 with mask 0000 to expire: ' + JSON.stringify(list.objects.map((a) => [a.plaid_institution_id, a.plaid_account_mask, a.state])));
  await until('the account to leave storing', async () => (await api('/api/external_bank_accounts/' + first.guid)).state !== 'storing', 10000);
  const r = await fetch(cfg.simURL + '/sim/external_bank_accounts/' + first.guid + '/expire', { method: 'POST' });
  const a = await r.json();
  if (r.status !== 200 || a.state !== 'refresh_required') throw new Error('expire hook: HTTP ' + r.status + ' ' + JSON.stringify(a));
  ctx.expired = first.guid;
  return { account: first.guid };
}

// listRows waits for bank-account-list to show three settled accounts and
// returns its rows as "<name> <mask>: <status>".
async function listRows(page) {
  return until('three accounts listed', async () => {
    const lines = (await pageText(page)).split('\n').map((l) => l.trim()).filter(Boolean);
    const rows = [];
    lines.forEach((l, i) => {
      if (l.startsWith('Plaid ')) rows.push(l + ' ' + lines[i + 1] + ': ' + lines[i + 2]);
    });
    return rows.length === 3 && !rows.some((r) => r.endsWith('Pending')) ? rows : null;
  });
}

// bank-account-list shows the three accounts, the expired one as
// "Refresh required".
async function stepListRefreshRequired(page) {
  await open(page, 'component=bank-account-list');
  const rows = await until('the expired account as "Refresh required"', async () => {
    const r = await listRows(page);
    return r.some((x) => x.endsWith(': Refresh required')) ? r : null;
  });
  await screenshot(page, 'list-refresh-required');
  return { shown: rows };
}

// Update mode: the host page names the account (?external_bank_account=),
// the SDK creates a link_token_update workflow, Link opens at the bank's
// sign-in, and on success the SDK PATCHes the account to completed.
async function stepUpdateMode(page, browser, ctx) {
  await open(page, 'component=bank-account-connect&external_bank_account=' + ctx.expired);
  const frame = await linkFrame(page);
  await view(frame, 'CREDENTIAL');
  await screenshot(page, 'update-mode-sign-in');
  await frame.type(tid('credentials-username'), 'user_good');
  await frame.type(tid('credentials-password'), 'pass_good');
  await frame.click(tid('credentials-submit'));
  await view(frame, 'CONNECTED');
  await frame.click(tid('connected-continue'));
  await waitText(page, 'Account successfully reconnected.');
  await screenshot(page, 'update-mode-reconnected');
  return { shown: 'Account successfully reconnected.' };
}

async function stepListAfterUpdate(page) {
  await open(page, 'component=bank-account-list');
  const rows = await listRows(page);
  if (rows.some((r) => r.endsWith(': Refresh required'))) throw new Error('an account is still "Refresh required" after update mode: ' + rows.join(' | '));
  await screenshot(page, 'list-after-update');
  return { shown: rows };
}

const timer = setTimeout(() => { out({ step: 'timeout', ok: false, error: 'the driver ran past ' + cfg.timeoutMs + ' ms' }); process.exit(2); }, cfg.timeoutMs || 120000);
main().then((ok) => { clearTimeout(timer); process.exit(ok ? 0 : 1); }, (e) => {
  clearTimeout(timer);
  out({ step: 'driver', ok: false, error: String(e && e.stack || e) });
  process.exit(1);
});
