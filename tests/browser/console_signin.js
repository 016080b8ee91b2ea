// tests/browser/console_signin.js — the console's sign-in against a
// framelogd with access keys on, in headless Chromium. Used by
// tests/test_console.c.
//
//   node console_signin.js SERVER_URL ACCESS_KEY_ID SECRET ARTIFACTS_DIR
//
// Steps: the console opens on the sign-in form (GET /framelog/features says
// SignInRequired) without calling any API; a wrong secret is refused with
// the server's reason on the form; the right key signs in: the streams
// page lists, the form creates a stream (signed CreateStream, ListStreams,
// ListTagsForStream, ListStreamStatus), the Server page reads /metrics;
// the secret is in sessionStorage only (not localStorage, not a cookie,
// not the URL) and survives a reload of the tab; Sign out forgets it.
// The only errors allowed in the browser's console are the wrong key's
// refusal (403 on /listStreams). Prints {ok, steps, errors}.
'use strict';
const path = require('path');
const { chromium } = require('playwright-core');

const [base, ak, sk, dir] = process.argv.slice(2);
const steps = {};
const errors = [];
let expectRefusal = false;
const sleep = ms => new Promise(r => setTimeout(r, ms));
async function until(what, fn, ms = 30000) {
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < ms) {
    try { last = await fn(); if (last) return last; } catch (e) { last = String(e); }
    await sleep(200);
  }
  throw new Error(`${what}: not within ${ms / 1000} s (last: ${JSON.stringify(last)})`);
}

(async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'] });
  let ok = false;
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 720 } })).newPage();
    const refused = [];
    page.on('console', m => {
      if (m.type() !== 'error') return;
      if (expectRefusal && /status of 403/.test(m.text())) return; // the wrong key's answer, below
      errors.push('console: ' + m.text());
    });
    page.on('pageerror', e => errors.push('page: ' + e.message));
    page.on('response', r => {
      if (r.status() < 400) return;
      if (expectRefusal && r.status() === 403 && r.url().endsWith('/listStreams')) refused.push(r.url());
      else errors.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`);
    });
    const apiCalls = [];
    page.on('request', r => { if (r.method() === 'POST') apiCalls.push(r.url()); });

    await page.goto(base + '/');
    await until('the sign-in form', () => page.isVisible('#signin-form'));
    steps.form = apiCalls.length === 0 || 'API calls before sign-in: ' + apiCalls.join(' ');
    if (steps.form !== true) throw new Error(steps.form);

    // wrong secret
    expectRefusal = true;
    await page.fill('#signin-form [name=ak]', ak);
    await page.fill('#signin-form [name=sk]', sk.slice(0, -2) + (sk.endsWith('AA') ? 'BB' : 'AA'));
    await page.click('#signin-form button[type=submit]');
    const msg = await until('the refusal on the form', () => page.evaluate(() => document.getElementById('signin-error').textContent));
    if (!/Refused/.test(msg) || !/signature/i.test(msg)) throw new Error('wrong key: ' + msg);
    if (!refused.length) throw new Error('wrong key: no 403 seen');
    steps.wrongKey = msg;
    await page.screenshot({ path: path.join(dir, 'signin-refused.png') });
    expectRefusal = false;

    // the right one
    await page.fill('#signin-form [name=sk]', sk);
    await page.click('#signin-form button[type=submit]');
    await until('signed in', () => page.evaluate(() => document.getElementById('signin').hidden && !!document.querySelector('form.create')));
    await page.fill('form.create input[name=name]', 'signed-cam');
    await page.click('form.create button[type=submit]');
    steps.create = await until('the stream made with a signed call', () => page.locator('tr[data-stream="signed-cam"]').count());
    steps.who = await page.evaluate(() => document.getElementById('who').textContent);
    const store = await page.evaluate(() => ({ session: sessionStorage.getItem('framelog.key') || '', local: JSON.stringify(localStorage), cookie: document.cookie, url: location.href }));
    if (!store.session.includes(sk) || store.local.includes(sk) || store.cookie.includes(sk) || store.url.includes(sk))
      throw new Error('the secret is kept elsewhere than sessionStorage: ' + JSON.stringify(store));
    steps.storage = true;
    await page.screenshot({ path: path.join(dir, 'signin-streams.png') });

    await page.click('nav a[data-page=server]');
    steps.server = await until('metrics plotted', () => page.evaluate(() => /\d/.test((document.querySelector('[data-plot=disk] .plot-value') || {}).textContent || '') && document.querySelector('[data-plot=disk] .plot-value').textContent), 30000);

    await page.reload();
    await until('still signed in after a reload', () => page.evaluate(() => document.getElementById('signin').hidden && document.body.dataset.ready === '1'));
    await page.click('#who button');
    await until('signed out', () => page.isVisible('#signin-form'));
    steps.signOut = await page.evaluate(() => sessionStorage.getItem('framelog.key') === null);
    ok = errors.length === 0 && steps.signOut === true;
  } catch (e) {
    steps.failed = String(e && e.stack || e);
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify({ ok, steps, errors: errors.slice(0, 20) }));
  process.exit(ok ? 0 : 1);
})().catch(e => { console.log(JSON.stringify({ ok: false, exception: String(e) })); process.exit(2); });
