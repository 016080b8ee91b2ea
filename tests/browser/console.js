// tests/browser/console.js — the web console in headless Chromium (Debian's,
// driven by playwright-core) against the real framelogd, the way a person
// uses it. Used by tests/test_console.c.
//
//   node console.js SERVER_URL FRAMELOG_PUT VIDEO_FILE ARTIFACTS_DIR
//
// Steps (each must pass; the first failure ends the run):
//   sigv4      the console's SigV4 signer gives AWS's get-vanilla signature
//   open       / redirects to the console, which loads
//   create     a stream made with the Create form shows in the table
//   live       framelog-put --realtime pushes VIDEO_FILE; the row says live
//   plays      the stream page plays LIVE: currentTime advances, the frame is
//              not blank, the frame's wall-clock time and the delay are shown
//   timeline   the timeline holds the pushed fragments (drawn in the data colour)
//   replay     a click 2 s after the first fragment plays ON_DEMAND from there
//              (the frame's wall-clock time is near the clicked time)
//   thumbnail  (when the server has GetImages) hovering shows a JPEG of that time
//   records    records put in the companion data stream (<stream>-events) are
//              listed and marked
//   clip       (when the server has GetClip) a selected range downloads as
//              ARTIFACTS_DIR/clip.mp4; otherwise the page says it waits for it
//   server     the Server page plots ingest from /metrics
//   keyboard   Tab reaches the stream's link, Enter opens it, the timeline
//              takes focus and Enter plays from its cursor
//   phone      at 390x844 nothing overflows sideways
//   errors     no error in the browser's console and no failed request, from
//              start to end
// Prints one JSON line {ok, steps, errors, clip: {start, end} or null} and
// exits 0 when every step passed. Screenshots go to ARTIFACTS_DIR.
'use strict';
const { spawn } = require('child_process');
const path = require('path');
const { chromium } = require('playwright-core');

const [base, putBin, video, dir] = process.argv.slice(2);
const NAME = 'cam1';
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

