// js/app.js — the console's shell: what the server offers
// (GET /framelog/features), the sign-in form when access keys are on, and
// the pages by URL hash: #/streams, #/stream/NAME, #/server. Each page is a
// module with mount(root, ctx) returning an unmount function; a page stops
// its timers and players when it is left.

import * as api from './api.js';
import { el, toast } from './util.js';
import * as streams from './streams.js';
import * as stream from './stream.js';
import * as server from './server.js';

const ctx = { features: { APIs: {} } };
let unmount = null;

async function loadFeatures() {
  try {
    const res = await fetch('/framelog/features', { cache: 'no-store' });
    ctx.features = await res.json();
  } catch (e) {
    ctx.features = { APIs: {}, SignInRequired: false };
  }
}

function showWho() {
  const w = document.getElementById('who');
  w.textContent = '';
  const k = api.key();
  if (k) {
    w.append(el('span', { text: k.ak + ' ' }),
      el('button', { class: 'link', type: 'button', text: 'Sign out', onclick: () => { api.setKey(null); location.reload(); } }));
  }
}

function signIn(message) {
  const m = document.getElementById('signin');
  const f = document.getElementById('signin-form');
  document.getElementById('signin-error').textContent = message || '';
  if (ctx.features.Region && !f.region.dataset.touched) f.region.value = ctx.features.Region;
  m.hidden = false;
  f.ak.focus();
}

function setupSignIn() {
  const f = document.getElementById('signin-form');
  f.region.addEventListener('input', () => { f.region.dataset.touched = '1'; });
  f.addEventListener('submit', async ev => {
    ev.preventDefault();
    const k = { ak: f.ak.value.trim(), sk: f.sk.value, region: f.region.value.trim() };
    api.setKey(k);
    try {
      await api.kvs('listStreams', { MaxResults: 1 });
      document.getElementById('signin').hidden = true;
      f.sk.value = '';
      showWho();
      route();
    } catch (e) {
      api.setKey(null);
      document.getElementById('signin-error').textContent =
        `Refused (${e.type || 'HTTP ' + e.status}): ${e.detail || e.message}`;
    }
  });
  api.on('auth', e => {
    if (document.getElementById('signin').hidden)
      signIn(api.key() ? 'The server refused this key: ' + (e.detail || e.type) : '');
  });
}

function route() {
  if (unmount) { unmount(); unmount = null; }
  const main = document.getElementById('main');
  main.textContent = '';
  const h = location.hash || '#/streams';
  let page = 'streams';
  if (ctx.features.SignInRequired && !api.key()) {
    main.append(el('p', { class: 'note', text: 'Sign in to see this server.' }));
    signIn();
    return;
  }
  if (h.startsWith('#/stream/')) {
    page = 'streams';
    unmount = stream.mount(main, ctx, decodeURIComponent(h.slice('#/stream/'.length)));
  } else if (h.startsWith('#/server')) {
    page = 'server';
    unmount = server.mount(main, ctx);
  } else {
    unmount = streams.mount(main, ctx);
  }
  for (const a of document.querySelectorAll('nav a'))
    a.classList.toggle('active', a.dataset.page === page);
}

window.addEventListener('error', e => toast('Error: ' + e.message, true));
window.addEventListener('unhandledrejection', e => toast('Error: ' + (e.reason && e.reason.message), true));

(async () => {
  await loadFeatures();
  setupSignIn();
  showWho();
  window.addEventListener('hashchange', route);
  route();
  document.body.dataset.ready = '1';
})();
