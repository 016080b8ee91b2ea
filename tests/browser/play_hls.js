// tests/browser/play_hls.js — play an HLS session URL in headless Chromium
// (Debian's /usr/bin/chromium, driven by playwright-core) with hls.js, from a
// page on another origin than framelogd (so CORS must work), the way a web
// app would. Used by tests/test_playback_browser.c.
//
//   node play_hls.js URL SCREENSHOT.png [SECONDS]
//
// Prints one JSON line: {ok, currentTime, advanced, width, height, fatal,
// errors, nonBlank, parts (LL-HLS parts hls.js loaded), partList (parts its
// last playlist listed), latency (hls.js's live latency estimate, s)} and
// exits 0 when the video played (currentTime moved
// on by more than 1.5 s, a size, no fatal hls.js error, a frame that is not
// one colour).
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const [url, shot, secs] = process.argv.slice(2);
const seconds = Number(secs || 20);

const page_html = `<!doctype html><html><body style="margin:0;background:#000">
<video id="v" muted playsinline width="320" height="240"></video>
<script src="/hls.js"></script>
<script>
window.result = { fatal: null, errors: [], parts: 0, partList: 0 };
const v = document.getElementById('v');
const hls = new Hls({ enableWorker: false, lowLatencyMode: true });
window.hls = hls;
// LL-HLS: parts hls.js fetched, and the parts its last playlist listed
hls.on(Hls.Events.FRAG_LOADED, (e, d) => { if (d.part) window.result.parts++; });
hls.on(Hls.Events.LEVEL_LOADED, (e, d) => {
  window.result.partList = d.details.partList ? d.details.partList.length : 0;
});
hls.on(Hls.Events.ERROR, (e, d) => {
  window.result.errors.push(d.type + ':' + d.details);
  if (d.fatal) window.result.fatal = d.type + ':' + d.details;
});
hls.loadSource(new URLSearchParams(location.search).get('src'));
hls.attachMedia(v);
hls.on(Hls.Events.MANIFEST_PARSED, () => v.play().catch(e => window.result.errors.push('play:' + e)));
window.frameStats = () => {
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  if (!c.width || !c.height) return { distinct: 0 };
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  const seen = new Set();
  for (let i = 0; i < d.length && seen.size < 64; i += 4 * 97) seen.add(d[i] >> 4 | (d[i + 1] >> 4) << 4 | (d[i + 2] >> 4) << 8);
  return { distinct: seen.size };
};
</script></body></html>`;

const hlsjs = fs.readFileSync(path.join(__dirname, 'node_modules/hls.js/dist/hls.min.js'));
const server = http.createServer((req, res) => {
  if (req.url.startsWith('/hls.js')) {
    res.writeHead(200, { 'content-type': 'application/javascript' });
    return res.end(hlsjs);
  }
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end(page_html);
});

(async () => {
  await new Promise(r => server.listen(0, '127.0.0.1', r));
  // "localhost" is another origin than framelogd's 127.0.0.1:port
  const origin = `http://localhost:${server.address().port}`;
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync',
           '--autoplay-policy=no-user-gesture-required'],
  });
  let out = { ok: false };
  try {
    const page = await browser.newPage();
    await page.goto(`${origin}/?src=${encodeURIComponent(url)}`);
    // playing: currentTime moves on by more than 1.5 s from where it
    // started (a LIVE session starts near the live edge, not at 0)
    const t0 = Date.now();
    let st = {}, first = null;
    while (Date.now() - t0 < seconds * 1000) {
      st = await page.evaluate(() => {
        const v = document.getElementById('v');
        return { t: v.currentTime, w: v.videoWidth, h: v.videoHeight, r: window.result,
                 latency: window.hls.latency };
      });
      if (first === null && st.t > 0) first = st.t;
      if (st.r.fatal || (first !== null && st.t - first > 1.5)) break;
      await new Promise(r => setTimeout(r, 250));
    }
    const advanced = first !== null ? st.t - first : 0;
    const frame = await page.evaluate(() => window.frameStats());
    await page.screenshot({ path: shot });
    out = {
      ok: !st.r.fatal && advanced > 1.5 && st.w > 0 && frame.distinct > 4,
      currentTime: st.t, advanced, width: st.w, height: st.h, fatal: st.r.fatal,
      errors: st.r.errors.slice(0, 10), nonBlank: frame.distinct,
      parts: st.r.parts, partList: st.r.partList, latency: st.latency,
    };
  } finally {
    await browser.close();
    server.close();
  }
  console.log(JSON.stringify(out));
  process.exit(out.ok ? 0 : 1);
})().catch(e => { console.log(JSON.stringify({ ok: false, exception: String(e) })); process.exit(2); });