async function kinesis(op, body) {
  const res = await fetch(base + '/', { method: 'POST', body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'Kinesis_20131202.' + op } });
  if (!res.ok) throw new Error(`${op}: ${res.status} ${await res.text()}`);
  return res.json();
}

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required'],
  });
  let put = null, recTimer = null, ok = false, clip = null;
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, acceptDownloads: true });
    const page = await context.newPage();
    page.on('console', m => { if (m.type() === 'error') errors.push('console: ' + m.text()); });
    page.on('pageerror', e => errors.push('page: ' + e.message));
    // a load the page cancels (hls.js stopping a segment when the player
    // switches to a replay) is ERR_ABORTED: not a failure
    page.on('requestfailed', r => { const why = (r.failure() || {}).errorText; if (why !== 'net::ERR_ABORTED') errors.push('request failed: ' + r.url() + ' ' + why); });
    page.on('response', r => { if (r.status() >= 400) errors.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`); });
    const thumbCalls = [];
    page.on('response', async r => { if (r.url().endsWith('/getImages')) thumbCalls.push([r.request().postData(), (await r.text().catch(() => '')).slice(0, 200)]); });
    const shot = async name => page.screenshot({ path: path.join(dir, name + '.png') });

    // sigv4: AWS's test suite, get-vanilla
    await page.goto(base + '/');
    steps.open = await until('the console loads', () => page.evaluate(() => location.pathname === '/console/' && document.body.dataset.ready === '1'), 20000);
    steps.sigv4 = await page.evaluate(async () => {
      const m = await import('/console/js/sigv4.js');
      const r = await m.sign({ method: 'GET', url: 'http://example.amazonaws.com/', headers: {} },
        { ak: 'AKIDEXAMPLE', sk: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', region: 'us-east-1' },
        'service', new Date(Date.UTC(2015, 7, 30, 12, 36, 0)));
      return r.signature === '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31' || r.signature;
    });
    if (steps.sigv4 !== true) throw new Error('sigv4: got signature ' + steps.sigv4);
    await shot('streams-empty');

    // create
    await page.fill('form.create input[name=name]', NAME);
    await page.fill('form.create input[name=ret]', '2');
    await page.fill('form.create input[name=tags]', 'site=lab');
    await page.click('form.create button[type=submit]');
    steps.create = await until('the new stream in the table', () => page.locator(`tr[data-stream=${NAME}]`).count(), 20000);
    await kinesis('CreateStream', { StreamName: NAME + '-events', ShardCount: 1 });

    // live
    put = spawn(putBin, [video, NAME, '--endpoint', base, '--realtime', '--no-create'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let putErr = '';
    put.stderr.on('data', d => { putErr += d; });
    put.on('exit', c => { put.exited = c; });
    let n = 0;
    recTimer = setInterval(() => {
      kinesis('PutRecord', { StreamName: NAME + '-events', PartitionKey: 'detector',
        Data: Buffer.from(JSON.stringify({ event: 'motion', n: n++ })).toString('base64') }).catch(e => errors.push('PutRecord: ' + e));
    }, 3000);
    steps.live = await until('the row says live', () => page.getAttribute(`tr[data-stream=${NAME}] .badge`, 'data-state').then(s => s === 'live' || (put.exited !== undefined && 'framelog-put ended: ' + putErr)), 60000);
    if (steps.live !== true) throw new Error(String(steps.live));
    await sleep(2500); // a bitrate and a fragment age to show
    await shot('streams');

    // plays
    await page.click(`tr[data-stream=${NAME}] th a`);
    await page.waitForSelector('.player video');
    const t0 = await until('LIVE starts', () => page.evaluate(() => { const v = document.querySelector('video'); return v.currentTime > 0 && v.currentTime; }), 60000);
    const played = await until('currentTime advances', () => page.evaluate(t => { const v = document.querySelector('video'); return v.currentTime - t > 1.5 && v.currentTime; }, t0), 60000);
    const frame = await page.evaluate(() => {
      const v = document.querySelector('video');
      const c = document.createElement('canvas');
      c.width = v.videoWidth; c.height = v.videoHeight;
      const g = c.getContext('2d');
      g.drawImage(v, 0, 0);
      const d = g.getImageData(0, 0, c.width, c.height).data;
      const seen = new Set();
      for (let i = 0; i < d.length && seen.size < 64; i += 4 * 97) seen.add(d[i] >> 4 | (d[i + 1] >> 4) << 4 | (d[i + 2] >> 4) << 8);
      return { w: v.videoWidth, h: v.videoHeight, distinct: seen.size };
    });
    if (frame.distinct <= 4) throw new Error('plays: the frame is blank ' + JSON.stringify(frame));
    const wall = await until('the wall clock and the delay', () => page.evaluate(() => {
      const w = document.querySelector('.wall'), d = document.querySelector('.delay');
      return w.dataset.t && d.dataset.ms && { t: Number(w.dataset.t), delayMs: Number(d.dataset.ms), mode: document.querySelector('.mode').textContent };
    }), 20000);
    if (Math.abs(wall.delayMs) > 60000) throw new Error('plays: delay from live ' + wall.delayMs);
    steps.plays = { currentTime: played, frame, wall };
    await sleep(1500);
    await shot('stream-live');

    // timeline
    const fr = await until('fragments on the timeline', () => page.evaluate(() => Number(document.querySelector('main').dataset.fragments || 0) >= 5 && Number(document.querySelector('main').dataset.fragments)), 30000);
    const green = await page.evaluate(() => {
      const c = document.querySelector('canvas.timeline');
      const g = c.getContext('2d');
      const d = g.getImageData(0, Math.round(c.height / 2), c.width, 1).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 1] > 120 && d[i] < 90 && d[i + 2] < 120) n++;
      return n;
    });
    if (green < 3) throw new Error('timeline: no fragment drawn (' + green + ' green pixels)');
    steps.timeline = { fragments: fr, greenPixels: green };

    // replay: 2 s into the first fragment listed
    const first = await (await fetch(base + '/listFragments', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ StreamName: NAME, MaxResults: 1 }) })).json();
    const target = first.Fragments[0].ProducerTimestamp * 1000 + 2000;
    // the timeline's view: 5 minutes up to now, following live
    await page.locator('canvas.timeline').scrollIntoViewIfNeeded();
    const box = await page.locator('canvas.timeline').boundingBox();
    const x = await page.evaluate(t => {
      const c = document.querySelector('canvas.timeline');
      const s = Number(c.dataset.start), e = Number(c.dataset.end);
      return ((t - s) / (e - s)) * c.clientWidth;
    }, target);
    await page.mouse.click(box.x + x, box.y + box.height / 2);
    const from = await until('replay starts', () => page.evaluate(() => Number(document.querySelector('main').dataset.replayFrom || 0)), 20000);
    const rw = await until('the replayed frame is near the clicked time', () => page.evaluate(f => {
      const w = document.querySelector('.wall');
      const t = Number(w.dataset.t || 0);
      return t && t >= f - 1500 && t <= f + 5000 && /REPLAY/.test(document.querySelector('.mode').textContent) && { t, from: f };
    }, from), 30000);
    const advancing = await until('replay advances', () => page.evaluate(t0 => Number(document.querySelector('.wall').dataset.t) > t0 + 1000, rw.t), 30000);
    steps.replay = { clickedAt: target, from, frameAt: rw.t, clickedFromX: Math.abs(from - target) < 2 * ((await page.evaluate(() => { const c = document.querySelector('canvas.timeline'); return (Number(c.dataset.end) - Number(c.dataset.start)) / c.clientWidth; }))) + 50, advancing };
    await shot('stream-replay');

    // thumbnails: hover over the clicked time
    const featuresEarly = await (await fetch(base + '/framelog/features')).json();
    if (featuresEarly.APIs.GetImages) {
      const xh = await page.evaluate(t => { const c = document.querySelector('canvas.timeline'); return ((t - Number(c.dataset.start)) / (Number(c.dataset.end) - Number(c.dataset.start))) * c.clientWidth; }, target);
      await page.mouse.move(box.x + xh - 3, box.y + box.height / 2);
      await page.mouse.move(box.x + xh, box.y + box.height / 2);
      let jiggle = 0;
      // (moving a pixel now and then, as a hand does, if no picture came)
      steps.thumbnail = await until('a thumbnail on hover', async () => {
        if (++jiggle % 8 === 0) await page.mouse.move(box.x + xh + (jiggle % 16 ? 1 : -1), box.y + box.height / 2);
        return page.evaluate(() => {
          const img = document.querySelector('.tip img');
          return img && !img.hidden && img.src.startsWith('data:image/jpeg') && img.complete && img.naturalWidth > 0 && { w: img.naturalWidth, h: img.naturalHeight };
        });
      }, 30000).catch(async e => { throw new Error(e.message + ' ' + JSON.stringify(await page.evaluate(() => { const tip = document.querySelector('.tip'); return { tip: tip.hidden, text: tip.textContent, src: tip.querySelector('img').src.slice(0, 40) }; })) + ' ' + JSON.stringify(thumbCalls)); });
      await shot('stream-thumbnail');
    } else {
      steps.thumbnail = 'waits for GetImages';
    }

    // records
    steps.records = await until('records listed', () => page.evaluate(() => {
      const li = document.querySelectorAll('.record-list li code');
      return li.length >= 1 && li.length;
    }), 40000);

    // clip: shift+drag a range of ~4 s starting 1 s into the first fragment
    const features = await (await fetch(base + '/framelog/features')).json();
    const a = target - 1000, b = target + 3000;
    // freeze the view (stop following live) so the range stays put, and
    // zoom in around it with the wheel
    if (await page.getAttribute('text=Follow live', 'aria-pressed') === 'true') await page.click('text=Follow live');
    await page.mouse.move(box.x + x, box.y + box.height / 2);
    await page.mouse.wheel(0, -500);
    await sleep(500);
    const xa = await page.evaluate(t => { const c = document.querySelector('canvas.timeline'); return ((t - Number(c.dataset.start)) / (Number(c.dataset.end) - Number(c.dataset.start))) * c.clientWidth; }, a);
    const xb = await page.evaluate(t => { const c = document.querySelector('canvas.timeline'); return ((t - Number(c.dataset.start)) / (Number(c.dataset.end) - Number(c.dataset.start))) * c.clientWidth; }, b);

    await page.keyboard.down('Shift');
    await page.mouse.move(box.x + xa, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + (xa + xb) / 2, box.y + box.height / 2, { steps: 3 });
    await page.mouse.move(box.x + xb, box.y + box.height / 2, { steps: 3 });
    await page.mouse.up();
    await page.keyboard.up('Shift');
    await page.waitForSelector('.clip p');
    const sel = await page.evaluate(() => document.querySelector('.clip p').textContent);
    const secs = Number((sel.match(/\(([\d.]+) s\)/) || [])[1]);
    if (!(secs > 3 && secs < 5)) throw new Error('clip: selected ' + sel + ' for 4 s');
    if (features.APIs.GetClip) {
      const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 120000 }), page.click('text=Download MP4')]);
      await dl.saveAs(path.join(dir, 'clip.mp4'));
      await until('the download finished', () => page.evaluate(() => /downloaded/.test(document.querySelector('.clip-status').textContent)), 20000);
      const range = await page.evaluate(() => document.querySelector('.clip p').textContent);
      clip = { file: path.join(dir, 'clip.mp4'), selected: range };
      steps.clip = clip;
    } else {
      const note = await page.evaluate(() => document.querySelector('.clip .note') && document.querySelector('.clip .note').textContent);
      if (!/GetClip/.test(note || '')) throw new Error('clip: no note that GetClip is missing');
      steps.clip = 'waits for GetClip: ' + sel;
    }
    await shot('stream-selection');

    // server
    await page.click('nav a[data-page=server]');
    steps.server = await until('ingest plotted', () => page.evaluate(() => {
      const v = document.querySelector('[data-plot=ingest] .plot-value');
      return v && /bit\/s/.test(v.textContent) && v.textContent;
    }), 30000);
    await sleep(12000); // a few samples more, for the plots
    await shot('server');

    // keyboard: from the top of the Streams page, Tab to the stream's link
    await page.click('nav a[data-page=streams]');
    await page.waitForSelector(`tr[data-stream=${NAME}]`);
    await page.focus('.brand');
    let reached = false;
    for (let i = 0; i < 30 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(n => document.activeElement && document.activeElement.textContent === n && document.activeElement.tagName === 'A', NAME);
    }
    if (!reached) throw new Error('keyboard: Tab never reached the stream link');
    await page.keyboard.press('Enter');
    await page.waitForSelector('canvas.timeline');
    await until('fragments loaded', () => page.evaluate(() => Number(document.querySelector('main').dataset.fragments || 0) > 0), 20000);
    let onTimeline = false;
    for (let i = 0; i < 40 && !onTimeline; i++) {
      await page.keyboard.press('Tab');
      onTimeline = await page.evaluate(() => document.activeElement && document.activeElement.matches('canvas.timeline'));
    }
    if (!onTimeline) throw new Error('keyboard: Tab never reached the timeline');
    await page.keyboard.press('Home');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Enter');
    steps.keyboard = await until('Enter on the timeline plays', () => page.evaluate(() => Number(document.querySelector('main').dataset.replayFrom || 0) > 0), 20000);

    // phone
    await page.setViewportSize({ width: 390, height: 844 });
    await sleep(1500);
    await shot('stream-phone');
    await page.click('.crumbs a');
    await page.waitForSelector(`tr[data-stream=${NAME}]`);
    await sleep(500);
    await shot('streams-phone');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 1) throw new Error('phone: the page is ' + overflow + ' px wider than the screen');
    steps.phone = true;

    steps.errors = errors.length === 0;
    ok = errors.length === 0;
  } catch (e) {
    steps.failed = String(e && e.stack || e);
  } finally {
    clearInterval(recTimer);
    if (put && put.exited === undefined) put.kill('SIGINT');
    await browser.close();
  }
  console.log(JSON.stringify({ ok, steps, errors: errors.slice(0, 20), clip }));
  process.exit(ok ? 0 : 1);
})().catch(e => { console.log(JSON.stringify({ ok: false, exception: String(e), errors })); process.exit(2); });
