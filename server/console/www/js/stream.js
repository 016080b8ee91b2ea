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
// merge into one bar, anything else is a gap. Thumbnails on hover from
// GetImages, clips from GetClip, each shown only when the server has the
// API (GET /framelog/features).
//
// Records: the companion data stream is the one named by the stream's tag
// `framelog.events`, else `<stream>-events` when such a data stream exists.
// Its records in view (GetShardIterator AT_TIMESTAMP + GetRecords, every
// shard) are marks on the timeline (at their arrival time) and a list.

import * as api from './api.js';
import { el, bitrate, age, clock, dateTime, toast, b64ToText, bytes } from './util.js';
import { Timeline } from './timeline.js';

const GAP_MS = 1500;
const MAX_FRAGMENT_PAGES = 10;
const REPLAY_SPAN_MS = 3600e3;
const MAX_RECORDS = 500;

export function mount(root, ctx, name) {
  const A = ctx.features.APIs;
  let gone = false;
  const timers = [];
  let frags = [];        // [{s, e, n, size}] sorted by s
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
    onView: () => scheduleFetch(),
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
    delete delay.dataset.ms;
    if (!window.Hls || !Hls.isSupported()) {
      playerNote.textContent = 'This browser has no Media Source Extensions; open the session URL in a native HLS player.';
      if (video.canPlayType('application/vnd.apple.mpegurl')) video.src = url;
      return;
    }
    hls = new Hls({ lowLatencyMode: true, startPosition: startPosition ?? -1, backBufferLength: 30 });
    hls.on(Hls.Events.ERROR, (e, d) => {
      if (!d.fatal) return;
      playerNote.textContent = `Playback stopped: ${d.details}.`;
      stopPlayer();
    });
    hls.on(Hls.Events.LEVEL_LOADED, (e, d) => {
      const ll = d.details && d.details.partList && d.details.partList.length;
      if (mode === 'live') modeLabel.textContent = ll ? 'LIVE · LL-HLS' : 'LIVE · HLS';
    });
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
  async function playAt(t) {
    const f = fragmentAt(t);
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
    tl.setSpans(spans);
    root.dataset.fragments = String(frags.length);
  }
  async function fetchFragments() {
    if (fetching) { fetchAgain = true; return; }
    fetching = true;
    const a = tl.start - 30e3, b = Math.min(tl.end, Date.now() + 60e3);
    try {
      const r = await api.all('listFragments', { StreamName: name, MaxResults: 1000,
        FragmentSelector: { FragmentSelectorType: 'PRODUCER_TIMESTAMP', TimestampRange: { StartTimestamp: api.ts(a), EndTimestamp: api.ts(b) } } },
      'Fragments', MAX_FRAGMENT_PAGES);
      if (gone) return;
      const got = r.items.map(f => ({ s: f.ProducerTimestamp * 1000, e: f.ProducerTimestamp * 1000 + f.FragmentLengthInMilliseconds,
        n: f.FragmentNumber, size: f.FragmentSizeInBytes }));
      frags = frags.filter(f => f.s < a || f.s > b).concat(got).sort((x, y) => x.s - y.s);
      tl.setNote(r.truncated ? `showing the first ${got.length} fragments of this range: zoom in for the rest` : '');
      merge();
      if (companion) await fetchRecords(a, b);
    } catch (e) {
      if (!gone) toast(e.message, true);
    } finally {
      fetching = false;
      if (fetchAgain && !gone) { fetchAgain = false; scheduleFetch(); }
    }
  }
  timers.push(setInterval(() => { tl.tick(); if (tl.follow) scheduleFetch(); }, 2000));

  // ---- thumbnails ----
  // one picture per second of the timeline at most, cached for the page
  const thumbs = new Map();
  async function thumbnail(t) {
    const f = fragmentAt(t);
    if (!f || f.s > t) return null; // a gap: no picture
    const sec = Math.min(Math.max(Math.floor(t / 1000) * 1000, Math.ceil(f.s)), Math.floor(f.e));
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
      const f = fragmentAt(sel.a);
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
