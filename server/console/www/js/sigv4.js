// js/sigv4.js — AWS Signature Version 4 in the browser, with WebCrypto
// (crypto.subtle: HMAC-SHA256 and SHA-256), the way the AWS SDKs sign:
// canonical request, string to sign, the derived key, the Authorization
// header. Pure: no state; the caller keeps the key (sessionStorage).
//
// crypto.subtle exists only in secure contexts: https://, or http:// on
// loopback (127.0.0.1, localhost) — the only ways framelogd listens.

const enc = new TextEncoder();

function hex(buf) {
  return Array.from(new Uint8Array(buf), b => b.toString(16).padStart(2, '0')).join('');
}

export async function sha256Hex(data) {
  const bytes = typeof data === 'string' ? enc.encode(data) : data;
  return hex(await crypto.subtle.digest('SHA-256', bytes));
}

async function hmac(key, msg) {
  const k = await crypto.subtle.importKey('raw', typeof key === 'string' ? enc.encode(key) : key,
    { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return crypto.subtle.sign('HMAC', k, enc.encode(msg));
}

// RFC 3986 encoding as SigV4 wants it (unreserved characters kept).
export function uriEncode(s, keepSlash) {
  let out = '';
  for (const b of enc.encode(s)) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

// "20150830T123600Z"
export function amzDate(d) {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

// Sign one request. req: {method, url (absolute), headers (object, names as
// sent), body (string or Uint8Array or undefined)}; key: {ak, sk, region};
// service: "kinesisvideo", "kinesis". Returns the headers to send: the given
// ones plus X-Amz-Date and Authorization (and what signing needs).
export async function sign(req, key, service, now) {
  const u = new URL(req.url);
  const date = amzDate(now || new Date());
  const headers = Object.assign({}, req.headers || {});
  headers['X-Amz-Date'] = date;
  const canon = {};
  for (const [k, v] of Object.entries(headers)) canon[k.toLowerCase()] = String(v).trim().replace(/\s+/g, ' ');
  canon.host = u.host;
  const names = Object.keys(canon).sort();
  const canonHeaders = names.map(n => `${n}:${canon[n]}\n`).join('');
  const signed = names.join(';');
  const query = [...u.searchParams.entries()]
    .map(([k, v]) => [uriEncode(k), uriEncode(v)])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`).join('&');
  const path = uriEncode(decodeURIComponent(u.pathname), true) || '/';
  const payload = await sha256Hex(req.body === undefined || req.body === null ? '' : req.body);
  const creq = [req.method, path, query, canonHeaders, signed, payload].join('\n');
  const day = date.slice(0, 8);
  const scope = `${day}/${key.region}/${service}/aws4_request`;
  const sts = ['AWS4-HMAC-SHA256', date, scope, await sha256Hex(creq)].join('\n');
  let k = await hmac('AWS4' + key.sk, day);
  k = await hmac(k, key.region);
  k = await hmac(k, service);
  k = await hmac(k, 'aws4_request');
  const sig = hex(await hmac(k, sts));
  delete headers.host;
  headers.Authorization = `AWS4-HMAC-SHA256 Credential=${key.ak}/${scope}, SignedHeaders=${signed}, Signature=${sig}`;
  return { headers, signature: sig, canonicalRequest: creq, stringToSign: sts };
}
