// js/server.js — the Server page: framelogd's /metrics (Prometheus text)
// read every SAMPLE_MS and plotted over the last minutes: ingest rate,
// producers, live readers, disk use, ack latency (RECEIVED to PERSISTED),
// records, requests and event-loop lag; and each stream's retention and
// size on disk. Rates are differences of counters between two samples;
// the ack latency's p95 comes from the histogram's bucket differences.
// The plots are a canvas of our own (plot.js).

import * as api from './api.js';
import { el, bytes, hours, bitrate } from './util.js';
import { Plot } from './plot.js';

const SAMPLE_MS = 2000;
const KEEP = 300; // samples: 10 minutes

// "name{labels} value" lines -> Map(series -> number); sums by name too
export function parseMetrics(text) {
  const m = new Map();
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const i = line.lastIndexOf(' ');
    const key = line.slice(0, i), v = Number(line.slice(i + 1));
    m.set(key, v);
    const name = key.split('{')[0];
    if (key !== name) m.set(name + '{*}', (m.get(name + '{*}') || 0) + v);
  }
  return m;
}

function quantile(prev, cur, name, q) {
  // bucket deltas between two samples
  const buckets = [];
  for (const [k, v] of cur) {
    const mm = k.match(new RegExp('^' + name + '_bucket\\{le="([^"]+)"\\}$'));
    if (mm) buckets.push([mm[1] === '+Inf' ? Infinity : Number(mm[1]), v - (prev.get(k) || 0)]);
  }
  buckets.sort((a, b) => a[0] - b[0]);
  const total = buckets.length ? buckets[buckets.length - 1][1] : 0;
  if (!total) return null;
  const want = q * total;
  for (const [le, n] of buckets) if (n >= want) return Number.isFinite(le) ? le : null;
  return null;
}

// Kept while the tab is open, so that the plots are there on coming back
// (sampled only while the page is shown).
const samples = []; // {t, v: [[series values] per plot]}
let prev = null;

export function mount(root, ctx) {
  let gone = false, timer = null;
  const defs = [
    { id: 'ingest', title: 'Ingest', unit: 'bit/s', fmt: bitrate, series: [['video in', (c, p, dt) => rate(c, p, 'framelog_ingest_bytes_total', dt) * 8]] },
    { id: 'producers', title: 'Producers and live readers', unit: '', series: [['producers', c => c.get('framelog_producers')], ['live readers', c => c.get('framelog_live_readers')]] },
    { id: 'hls', title: 'HLS segments served', unit: '/s', series: [['segments/s', (c, p, dt) => rate(c, p, 'framelog_hls_segments_total', dt)]] },
    { id: 'ack', title: 'Ack latency (RECEIVED → PERSISTED)', unit: 'ms', series: [
      ['mean', (c, p) => { const n = d(c, p, 'framelog_ack_persisted_ms_count'); return n ? d(c, p, 'framelog_ack_persisted_ms_sum') / n : null; }],
      ['p95 (bucket)', (c, p) => quantile(p, c, 'framelog_ack_persisted_ms', 0.95)]] },
    { id: 'disk', title: 'Disk used by segments', unit: 'B', fmt: bytes, series: [['on disk', c => c.get('framelog_storage_bytes')]] },
    { id: 'records', title: 'Records in', unit: '/s', series: [['records/s', (c, p, dt) => rate(c, p, 'framelog_records_in_total', dt)]] },
    { id: 'requests', title: 'HTTP requests', unit: '/s', series: [['requests/s', (c, p, dt) => rate(c, p, 'framelog_http_requests_total{*}', dt)]] },
    { id: 'lag', title: 'Event-loop lag (mean)', unit: 'ms', series: [['lag', (c, p) => { const n = d(c, p, 'framelog_event_loop_lag_ms_count'); return n ? d(c, p, 'framelog_event_loop_lag_ms_sum') / n : null; }]] },
  ];
  function d(c, p, k) { return (c.get(k) || 0) - (p.get(k) || 0); }
  function rate(c, p, k, dt) { return dt > 0 ? Math.max(0, d(c, p, k)) / dt : null; }

  const facts = el('p', { class: 'facts' });
  const grid = el('div', { class: 'plots' });
  const plots = defs.map(def => {
    const p = new Plot(def.title, def.unit, def.series.map(s => s[0]), def.fmt);
    p.root.dataset.plot = def.id;
    grid.append(p.root);
    return p;
  });
  defs.forEach((def, i) => plots[i].set(samples.map(s => ({ t: s.t, v: s.v[i] }))));
  const tbody = el('tbody');
  root.append(el('h1', { text: 'Server' }), facts, grid,
    el('h2', { text: 'Retention and disk, by stream' }),
    ctx.features.APIs.ListStreamStatus ? el('div', { class: 'table-wrap' }, el('table', {},
      el('thead', {}, el('tr', {}, ['Stream', 'Retention', 'On disk', 'Bitrate'].map(h => el('th', { scope: 'col', text: h })))), tbody))
      : el('p', { class: 'note', text: 'Needs /framelog/listStreamStatus.' }));

  async function sample() {
    try {
      const cur = parseMetrics(await api.metricsText());
      const t = Date.now();
      if (gone) return;
      if (prev && t - prev.t > 4 * SAMPLE_MS) samples.push({ t: t - 1, v: defs.map(def => def.series.map(() => null)) }); // a gap
      if (prev) {
        const dt = (t - prev.t) / 1000;
        const v = defs.map(def => def.series.map(s => { const x = s[1](cur, prev.m, dt); return Number.isFinite(x) ? x : null; }));
        samples.push({ t, v });
        if (samples.length > KEEP) samples.shift();
        defs.forEach((def, i) => plots[i].set(samples.map(s => ({ t: s.t, v: s.v[i] }))));
      }
      prev = { t, m: cur };
      facts.textContent = `uptime ${Math.round(cur.get('framelog_uptime_seconds') || 0)} s · ` +
        `${cur.get('framelog_open_connections') || 0} connections · ` +
        `${bytes(cur.get('framelog_storage_bytes'))} on disk · sampled every ${SAMPLE_MS / 1000} s, last ${KEEP * SAMPLE_MS / 60000} min kept`;
      if (ctx.features.APIs.ListStreamStatus) {
        const st = await api.all('framelog/listStreamStatus', { MaxResults: 1000 }, 'StreamStatus', 10);
        tbody.textContent = '';
        for (const s of st.items)
          tbody.append(el('tr', {}, el('th', { scope: 'row' }, el('a', { href: '#/stream/' + encodeURIComponent(s.StreamName), text: s.StreamName })),
            el('td', { text: hours(s.DataRetentionInHours) }), el('td', { text: bytes(s.SizeOnDiskBytes) }), el('td', { text: bitrate(s.RecentBitrate) })));
      }
    } catch (e) { /* the next sample tries again */ }
    if (!gone) timer = setTimeout(sample, SAMPLE_MS);
  }
  sample();
  return () => { gone = true; clearTimeout(timer); plots.forEach(p => p.destroy()); };
}
