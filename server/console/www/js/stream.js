// js/stream.js — one stream: the live player, the archive's timeline, clip
// export and the records of the stream's companion data stream.
//
// Player: hls.js on an HLS session (GetHLSStreamingSessionURL, producer
// timestamps, DisplayFragmentTimestamp ALWAYS so each segment carries its
// wall-clock time: hls.playingDate is the time of the frame on screen).
// LIVE by default; hls.js plays LL-HLS parts when the playlist has them
// (lowLatencyMode), plain HLS otherwise; the delay from live is now minus
// the frame's time. A click on the timeline plays ON_DEMAND from the
// fragment holding that time (up to an hour on), starting at the clicked
// time within it.
//
// Timeline: ListFragments (producer timestamps) for the range in view,
// paged, at most MAX_FRAGMENT_PAGES pages; fragments closer than GAP_MS
// merge into one bar, anything else is a gap. A view wider than
// SAMPLE_ABOVE_MS that one page does not hold is sampled instead: one
// ListFragments (MaxResults 1) per bucket of a few pixels, a bucket with a
// fragment drawn whole; a click or a thumbnail there asks the server
// around that time (locate(), GetImages' NO_MEDIA). Thumbnails on hover from
// GetImages, clips from GetClip, each shown only when the server has the
// API (GET /framelog/features).
//
// Records: the companion data stream is the one named by the stream's tag
// `framelog.events`, else `<stream>-events` when such a data stream exists.
// Its records in view (GetShardIterator AT_TIMESTAMP + GetRecords, every
// shard) are marks on the timeline (at their arrival time) and a list.

import * as api from './api.js';
import { el, bitrate, age, clock, dateTime, toast, b64ToText, bytes, duration } from './util.js';
import { Timeline } from './timeline.js';

const GAP_MS = 1500;
// ListFragments' page size: 1000, AWS's largest; `?fragmentPage=N` in the
// console's URL (1..1000) sets a smaller one, so that a test crosses the
// exact view's cap (MAX_FRAGMENT_PAGES pages) with a few hundred fragments
const FRAGMENT_PAGE = Math.min(1000, Math.max(1, Number(new URLSearchParams(location.search).get('fragmentPage')) || 1000));
const MAX_FRAGMENT_PAGES = 10;
// Views wider than this are sampled when one page of ListFragments does not
// hold them: 3 h is 10,800 fragments of 1 s (about the exact view's cap at
// the shortest fragments cameras use) and 8 s a pixel on a laptop's
// timeline, past which fragments and gaps are narrower than a pixel anyway
const SAMPLE_ABOVE_MS = 3 * 3600e3;
// Sampling: the view cut into buckets of about BUCKET_PX pixels (at most
// MAX_BUCKETS), rounded up to a round width; one ListFragments (the
// bucket's range, MaxResults 1) per bucket, SAMPLE_CONCURRENCY at a time
// (the browser has 6 connections to the server, and the player needs some)
const MAX_BUCKETS = 300, BUCKET_PX = 4, SAMPLE_CONCURRENCY = 4;
const BUCKET_WIDTHS = [10e3, 30e3, 60e3, 2 * 60e3, 5 * 60e3, 10 * 60e3, 15 * 60e3, 30 * 60e3, 3600e3,
  2 * 3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3, 86400e3];
// a bucket's answer is kept this long once the bucket is a minute past (a
// bucket that holds now is asked again at each refresh)
const SAMPLE_KEEP_MS = 5 * 60e3;
// the longest fragment (AWS's limit and framelog's): a fragment holding t
// starts at most this long before it
const MAX_FRAGMENT_MS = 20e3;
const REPLAY_SPAN_MS = 3600e3;
const MAX_RECORDS = 500;

