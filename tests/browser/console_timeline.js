// tests/browser/console_timeline.js — the console's timeline zoomed out to
// 7 days over an archive with more fragments than the exact view lists, in
// headless Chromium (Debian's, driven by playwright-core) against the real
// framelogd. Used by tests/test_console.c (console_timeline_week).
//
//   node console_timeline.js SERVER_URL STREAM BURSTS_JSON ARTIFACTS_DIR
//
// BURSTS_JSON: [[start_ms, end_ms], ...] the producer times of the pushed
// bursts, oldest first; together they hold more fragments than the exact
// view's cap, which the page's `?fragmentPage=10` makes 10 pages of 10
// (docs/console.md), and the newest burst lies past the first 100.
// Steps (each must pass; the first failure ends the run), once the stream
// is idle (no LIVE player):
//   week       the 7-day view's spans (main's data-spans) cover every burst,
//              the oldest and the newest, and not the middle between them;
//              the timeline says it is sampled (data-mode, its note)
//   replay     a click on the newest burst plays from a fragment there (the
//              frame's wall-clock time is near the time played from)
//   thumbnail  hovering on the newest burst shows a JPEG; hovering in the
//              gap shows none
//   errors     no error in the browser's console and no failed request
// Prints one JSON line {ok, steps, errors} and exits 0 when every step
// passed; steps.week has the sampling's request count and time.
'use strict';
const path = require('path');
const { chromium } = require('playwright-core');

const [base, NAME, burstsJson, dir] = process.argv.slice(2);
const bursts = JSON.parse(burstsJson);
const steps = {};
const errors = [];
const sleep = ms => new Promise(r => setTimeout(r, ms));

