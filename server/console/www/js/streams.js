// js/streams.js — the Streams page: every video stream with its state at a
// glance (producer connected, recent bitrate, age of the newest fragment,
// retention, size on disk; from POST /framelog/listStreamStatus), its
// tags; create, delete, change retention and tags — all through the
// Kinesis Video APIs (ListStreams, CreateStream, DeleteStream,
// UpdateDataRetention, ListTagsForStream, TagStream, UntagStream).

import * as api from './api.js';
import { el, bytes, bitrate, age, hours, toast } from './util.js';

const REFRESH_MS = 2000;

export function mount(root, ctx) {
  let timer = null, gone = false;
  const tags = new Map();      // name -> {k: v}
  const open = new Set();      // names whose edit panel is open
  let infos = [], status = new Map();
  const hasStatus = !!ctx.features.APIs.ListStreamStatus;

  const tbody = el('tbody');
  const note = el('p', { class: 'note', hidden: hasStatus ? true : null,
    text: 'This server has no /framelog/listStreamStatus: producer, bitrate, last fragment and size are not shown.' });
  const form = el('form', { class: 'create', 'aria-label': 'Create a stream' },
    el('label', {}, 'Name ', el('input', { name: 'name', required: true, pattern: '[a-zA-Z0-9_.\\-]{1,256}', placeholder: 'camera-1' })),
    el('label', {}, 'Retention (hours) ', el('input', { name: 'ret', type: 'number', min: 0, max: 87600, value: 24 })),
    el('label', {}, 'Tags ', el('input', { name: 'tags', placeholder: 'site=lab, framelog.events=cam-events' })),
    el('button', { type: 'submit', text: 'Create stream' }));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const body = { StreamName: form.name.value.trim(), MediaType: 'video/h264',
      DataRetentionInHours: Number(form.ret.value || 0) };
    const t = parseTags(form.tags.value);
    if (Object.keys(t).length) body.Tags = t;
    try {
      await api.kvs('createStream', body);
      toast('Created ' + body.StreamName);
      form.reset();
      await refresh(true);
    } catch (e) { toast(e.message, true); }
  });

  root.append(el('h1', { text: 'Streams' }), form, note,
    el('div', { class: 'table-wrap' }, el('table', { class: 'streams' },
      el('thead', {}, el('tr', {}, ['Stream', 'State', 'Bitrate', 'Last fragment', 'Retention', 'On disk', 'Tags', ''].map(h => el('th', { scope: 'col', text: h })))),
      tbody)));

  function parseTags(s) {
    const out = {};
    for (const part of s.split(',')) {
      const i = part.indexOf('=');
      if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
    }
    return out;
  }

  function state(st) {
    if (!st) return { cls: 'unknown', text: hasStatus ? 'no data' : '—' };
    if (st.ProducerConnected) return { cls: 'live', text: 'live' };
    if (st.LastFragment && st.LastFragment.AgeInMilliseconds < 30000) return { cls: 'recent', text: 'recent' };
    if (!st.LastFragment) return { cls: 'empty', text: 'empty' };
    return { cls: 'idle', text: 'idle' };
  }

  function render() {
    // the table is rebuilt: keep the keyboard's place
    const fk = document.activeElement && tbody.contains(document.activeElement) ? document.activeElement.dataset.fk : null;
    tbody.textContent = '';
    if (!infos.length) tbody.append(el('tr', {}, el('td', { colspan: 8, class: 'note', text: 'No video streams yet: create one above, then push video to it (framelog-put, the SDK, or any KVS producer).' })));
    for (const s of infos) {
      const st = status.get(s.StreamName);
      const sv = state(st);
      const t = tags.get(s.StreamName) || {};
      const row = el('tr', { 'data-stream': s.StreamName },
        el('th', { scope: 'row' }, el('a', { href: '#/stream/' + encodeURIComponent(s.StreamName), 'data-fk': 'a:' + s.StreamName, text: s.StreamName })),
        el('td', {}, el('span', { class: 'badge ' + sv.cls, 'data-state': sv.cls, text: sv.text })),
        el('td', { text: st ? bitrate(st.RecentBitrate) : '—' }),
        el('td', { text: st && st.LastFragment ? age(st.LastFragment.AgeInMilliseconds) + ' ago' : '—' }),
        el('td', { text: hours(s.DataRetentionInHours) }),
        el('td', { text: st ? bytes(st.SizeOnDiskBytes) : '—' }),
        el('td', { class: 'tags' }, Object.entries(t).map(([k, v]) => el('span', { class: 'tag', text: v ? `${k}=${v}` : k }))),
        el('td', { class: 'actions' },
          el('button', { type: 'button', class: 'small', 'data-fk': 'e:' + s.StreamName, 'aria-expanded': open.has(s.StreamName) ? 'true' : 'false',
            text: 'Edit', onclick: () => { open.has(s.StreamName) ? open.delete(s.StreamName) : open.add(s.StreamName); render(); } })));
      tbody.append(row);
      if (open.has(s.StreamName)) tbody.append(editRow(s, t));
    }
    if (fk) for (const e of tbody.querySelectorAll('[data-fk]')) if (e.dataset.fk === fk) e.focus();
  }

  function editRow(s, t) {
    const ret = el('input', { type: 'number', min: 0, max: 87600, value: s.DataRetentionInHours, 'aria-label': 'Retention in hours' });
    const tk = el('input', { placeholder: 'key', 'aria-label': 'Tag key' });
    const tv = el('input', { placeholder: 'value', 'aria-label': 'Tag value' });
    const del = el('button', { type: 'button', class: 'danger small', text: 'Delete stream' });
    del.addEventListener('click', async () => {
      if (!del.dataset.armed) { del.dataset.armed = '1'; del.textContent = 'Click again to delete ' + s.StreamName; return; }
      try {
        await api.kvs('deleteStream', { StreamARN: s.StreamARN, CurrentVersion: s.Version });
        toast('Deleted ' + s.StreamName);
        open.delete(s.StreamName);
        await refresh(true);
      } catch (e) { toast(e.message, true); }
    });
    return el('tr', { class: 'edit' }, el('td', { colspan: 8 }, el('div', { class: 'edit-panel' },
      el('label', {}, 'Retention (hours, 0 = forever) ', ret,
        el('button', { type: 'button', class: 'small', text: 'Save', onclick: async () => {
          const delta = Number(ret.value) - s.DataRetentionInHours;
          if (!delta) return;
          try {
            await api.kvs('updateDataRetention', { StreamName: s.StreamName, CurrentVersion: s.Version,
              Operation: delta > 0 ? 'INCREASE_DATA_RETENTION' : 'DECREASE_DATA_RETENTION',
              DataRetentionChangeInHours: Math.abs(delta) });
            toast('Retention of ' + s.StreamName + ': ' + hours(Number(ret.value)));
            await refresh(true);
          } catch (e) { toast(e.message, true); }
        } })),
      el('div', { class: 'tag-edit' }, 'Tags ',
        Object.entries(t).map(([k, v]) => el('span', { class: 'tag' }, v ? `${k}=${v} ` : k + ' ',
          el('button', { type: 'button', class: 'x', 'aria-label': 'Remove tag ' + k, text: '×', onclick: async () => {
            try { await api.kvs('untagStream', { StreamName: s.StreamName, TagKeyList: [k] }); await refresh(true); }
            catch (e) { toast(e.message, true); }
          } }))),
        tk, tv, el('button', { type: 'button', class: 'small', text: 'Add tag', onclick: async () => {
          if (!tk.value.trim()) return;
          try { await api.kvs('tagStream', { StreamName: s.StreamName, Tags: { [tk.value.trim()]: tv.value } }); await refresh(true); }
          catch (e) { toast(e.message, true); }
        } })),
      del)));
  }

  async function refresh(full) {
    try {
      const r = await api.all('listStreams', { MaxResults: 1000 }, 'StreamInfoList', 10);
      if (gone) return;
      const before = new Set(infos.map(s => s.StreamName));
      infos = r.items;
      const fresh = infos.filter(s => full || !before.has(s.StreamName) || !tags.has(s.StreamName));
      await Promise.all(fresh.map(async s => {
        try { tags.set(s.StreamName, (await api.kvs('listTagsForStream', { StreamName: s.StreamName })).Tags || {}); }
        catch (e) { /* deleted meanwhile */ }
      }));
      if (hasStatus) {
        const st = await api.all('framelog/listStreamStatus', { MaxResults: 1000 }, 'StreamStatus', 10);
        status = new Map(st.items.map(x => [x.StreamName, x]));
      }
      if (!gone && !root.querySelector('.edit input:focus')) render();
    } catch (e) {
      if (!gone) toast(e.message, true);
    }
  }

  (async function loop() {
    await refresh(true);
    if (!gone) timer = setTimeout(function tick() {
      refresh(false).then(() => { if (!gone) timer = setTimeout(tick, REFRESH_MS); });
    }, REFRESH_MS);
  })();

  return () => { gone = true; clearTimeout(timer); };
}
