// js/api.js — every call the console makes, through the same public APIs
// any client uses: the Kinesis Video rest-json calls (POST /<operation>
// with a JSON body), the Kinesis Data Streams JSON 1.1 calls (POST / with
// X-Amz-Target), HLS session URLs, GetClip, GetImages and GET /metrics,
// plus framelog's one read-only extension, POST /framelog/listStreamStatus.
//
// Signing: when the user signed in (sessionStorage "framelog.key": access
// key id, secret, region), every request is signed with SigV4 (sigv4.js),
// service "kinesisvideo" for the video APIs and /metrics, "kinesis" for
// data streams. HLS segment URLs carry their session token and are not
// signed. A 401/403 that says the request lacks or has a bad signature
// fires the "auth" listeners (the sign-in form).

import { sign } from './sigv4.js';

const KEY = 'framelog.key';
// Errors that mean "who are you?" (the sign-in form), as opposed to "you
// may not" (AccessDeniedException: the key is fine, its policy says no;
// shown where the call was made).
const AUTH_ERRORS = new Set(['MissingAuthenticationTokenException', 'UnrecognizedClientException',
  'InvalidSignatureException', 'SignatureDoesNotMatch', 'IncompleteSignatureException',
  'ExpiredTokenException', 'InvalidClientTokenId', 'MissingAuthenticationToken',
  'UnrecognizedClient', 'InvalidSignature', 'ExpiredToken']);

export class ApiError extends Error {
  constructor(status, type, message) {
    super(`${type || 'Error'}: ${message || 'HTTP ' + status}`);
    this.status = status;
    this.type = type || '';
    this.detail = message || '';
  }
}

const listeners = { auth: [] };
export function on(ev, fn) { listeners[ev].push(fn); }

export function key() {
  try { return JSON.parse(sessionStorage.getItem(KEY) || 'null'); } catch (e) { return null; }
}
export function setKey(k) {
  if (k) sessionStorage.setItem(KEY, JSON.stringify(k));
  else sessionStorage.removeItem(KEY);
}

async function errorOf(res) {
  let type = res.headers.get('x-amzn-ErrorType') || '';
  let message = '';
  try {
    const j = await res.json();
    type = type || j.__type || j.code || '';
    message = j.message || j.Message || '';
  } catch (e) { /* not JSON */ }
  type = type.split(':')[0].split('#').pop();
  const err = new ApiError(res.status, type, message);
  if ((res.status === 401 || res.status === 403) && AUTH_ERRORS.has(type))
    for (const fn of listeners.auth) fn(err);
  return err;
}

// One request; returns the Response (ok) or throws ApiError.
export async function request(method, path, { body, headers, service, signal } = {}) {
  const url = new URL(path, location.origin).toString();
  let h = Object.assign({}, headers || {});
  const k = key();
  if (k) h = (await sign({ method, url, headers: h, body }, k, service || 'kinesisvideo')).headers;
  let res;
  try {
    res = await fetch(url, { method, headers: h, body, signal, cache: 'no-store' });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'NetworkError', 'the server did not answer');
  }
  if (!res.ok) throw await errorOf(res);
  return res;
}

// A Kinesis Video call: POST /<op> with a JSON body; the parsed answer.
export async function kvs(op, body, opts = {}) {
  const res = await request('POST', '/' + op, Object.assign({
    body: JSON.stringify(body || {}), headers: { 'Content-Type': 'application/json' },
  }, opts));
  const text = await res.text();
  return text ? JSON.parse(text) : {};
}

// A Kinesis Data Streams call (JSON 1.1).
export async function kinesis(op, body, opts = {}) {
  const res = await request('POST', '/', Object.assign({
    body: JSON.stringify(body || {}), service: 'kinesis',
    headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'Kinesis_20131202.' + op },
  }, opts));
  return res.json();
}

export async function metricsText() {
  return (await request('GET', '/metrics')).text();
}

// Does the server have this route? A POST with an empty object: a missing
// route answers 404 UnknownOperationException; a route that exists answers
// anything else (400 for the missing fields, most likely).
const probes = new Map();
export function probe(path) {
  if (!probes.has(path)) {
    probes.set(path, (async () => {
      try {
        await request('POST', path, { body: '{}', headers: { 'Content-Type': 'application/json' } });
        return true;
      } catch (e) {
        return !(e.status === 404 && e.type === 'UnknownOperationException') && e.status !== 0;
      }
    })());
  }
  return probes.get(path);
}

// Every page of a paginated call, concatenated by `field`; at most maxPages.
export async function all(op, body, field, maxPages = 20, opts) {
  let out = [], token, pages = 0, more = false;
  do {
    const r = await kvs(op, Object.assign({}, body, token ? { NextToken: token } : {}), opts);
    out = out.concat(r[field] || []);
    token = r.NextToken;
    pages++;
    more = !!token;
  } while (token && pages < maxPages);
  return { items: out, truncated: more };
}

// Epoch seconds with milliseconds, as the APIs take them.
export function ts(ms) { return Math.round(ms) / 1000; }