async function until(what, fn, ms = 60000, every = 250) {
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < ms) {
    try { last = await fn(); if (last) return last; } catch (e) { last = String(e); }
    await sleep(every);
  }
  throw new Error(`${what}: not within ${ms / 1000} s (last: ${JSON.stringify(last)})`);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required'],
  });
  let ok = false;
  try {
    const page = await (await browser.newContext({ viewport: { width: 1280, height: 720 } })).newPage();
    page.on('console', m => { if (m.type() === 'error') errors.push('console: ' + m.text()); });
    page.on('pageerror', e => errors.push('page: ' + e.message));
    page.on('requestfailed', r => { const why = (r.failure() || {}).errorText; if (why !== 'net::ERR_ABORTED') errors.push('request failed: ' + r.url() + ' ' + why); });
    page.on('response', r => { if (r.status() >= 400) errors.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`); });
    const images = [];
    page.on('response', async r => { if (r.url().endsWith('/getImages')) images.push((await r.text().catch(() => '')).slice(0, 120)); });

    // the stream idle first (its newest fragment arrived 26 s ago or more),
    // so that the page does not start a LIVE player on the newest burst
    // (its blocking playlist reloads would wait for fragments that never
    // come, and end in 503s)
    await until('the stream idle', async () => {
      const r = await (await fetch(base + '/framelog/listStreamStatus', { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ StreamName: NAME }) })).json();
      const f = r.StreamStatus[0].LastFragment;
      return f && f.AgeInMilliseconds > 26000;
    }, 90000, 1000);
    await page.goto(`${base}/console/?fragmentPage=10#/stream/${NAME}`);
    await page.waitForSelector('canvas.timeline');
    await page.click('.zooms button:has-text("7 days")');
    // the view is 7 days, and its spans cover every burst
    const covers = (spans, a, b) => spans.some(([s, e]) => s <= b && e >= a);
    const first = bursts[0], last = bursts[bursts.length - 1];
    let seen = null;
    const view = () => page.evaluate(() => {
      const c = document.querySelector('canvas.timeline'), m = document.querySelector('main');
      return { spans: JSON.parse(m.dataset.spans || '[]'), mode: m.dataset.mode, busy: m.dataset.busy,
        start: Number(c.dataset.start), end: Number(c.dataset.end),
        requests: Number(m.dataset.sampleRequests || 0), ms: Number(m.dataset.sampleMs || 0),
        bucketMs: Number(m.dataset.bucketMs || 0), note: m.dataset.note || '' };
    });
    const week = await until('the 7-day view covering every burst', async () => {
      const v = seen = await view();
      return v.end - v.start > 6.9 * 86400e3 && v.busy !== '1' && (v.mode !== 'sampled' || v.ms > 0) && bursts.every(([a, b]) => covers(v.spans, a, b)) && v;
    }, 120000, 500).catch(e => { throw new Error(`week: ${e.message.split(' (last')[0]}; bursts ${burstsJson}, seen ${JSON.stringify(seen)}`); });
    const report = Object.assign({}, week, { spans: week.spans.length });
    const mid = (bursts[bursts.length - 2][1] + last[0]) / 2;
    if (covers(week.spans, mid - 3600e3, mid + 3600e3)) throw new Error('week: the gap is covered ' + JSON.stringify(week.spans));
    if (week.mode !== 'sampled' || !/sampled per/.test(week.note)) throw new Error('week: not said to be sampled ' + JSON.stringify(report));
    if (!(first[0] >= week.start && last[1] <= week.end)) throw new Error('week: the bursts are not all in view ' + JSON.stringify(report));
    steps.week = report;
    await page.locator('canvas.timeline').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(dir, 'stream-week.png') });

    // replay: a click in the middle of the newest burst
    const box = await page.locator('canvas.timeline').boundingBox();
    const xOf = t => page.evaluate(t => { const c = document.querySelector('canvas.timeline'); return ((t - Number(c.dataset.start)) / (Number(c.dataset.end) - Number(c.dataset.start))) * c.clientWidth; }, t);
    const target = (last[0] + last[1]) / 2;
    const x = await xOf(target);
    await page.mouse.click(box.x + x, box.y + box.height / 2);
    const from = await until('replay starts', () => page.evaluate(() => Number(document.querySelector('main').dataset.replayFrom || 0)), 30000);
    if (!(from >= last[0] - 1000 && from <= last[1])) throw new Error(`replay: from ${from}, not in the burst ${last}`);
    const rw = await until('the replayed frame is near the time played from', () => page.evaluate(f => {
      const t = Number(document.querySelector('.wall').dataset.t || 0);
      return t && t >= f - 1500 && t <= f + 5000 && /REPLAY/.test(document.querySelector('.mode').textContent) && { t, from: f };
    }, from), 60000);
    steps.replay = rw;

    // thumbnails: the burst has a picture, the gap none
    const features = await (await fetch(base + '/framelog/features')).json();
    if (features.APIs.GetImages) {
      const tip = () => page.evaluate(() => { const i = document.querySelector('.tip img'); return { shown: !i.hidden && i.src.startsWith('data:image/jpeg') && i.complete && i.naturalWidth > 0 }; });
      // a pixel is 8 minutes: find one whose time (data-hover) is inside
      // the newest burst, a quarter pixel at a time
      const y = box.y + box.height / 2;
      let xb = null;
      for (let dx = -2; dx <= 2 && xb === null; dx += 0.25) {
        await page.mouse.move(box.x + x + dx, y);
        const h = Number(await page.getAttribute('canvas.timeline', 'data-hover'));
        if (h >= last[0] + 5000 && h <= last[1] - 5000) xb = x + dx;
      }
      if (xb === null) throw new Error('thumbnail: no pixel inside the newest burst');
      await page.mouse.move(box.x + xb - 3, y);
      await page.mouse.move(box.x + xb, y);
      const got = await until('a thumbnail on the burst', async () => (await tip()).shown, 30000)
        .catch(e => { throw new Error(e.message + ' ' + JSON.stringify(images)); });
      const n = images.length;
      const xg = await xOf(mid);
      await page.mouse.move(box.x + xg - 3, y);
      await page.mouse.move(box.x + xg, y);
      await until('GetImages asked in the gap', () => images.length > n && images.length, 30000);
      await sleep(500);
      const gap = await tip();
      if (gap.shown) throw new Error('thumbnail: a picture in the gap ' + JSON.stringify(images));
      if (!/NO_MEDIA/.test(images[images.length - 1])) throw new Error('thumbnail: the gap\'s answer ' + images[images.length - 1]);
      steps.thumbnail = { burst: got, gap: 'NO_MEDIA' };
    } else {
      steps.thumbnail = 'waits for GetImages';
    }
    steps.errors = errors.length === 0;
    ok = errors.length === 0;
  } catch (e) {
    steps.failed = String(e && e.stack || e);
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify({ ok, steps, errors: errors.slice(0, 20) }));
  process.exit(ok ? 0 : 1);
})().catch(e => { console.log(JSON.stringify({ ok: false, exception: String(e), errors })); process.exit(2); });
