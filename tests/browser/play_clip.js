// tests/browser/play_clip.js — GetClip in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core): a page on another origin
// than framelogd POSTs /getClip with fetch (CORS), hands the MP4 to a
// <video> as a blob URL and plays it, as a web app saving and showing a clip
// would. Used by tests/test_playback_browser.c.
//
//   node play_clip.js FRAMELOG_URL GETCLIP_JSON_BODY [SCREENSHOT.png]
//
// Prints one JSON line: {ok, status, bytes, duration, width, height,
// currentTime, error} and exits 0 when the video loaded (a duration and a
// size) and played (currentTime moved on by more than 1 s).
'use strict';
const http = require('http');
const { chromium } = require('playwright-core');

const [base, body, shot] = process.argv.slice(2);

const page_html = `<!doctype html><html><body style="margin:0;background:#000">
<video id="v" muted playsinline width="320" height="240"></video>
<script>
window.run = async (base, body) => {
  const r = await fetch(base + '/getClip', { method: 'POST',
    headers: { 'content-type': 'application/json' }, body });
  const out = { status: r.status };
  const blob = await r.blob();
  out.bytes = blob.size;
  const v = document.getElementById('v');
  v.src = URL.createObjectURL(blob);
  await new Promise((ok, bad) => { v.onloadedmetadata = ok; v.onerror = () => bad(v.error); });
  out.duration = v.duration; out.width = v.videoWidth; out.height = v.videoHeight;
  await v.play();
  const t0 = Date.now();
  while (v.currentTime < 1.2 && Date.now() - t0 < 60000 && !v.ended)
    await new Promise(r => setTimeout(r, 100));
  out.currentTime = v.currentTime;
  return out;
};
</script></body></html>`;

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/html' });
  res.end(page_html);
});

(async () => {
  await new Promise(r => server.listen(0, '127.0.0.1', r));
  // "localhost" is another origin than framelogd's 127.0.0.1:port
  const origin = `http://localhost:${server.address().port}`;
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync',
           '--autoplay-policy=no-user-gesture-required'],
  });
  let out = { ok: false };
  try {
    const page = await browser.newPage();
    await page.goto(`${origin}/`);
    out = await page.evaluate(([b, j]) => window.run(b, j), [base, body]);
    out.ok = out.status === 200 && out.duration > 0 && out.width > 0 && out.currentTime > 1;
    if (shot)
      await page.screenshot({ path: shot });
  } catch (e) {
    out.error = String(e);
  } finally {
    await browser.close();
    server.close();
  }
  console.log(JSON.stringify(out));
  process.exit(out.ok ? 0 : 1);
})();