export function mount(root, ctx, name) {
  const A = ctx.features.APIs;
  let gone = false;
  const timers = [];
  let frags = [];        // [{s, e, n, size}] sorted by s
  let exact = null;      // {a, b}: the range frags holds every fragment of (the last exact view)
  const buckets = new Map(); // sampled views: `${width}:${index}` -> {covered, at}
  let records = [];      // [{t, key, text}]
  let companion = null;  // the data stream's name
  let mode = 'live';

  // ---- layout ----
  const badge = el('span', { class: 'badge unknown', text: '…' });
  const facts = el('span', { class: 'facts' });
  const video = el('video', { muted: true, playsinline: true, autoplay: true, controls: true, 'aria-label': 'Video of ' + name });
  video.muted = true;
  const wall = el('div', { class: 'wall', 'aria-live': 'off' });
  const modeLabel = el('span', { class: 'mode' });
  const delay = el('span', { class: 'delay' });
  const liveBtn = el('button', { type: 'button', text: 'Go live', onclick: () => playLive() });
  const playerNote = el('p', { class: 'note' });
  const clipBox = el('div', { class: 'clip' });
  const recBox = el('div', { class: 'records' });
  root.append(
    el('p', { class: 'crumbs' }, el('a', { href: '#/streams', text: 'Streams' }), ' / ', name),
    el('h1', {}, name, ' ', badge, ' ', facts),
    el('div', { class: 'player' }, video, wall),
    el('div', { class: 'player-bar' }, modeLabel, delay, liveBtn),
    playerNote);
  const tl = new Timeline(root, {
    onPlay: t => playAt(t),
    onSelect: sel => showSelection(sel),
    onView: () => { viewGen++; scheduleFetch(); },
    thumbnail: A.GetImages ? thumbnail : null,
  });
  root.append(clipBox, recBox);
  if (!A.GetImages) tl.root.append(el('p', { class: 'note', text: 'Thumbnails on hover need GetImages, which this server does not have yet.' }));

  // ---- player ----
  let hls = null;
  function stopPlayer() {
    if (hls) { hls.destroy(); hls = null; }
  }
  async function session(body) {
    const r = await api.kvs('getHLSStreamingSessionURL', Object.assign({
      StreamName: name, ContainerFormat: 'FRAGMENTED_MP4', DisplayFragmentTimestamp: 'ALWAYS',
      Expires: 3600,
    }, body));
    return r.HLSStreamingSessionURL;
  }
  function attach(url, startPosition) {
    stopPlayer();
    wall.textContent = '';
    delete wall.dataset.t;
    delete video.dataset.playlistParts;
    delete video.dataset.partsLoaded;
    delete delay.dataset.ms;
    if (!window.Hls || !Hls.isSupported()) {
      playerNote.textContent = 'This browser has no Media Source Extensions; open the session URL in a native HLS player.';
      if (video.canPlayType('application/vnd.apple.mpegurl')) video.src = url;
      return;
    }
    // live: after a stall hls.js moves its target latency back by
    // liveSyncOnStallIncrease (1 s by default: past a 1 s fragment's worth
    // at the first stall of a start) and plays up to 1.5x to reach it
    hls = new Hls({ lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5, liveSyncOnStallIncrease: 0.1,
      startPosition: startPosition ?? -1, backBufferLength: 30 });
    hls.on(Hls.Events.ERROR, (e, d) => {
      if (!d.fatal) return;
      playerNote.textContent = `Playback stopped: ${d.details}.`;
      stopPlayer();
    });
    // (for tests and tools: the playlist's parts, the parts loaded)
    let partsLoaded = 0;
    hls.on(Hls.Events.LEVEL_LOADED, (e, d) => {
      const ll = d.details && d.details.partList && d.details.partList.length;
      if (mode === 'live') modeLabel.textContent = ll ? 'LIVE · LL-HLS' : 'LIVE · HLS';
      video.dataset.playlistParts = String(ll || 0);
    });
    hls.on(Hls.Events.FRAG_LOADED, (e, d) => { if (d.part) video.dataset.partsLoaded = String(++partsLoaded); });
    hls.loadSource(url);
    hls.attachMedia(video);
    hls.on(Hls.Events.MANIFEST_PARSED, () => { video.play().catch(() => {}); });
  }
  async function playLive() {
    mode = 'live';
    modeLabel.textContent = 'LIVE';
    playerNote.textContent = '';
    try {
      attach(await session({ PlaybackMode: 'LIVE', HLSFragmentSelector: { FragmentSelectorType: 'PRODUCER_TIMESTAMP' } }));
      liveBtn.hidden = true;
    } catch (e) {
      stopPlayer();
      modeLabel.textContent = 'not live';
      liveBtn.hidden = false;
      playerNote.textContent = e.type === 'ResourceNotFoundException'
        ? 'No live video: nothing arrived in the last 30 s. Click the timeline to play the archive.'
        : e.message;
    }
  }
  function fragmentAt(t) {
    let lo = 0, hi = frags.length;
    while (lo < hi) { const m = (lo + hi) >> 1; if (frags[m].e <= t) lo = m + 1; else hi = m; }
    return frags[lo] || null; // the one holding t, or the next after a gap
  }
  // the fragment holding t, or the first after it: from the fragments
  // listed when the last exact view holds t, else asked around t
  async function locate(t) {
    if (exact && t >= exact.a && t <= exact.b) return fragmentAt(t);
    const list = async (a, b, max) => ((await api.kvs('listFragments', { StreamName: name, MaxResults: max,
      FragmentSelector: { FragmentSelectorType: 'PRODUCER_TIMESTAMP', TimestampRange: { StartTimestamp: api.ts(a), EndTimestamp: api.ts(b) } } }))
      .Fragments || []).map(fragment).sort((x, y) => x.s - y.s);
    const near = await list(t - MAX_FRAGMENT_MS, t, 1000);
    const f = near.find(f => f.s <= t && t < f.e);
    if (f) return f;
    // a gap: the first fragment after it (fragment order is time order: a
    // stream refuses timecodes lower than its last)
    return (await list(t, Date.now() + 60e3, 1))[0] || null;
  }
  async function playAt(t) {
    let f;
    try { f = await locate(t); } catch (e) { toast(e.message, true); return; }
    if (!f) { toast('No video at ' + dateTime(t), true); return; }
    const startAt = Math.max(t, f.s);
    mode = 'replay';
    liveBtn.hidden = false;
    playerNote.textContent = '';
    modeLabel.textContent = 'REPLAY from ' + dateTime(startAt);
    try {
      const url = await session({ PlaybackMode: 'ON_DEMAND', MaxMediaPlaylistFragmentResults: 5000,
        HLSFragmentSelector: { FragmentSelectorType: 'PRODUCER_TIMESTAMP',
          TimestampRange: { StartTimestamp: api.ts(f.s), EndTimestamp: api.ts(Math.min(Date.now(), f.s + REPLAY_SPAN_MS)) } } });
      attach(url, (startAt - f.s) / 1000);
      root.dataset.replayFrom = String(Math.round(startAt));
    } catch (e) { toast(e.message, true); }
  }
  // the frame's wall-clock time, the delay from live, the play head
  timers.push(setInterval(() => {
    const d = hls && hls.playingDate;
    if (d) {
      const t = d.getTime();
      wall.textContent = dateTime(t) + '.' + String(d.getMilliseconds()).padStart(3, '0');
      wall.dataset.t = String(t);
      delay.textContent = mode === 'live' ? `${((Date.now() - t) / 1000).toFixed(1)} s behind live` : `${age(Date.now() - t)} ago`;
      delay.dataset.ms = String(Date.now() - t);
      tl.setPlayhead(t);
    }
  }, 250));

  // ---- timeline data ----
  let fetchTimer = null, fetching = false, fetchAgain = false;
  let viewGen = 0;          // moves when the user changes the view
  let sampledSpan = 0;      // the width of the last view that was sampled
  let zoomStats = null;     // {t0, requests, ms}: drawing the sampled view of this zoom
  function scheduleFetch() {
    clearTimeout(fetchTimer);
    fetchTimer = setTimeout(fetchFragments, 150);
  }
  function merge() {
    const spans = [];
    for (const f of frags) {
      const last = spans[spans.length - 1];
      if (last && f.s - last.e <= GAP_MS) last.e = Math.max(last.e, f.e);
      else spans.push({ s: f.s, e: f.e });
    }
    showSpans(spans);
    root.dataset.fragments = String(frags.length);
  }
  function note(n) { tl.setNote(n); root.dataset.note = n; }
  // the spans drawn, those in view as [[start, end], ...] epoch ms in
  // data-spans (for tests and tools, as data-fragments)
  function showSpans(spans) {
    tl.setSpans(spans);
    root.dataset.spans = JSON.stringify(spans.filter(s => s.e >= tl.start && s.s <= tl.end).map(s => [Math.round(s.s), Math.round(s.e)]));
  }
  function fragment(f) {
    return { s: f.ProducerTimestamp * 1000, e: f.ProducerTimestamp * 1000 + f.FragmentLengthInMilliseconds,
      n: f.FragmentNumber, size: f.FragmentSizeInBytes };
  }
  async function fetchFragments() {
    if (fetching) { fetchAgain = true; return; }
    fetching = true;
    root.dataset.busy = '1';
    const a = tl.start - 30e3, b = Math.min(tl.end, Date.now() + 60e3);
    // a wide view: one page first; more than a page is sampled
    const span = tl.end - tl.start;
    const wide = span > SAMPLE_ABOVE_MS;
    try {
      // (the same zoom as the last sampled view: sampled again, no page)
      if (wide && Math.abs(span - sampledSpan) < 1) {
        await sample(b);
        if (companion) await fetchRecords(a, b);
        return;
      }
      const r = await api.all('listFragments', { StreamName: name, MaxResults: FRAGMENT_PAGE,
        FragmentSelector: { FragmentSelectorType: 'PRODUCER_TIMESTAMP', TimestampRange: { StartTimestamp: api.ts(a), EndTimestamp: api.ts(b) } } },
      'Fragments', wide ? 1 : MAX_FRAGMENT_PAGES);
      if (gone) return;
      if (wide && r.truncated) {
        await sample(b);
      } else {
        const got = r.items.map(fragment);
        frags = frags.filter(f => f.s < a || f.s > b).concat(got).sort((x, y) => x.s - y.s);
        exact = r.truncated ? null : { a, b };
        sampledSpan = 0;
        root.dataset.mode = 'exact';
        note(r.truncated ? `showing the first ${got.length} fragments of this range: zoom in for the rest` : '');
        merge();
      }
      if (companion) await fetchRecords(a, b);
    } catch (e) {
      if (!gone) toast(e.message, true);
    } finally {
      fetching = false;
      delete root.dataset.busy;
      if (fetchAgain && !gone) { fetchAgain = false; scheduleFetch(); }
    }
  }
  // The view up to b, sampled: a bucket is drawn covered when
  // ListFragments finds a fragment starting in it. Answers are kept
  // (SAMPLE_KEEP_MS); a change of view stops the asking (what was asked is
  // kept), and the next fetch goes on.
  async function sample(b) {
    const gen = viewGen;
    if (!zoomStats || Math.abs(sampledSpan - (tl.end - tl.start)) >= 1) {
      zoomStats = { t0: performance.now(), requests: 0, ms: 0 };
      delete root.dataset.sampleRequests;
      delete root.dataset.sampleMs;
    }
    sampledSpan = tl.end - tl.start;
    const n = Math.min(MAX_BUCKETS, Math.max(1, Math.floor(tl.canvas.clientWidth / BUCKET_PX) || MAX_BUCKETS));
    const w = BUCKET_WIDTHS.find(x => x >= (tl.end - tl.start) / n) || BUCKET_WIDTHS[BUCKET_WIDTHS.length - 1];
    const k0 = Math.floor(tl.start / w), k1 = Math.floor(b / w);
    const now = Date.now();
    if (buckets.size > 20000) buckets.clear();
    const todo = [];
    for (let k = k1; k >= k0; k--) { // newest first
      const c = buckets.get(w + ':' + k);
      if (!(c && now - c.at < SAMPLE_KEEP_MS && (k + 1) * w < c.at - 60e3)) todo.push(k);
    }
    const draw = () => {
      const spans = [];
      for (let k = k0; k <= k1; k++) {
        const c = buckets.get(w + ':' + k);
        if (!c || !c.covered) continue;
        const last = spans[spans.length - 1];
        if (last && last.e === k * w) last.e += w;
        else spans.push({ s: k * w, e: (k + 1) * w });
      }
      showSpans(spans);
    };
    root.dataset.mode = 'sampled';
    root.dataset.bucketMs = String(w);
    note(`sampled per ${duration(w)} (a bar: a fragment in that ${duration(w)}): zoom in to ${duration(SAMPLE_ABOVE_MS)} for exact gaps`);
    draw();
    let next = 0, asked = 0;
    const worker = async () => {
      while (next < todo.length && !gone && gen === viewGen) {
        const k = todo[next++];
        const r = await api.kvs('listFragments', { StreamName: name, MaxResults: 1,
          FragmentSelector: { FragmentSelectorType: 'PRODUCER_TIMESTAMP',
            TimestampRange: { StartTimestamp: api.ts(k * w), EndTimestamp: api.ts((k + 1) * w - 1) } } });
        buckets.set(w + ':' + k, { covered: (r.Fragments || []).length > 0, at: Date.now() });
        if (!zoomStats.ms) zoomStats.requests++;
        if (++asked % 20 === 0) draw();
      }
    };
    await Promise.all(Array.from({ length: Math.min(SAMPLE_CONCURRENCY, todo.length) }, worker));
    if (gone) return;
    draw();
    // what drawing this zoom took (its requests until every bucket was
    // known, and the time), for tests and the curious
    if (!zoomStats.ms && next >= todo.length && gen === viewGen) {
      zoomStats.ms = Math.round(performance.now() - zoomStats.t0);
      root.dataset.sampleRequests = String(zoomStats.requests);
      root.dataset.sampleMs = String(zoomStats.ms);
    }
  }
  timers.push(setInterval(() => { tl.tick(); if (tl.follow) scheduleFetch(); }, 2000));

  // ---- thumbnails ----
  // one picture per second of the timeline at most, cached for the page
  const thumbs = new Map();
  async function thumbnail(t) {
    let sec = Math.floor(t / 1000) * 1000;
    if (exact && t >= exact.a && t <= exact.b) {
      const f = fragmentAt(t);
      if (!f || f.s > t) return null; // a gap: no picture
      sec = Math.min(Math.max(sec, Math.ceil(f.s)), Math.floor(f.e));
    } // else (a sampled view) the server answers NO_MEDIA in a gap
    if (!thumbs.has(sec)) {
      thumbs.set(sec, (async () => {
        try {
          const r = await api.kvs('getImages', { StreamName: name, ImageSelectorType: 'PRODUCER_TIMESTAMP',
            StartTimestamp: api.ts(sec), EndTimestamp: api.ts(sec), Format: 'JPEG', HeightPixels: 90,
            FormatConfig: { JPEGQuality: '70' }, MaxResults: 1 });
          const img = (r.Images || []).find(i => i.ImageContent);
          return img ? 'data:image/jpeg;base64,' + img.ImageContent : null;
        } catch (e) { return null; }
      })());
    }
    return thumbs.get(sec);
  }

  // ---- clips ----
  function showSelection(sel) {
    clipBox.textContent = '';
    if (!sel) return;
    const secs = (sel.b - sel.a) / 1000;
    const head = el('p', {}, `Selected ${dateTime(sel.a)} – ${clock(sel.b)} (${secs.toFixed(1)} s). `);
    clipBox.append(head);
    if (!A.GetClip) {
      clipBox.append(el('p', { class: 'note', text: 'Downloading a range as MP4 needs GetClip, which this server does not have yet.' }));
      return;
    }
    const bar = el('progress', { max: 1, value: 0, hidden: true, 'aria-label': 'Clip download' });
    const status = el('span', { class: 'clip-status', role: 'status' });
    const btn = el('button', { type: 'button', text: 'Download MP4', onclick: () => download(sel, bar, status, btn) });
    clipBox.append(el('div', { class: 'clip-bar' }, btn, bar, status));
  }
  async function download(sel, bar, status, btn) {
    btn.disabled = true;
    bar.hidden = false;
    bar.removeAttribute('value');
    status.textContent = 'asking the server…';
    try {
      // GetClip takes the fragments that start in the range: start at the
      // one that holds the selection's start
      const f = await locate(sel.a);
      const start = f && f.s <= sel.a ? f.s : sel.a;
      const body = JSON.stringify({ StreamName: name, ClipFragmentSelector: { FragmentSelectorType: 'PRODUCER_TIMESTAMP',
        TimestampRange: { StartTimestamp: api.ts(start), EndTimestamp: api.ts(sel.b) } } });
      const res = await api.request('POST', '/getClip', { body, headers: { 'Content-Type': 'application/json' } });
      // the length when the server knows it, else framelog's estimate
      const total = Number(res.headers.get('Content-Length')) || Number(res.headers.get('x-framelog-clip-estimated-bytes')) || 0;
      const reader = res.body.getReader();
      const parts = [];
      let got = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
        got += value.length;
        if (total) { bar.max = total; bar.value = Math.min(got, total); }
        status.textContent = `${bytes(got)}${total ? ' of ' + bytes(total) : ''}`;
      }
      const blob = new Blob(parts, { type: 'video/mp4' });
      const a = el('a', { href: URL.createObjectURL(blob), download: `${name}_${new Date(sel.a).toISOString().replace(/[:.]/g, '-')}.mp4` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 60e3);
      bar.max = 1; bar.value = 1;
      status.textContent = `downloaded ${bytes(got)}`;
    } catch (e) {
      status.textContent = e.message;
    } finally {
      btn.disabled = false;
    }
  }

  // ---- records ----
  async function findCompanion() {
    if (!A.KinesisGetRecords) {
      recBox.append(el('p', { class: 'note', text: 'Records need the Kinesis Data Streams API, which this server does not have.' }));
      return;
    }
    let tags = {};
    try { tags = (await api.kvs('listTagsForStream', { StreamName: name })).Tags || {}; } catch (e) { /* shown elsewhere */ }
    const want = tags['framelog.events'] || name + '-events';
    try {
      const r = await api.kinesis('ListStreams', { Limit: 1000 });
      if ((r.StreamNames || []).includes(want)) companion = want;
    } catch (e) { /* no data streams */ }
    recBox.textContent = '';
    if (!companion) {
      recBox.append(el('p', { class: 'note', text: `No records: create a data stream named ${name}-events (or tag this stream framelog.events=<data stream>) and its records show here.` }));
      return;
    }
    recBox.append(el('h2', { text: 'Records of ' + companion }), el('ul', { class: 'record-list' }));
    scheduleFetch();
  }
  async function fetchRecords(a, b) {
    const shards = (await api.kinesis('ListShards', { StreamName: companion })).Shards || [];
    const out = [];
    for (const s of shards) {
      let it = (await api.kinesis('GetShardIterator', { StreamName: companion, ShardId: s.ShardId,
        ShardIteratorType: 'AT_TIMESTAMP', Timestamp: api.ts(a) })).ShardIterator;
      for (let i = 0; it && i < 10 && out.length < MAX_RECORDS; i++) {
        const r = await api.kinesis('GetRecords', { ShardIterator: it, Limit: 1000 });
        let past = false;
        for (const rec of r.Records || []) {
          const t = rec.ApproximateArrivalTimestamp * 1000;
          if (t > b) { past = true; break; }
          out.push({ t, key: rec.PartitionKey, text: b64ToText(rec.Data) });
        }
        if (past || !(r.Records || []).length || r.MillisBehindLatest === 0) break;
        it = r.NextShardIterator;
      }
    }
    if (gone) return;
    records = out.sort((x, y) => x.t - y.t);
    tl.setMarks(records.map(r => ({ t: r.t })));
    const ul = recBox.querySelector('ul');
    ul.textContent = '';
    for (const r of records.slice(-100).reverse())
      ul.append(el('li', {}, el('button', { type: 'button', class: 'link', text: clock(r.t, true), onclick: () => playAt(r.t - 2000) }),
        ' ', el('span', { class: 'tag', text: r.key }), ' ', el('code', { text: r.text.slice(0, 200) })));
    if (!records.length) ul.append(el('li', { class: 'note', text: 'none in view' }));
  }

  // ---- the stream's state ----
  async function status() {
    if (!A.ListStreamStatus) return;
    try {
      const r = await api.kvs('framelog/listStreamStatus', { StreamName: name });
      const st = (r.StreamStatus || [])[0];
      if (!st || gone) { badge.textContent = 'not found'; return; }
      const live = st.ProducerConnected;
      badge.className = 'badge ' + (live ? 'live' : 'idle');
      badge.dataset.state = live ? 'live' : 'idle';
      badge.textContent = live ? 'producer connected' : 'no producer';
      facts.textContent = `${bitrate(st.RecentBitrate)} · last fragment ${st.LastFragment ? age(st.LastFragment.AgeInMilliseconds) + ' ago' : 'never'}`;
      // LIVE needs a fragment from the last 30 s (else the call is a 404)
      const fresh = st.LastFragment && st.LastFragment.AgeInMilliseconds < 25000;
      if (fresh && mode === 'live' && !hls && !starting) { starting = true; await playLive(); starting = false; }
      if (!fresh && mode === 'live' && !hls) { modeLabel.textContent = 'no live video'; liveBtn.hidden = false; }
    } catch (e) { /* toast from other calls */ }
  }
  timers.push(setInterval(status, 2000));

  let starting = false;
  if (A.ListStreamStatus) status(); else playLive();
  findCompanion();
  scheduleFetch();

  return () => {
    gone = true;
    timers.forEach(clearInterval);
    clearTimeout(fetchTimer);
    stopPlayer();
    tl.destroy();
  };
}
