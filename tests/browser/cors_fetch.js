// tests/browser/cors_fetch.js — call framelogd's JSON APIs with fetch from a
// page on another origin than framelogd's, in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core), sending the headers AWS's
// JavaScript SDK sends (so the browser preflights each call). Used by
// tests/test_server_cors.c.
//
//   node cors_fetch.js FRAMELOG_URL
//
// Prints one JSON line: {origin, kvs, kds, missing, features} where each
// call is {status, requestId, errorType, body} as the page could read it,
// or {error} when the browser refused the page the answer (CORS).
'use strict';
const http = require('http');
const { chromium } = require('playwright-core');

const [base] = process.argv.slice(2);

const page_html = `<!doctype html><html><body><script>
// the headers @aws-sdk/client-kinesis-video and client-kinesis send
const sdk = {
  'x-amz-date': '20260101T000000Z',
  'x-amz-user-agent': 'aws-sdk-js/3.0.0',
  'amz-sdk-invocation-id': '7c6b1c2e-0000-4000-8000-000000000000',
  'amz-sdk-request': 'attempt=1; max=3',
};
async function call(url, init) {
  try {
    const r = await fetch(url, init);
    return { status: r.status, requestId: r.headers.get('x-amzn-requestid'),
             errorType: r.headers.get('x-amzn-errortype'), body: await r.text() };
  } catch (e) {
    return { error: String(e) };
  }
}
window.run = async (base) => ({
  origin: location.origin,
  // the Kinesis Video control plane (rest-json)
  kvs: await call(base + '/listStreams', { method: 'POST',
    headers: { ...sdk, 'content-type': 'application/json' }, body: '{}' }),
  // the Kinesis records API (JSON 1.1 on POST /, by X-Amz-Target)
  kds: await call(base + '/', { method: 'POST',
    headers: { ...sdk, 'content-type': 'application/x-amz-json-1.1',
               'x-amz-target': 'Kinesis_20131202.ListStreams' }, body: '{}' }),
  // an error: the page reads its type
  missing: await call(base + '/describeStream', { method: 'POST',
    headers: { ...sdk, 'content-type': 'application/json' },
    body: '{"StreamName":"no-such-stream"}' }),
  // framelog's own
  features: await call(base + '/framelog/features', {}),
});
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
           '--disable-component-update', '--disable-sync'],
  });
  let code = 1;
  try {
    const page = await browser.newPage();
    await page.goto(`${origin}/`);
    const out = await page.evaluate(b => window.run(b), base);
    console.log(JSON.stringify(out));
    code = 0;
  } catch (e) {
    console.log(JSON.stringify({ error: String(e) }));
  } finally {
    await browser.close();
    server.close();
  }
  process.exit(code);
})();
