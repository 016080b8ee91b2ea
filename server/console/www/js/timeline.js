// js/timeline.js — the archive's timeline: a canvas of our own (no chart
// library) showing the stored fragments as bars (gaps are what is not
// covered), marks for records, the play head, a cursor and a selection.
//
// Mouse / touch: wheel zooms around the pointer, drag pans, a click plays
// from that time, shift+drag (or drag in "select" mode) selects a range.
// Keyboard (the canvas is focusable): ←/→ move the cursor, shift+←/→
// extend the selection, +/- zoom, Enter plays from the cursor, [ and ]
// set the selection's start and end, Home/End go to the oldest data / now.
// Times are epoch milliseconds of producer time.

import { el, clock, dateTime } from './util.js';

export const ZOOMS = [
  ['5 min', 5 * 60e3], ['1 h', 3600e3], ['6 h', 6 * 3600e3], ['1 day', 86400e3], ['7 days', 7 * 86400e3],
];
const MIN_SPAN = 30e3, MAX_SPAN = 31 * 86400e3;
const TICKS = [1e3, 5e3, 10e3, 30e3, 60e3, 5 * 60e3, 10 * 60e3, 30 * 60e3, 3600e3, 3 * 3600e3,
  6 * 3600e3, 12 * 3600e3, 86400e3, 2 * 86400e3, 7 * 86400e3];

export class Timeline {
  constructor(parent, opts) {
    this.opts = opts;
    this.end = Date.now() + 5e3;
    this.start = this.end - 5 * 60e3;
    this.spans = [];      // [{s, e}] merged coverage, sorted
    this.marks = [];      // [{t, label}]
    this.playhead = null;
    this.cursor = null;
    this.sel = null;      // {a, b}
    this.follow = true;   // the view's end follows now
    this.selectMode = false;
    this.note = '';

    this.canvas = el('canvas', { class: 'timeline', tabindex: 0, role: 'slider',
      'aria-label': 'Archive timeline: arrows move, Enter plays, [ and ] select, + and - zoom',
      'aria-valuemin': 0, 'aria-valuemax': 100 });
    this.tip = el('div', { class: 'tip', hidden: true }, el('span'), el('img', { alt: '' }));
    const zooms = ZOOMS.map(([label, span]) => el('button', { type: 'button', class: 'small', text: label,
      onclick: () => this.zoomTo(span) }));
    this.followBtn = el('button', { type: 'button', class: 'small', 'aria-pressed': 'true', text: 'Follow live',
      onclick: () => { this.follow = !this.follow; this.followBtn.setAttribute('aria-pressed', String(this.follow)); if (this.follow) this.zoomTo(this.end - this.start); } });
    this.selBtn = el('button', { type: 'button', class: 'small', 'aria-pressed': 'false', text: 'Select range',
      onclick: () => { this.selectMode = !this.selectMode; this.selBtn.setAttribute('aria-pressed', String(this.selectMode)); } });
    this.label = el('span', { class: 'range-label' });
    this.root = el('div', { class: 'timeline-wrap' },
      el('div', { class: 'timeline-bar' }, el('span', { class: 'zooms', role: 'group', 'aria-label': 'Zoom' }, zooms),
        this.followBtn, this.selBtn, this.label),
      el('div', { class: 'timeline-canvas' }, this.canvas, this.tip));
    parent.append(this.root);
    this.bind();
    this.ro = new ResizeObserver(() => this.draw());
    this.ro.observe(this.canvas);
  }

  destroy() { this.ro.disconnect(); }

  x2t(x) { return this.start + (x / this.canvas.clientWidth) * (this.end - this.start); }
  t2x(t) { return ((t - this.start) / (this.end - this.start)) * this.canvas.clientWidth; }

  setView(start, end, fromUser) {
    const span = Math.min(MAX_SPAN, Math.max(MIN_SPAN, end - start));
    const mid = (start + end) / 2;
    this.start = mid - span / 2;
    this.end = mid + span / 2;
    if (fromUser && this.end < Date.now() - span * 0.02 && this.follow) {
      this.follow = false;
      this.followBtn.setAttribute('aria-pressed', 'false');
    }
    this.draw();
    this.opts.onView && this.opts.onView(this.start, this.end);
  }
  zoomTo(span) {
    if (this.follow) this.setView(Date.now() + span * 0.02 - span, Date.now() + span * 0.02);
    else { const c = this.cursor ?? (this.start + this.end) / 2; this.setView(c - span / 2, c + span / 2, true); }
  }
  tick() { // called every second: follow now
    if (this.follow) {
      const span = this.end - this.start;
      this.start = Date.now() + span * 0.02 - span;
      this.end = this.start + span;
    }
    this.draw();
  }

  setSpans(spans) { this.spans = spans; this.draw(); }
  setMarks(marks) { this.marks = marks; this.draw(); }
  setPlayhead(t) { this.playhead = t; this.draw(); }
  setNote(n) { this.note = n; this.draw(); }
  setSelection(a, b) {
    this.sel = a === null ? null : { a: Math.min(a, b), b: Math.max(a, b) };
    this.draw();
    this.opts.onSelect && this.opts.onSelect(this.sel);
  }

  bind() {
    const c = this.canvas;
    let down = null;
    c.addEventListener('wheel', ev => {
      ev.preventDefault();
      const t = this.x2t(ev.offsetX);
      const f = Math.exp(ev.deltaY * 0.002);
      const span = Math.min(MAX_SPAN, Math.max(MIN_SPAN, (this.end - this.start) * f));
      const r = ev.offsetX / c.clientWidth;
      this.follow = this.follow && f >= 1 && r > 0.9;
      this.followBtn.setAttribute('aria-pressed', String(this.follow));
      this.setView(t - r * span, t + (1 - r) * span, true);
    }, { passive: false });
    c.addEventListener('pointerdown', ev => {
      c.setPointerCapture(ev.pointerId);
      down = { x: ev.offsetX, t: this.x2t(ev.offsetX), start: this.start, end: this.end,
        select: ev.shiftKey || this.selectMode, moved: false };
    });
    c.addEventListener('pointermove', ev => {
      this.hover(ev.offsetX);
      if (!down) return;
      if (Math.abs(ev.offsetX - down.x) > 4) down.moved = true;
      if (!down.moved) return;
      if (down.select) this.setSelection(down.t, this.x2t(ev.offsetX));
      else {
        const dt = ((ev.offsetX - down.x) / c.clientWidth) * (down.end - down.start);
        this.follow = false;
        this.followBtn.setAttribute('aria-pressed', 'false');
        this.setView(down.start - dt, down.end - dt, true);
      }
    });
    c.addEventListener('pointerup', ev => {
      if (down && !down.moved) {
        const t = this.x2t(ev.offsetX);
        this.cursor = t;
        this.opts.onPlay && this.opts.onPlay(t);
      }
      down = null;
    });
    c.addEventListener('pointerleave', () => { this.tip.hidden = true; });
    c.addEventListener('keydown', ev => {
      const span = this.end - this.start;
      const step = span / 50;
      if (this.cursor === null) this.cursor = this.playhead ?? (this.start + this.end) / 2;
      const move = d => {
        const old = this.cursor;
        this.cursor = Math.min(Date.now(), this.cursor + d);
        if (ev.shiftKey) this.setSelection(this.sel ? (this.sel.a === old ? this.sel.b : this.sel.a) : old, this.cursor);
        if (this.cursor < this.start || this.cursor > this.end) {
          this.follow = false;
          this.setView(this.cursor - span / 2, this.cursor + span / 2, true);
        }
      };
      switch (ev.key) {
        case 'ArrowLeft': move(-step); break;
        case 'ArrowRight': move(step); break;
        case '+': case '=': this.follow = false; this.setView(this.cursor - span / 4, this.cursor + span / 4, true); break;
        case '-': this.setView(this.cursor - span, this.cursor + span, true); break;
        case 'Enter': case ' ': this.opts.onPlay && this.opts.onPlay(this.cursor); break;
        case '[': this.setSelection(this.cursor, this.sel ? this.sel.b : this.cursor + step * 5); break;
        case ']': this.setSelection(this.sel ? this.sel.a : this.cursor - step * 5, this.cursor); break;
        case 'Home': if (this.spans.length) { this.cursor = this.spans[0].s; this.follow = false; this.setView(this.cursor - span * 0.1, this.cursor + span * 0.9, true); } break;
        case 'End': this.cursor = Date.now(); this.follow = true; this.zoomTo(span); break;
        case 'Escape': this.setSelection(null); break;
        default: return;
      }
      ev.preventDefault();
      this.canvas.setAttribute('aria-valuetext', dateTime(this.cursor));
      this.hover(this.t2x(this.cursor));
      this.draw();
    });
    c.addEventListener('blur', () => { this.tip.hidden = true; });
  }

  hover(x) {
    const t = this.x2t(x);
    const [label, img] = this.tip.children;
    label.textContent = dateTime(t);
    this.tip.hidden = false;
    const w = this.canvas.clientWidth;
    this.tip.style.left = Math.max(0, Math.min(w - 170, x - 85)) + 'px';
    this.hoverT = t;
    if (!this.opts.thumbnail) { img.hidden = true; return; }
    // ask only once the pointer rests a moment
    clearTimeout(this.thumbTimer);
    this.thumbTimer = setTimeout(async () => {
      const src = await this.opts.thumbnail(t);
      if (this.hoverT !== t) return;
      img.hidden = !src;
      if (src) img.src = src;
    }, 150);
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const W = c.clientWidth, H = c.clientHeight;
    if (!W || !H) return;
    if (c.width !== Math.round(W * dpr) || c.height !== Math.round(H * dpr)) {
      c.width = Math.round(W * dpr);
      c.height = Math.round(H * dpr);
    }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    const css = getComputedStyle(c);
    const col = n => css.getPropertyValue(n).trim();
    g.fillStyle = col('--tl-bg') || '#f3f5f8';
    g.fillRect(0, 0, W, H);
    const barY = 22, barH = H - 44;
    // gaps are the background; coverage in green
    g.fillStyle = col('--tl-gap') || '#e3e7ee';
    g.fillRect(0, barY, W, barH);
    g.fillStyle = col('--tl-data') || '#2e9d57';
    for (const s of this.spans) {
      if (s.e < this.start || s.s > this.end) continue;
      const x0 = this.t2x(s.s), x1 = this.t2x(s.e);
      g.fillRect(x0, barY, Math.max(1, x1 - x0), barH);
    }
    // selection
    if (this.sel) {
      const x0 = this.t2x(this.sel.a), x1 = this.t2x(this.sel.b);
      g.fillStyle = col('--tl-sel') || 'rgba(29,111,220,.25)';
      g.fillRect(x0, 0, Math.max(1, x1 - x0), H);
      g.fillStyle = col('--accent') || '#1d6fdc';
      g.fillRect(x0, 0, 2, H);
      g.fillRect(x1 - 2, 0, 2, H);
    }
    // records
    g.fillStyle = col('--tl-mark') || '#e07b00';
    for (const m of this.marks) {
      if (m.t < this.start || m.t > this.end) continue;
      const x = this.t2x(m.t);
      g.beginPath();
      g.moveTo(x - 4, barY - 9); g.lineTo(x + 4, barY - 9); g.lineTo(x, barY - 1);
      g.fill();
    }
    // ticks
    const span = this.end - this.start;
    const step = TICKS.find(s => (s / span) * W >= 90) || TICKS[TICKS.length - 1];
    g.fillStyle = col('--fg-dim') || '#555';
    g.font = '11px system-ui, sans-serif';
    g.textBaseline = 'bottom';
    const tz = new Date().getTimezoneOffset() * 60e3;
    for (let t = Math.ceil((this.start - tz) / step) * step + tz; t <= this.end; t += step) {
      const x = this.t2x(t);
      g.fillRect(x, H - 20, 1, 6);
      const d = new Date(t);
      const text = step >= 86400e3 ? d.toLocaleDateString() : (d.getHours() === 0 && d.getMinutes() === 0 && step >= 3600e3) ? d.toLocaleDateString() : clock(t).slice(0, step >= 60e3 ? 5 : 8);
      g.fillText(text, x + 3, H - 2);
    }
    // now
    const xn = this.t2x(Date.now());
    if (xn >= 0 && xn <= W) { g.fillStyle = col('--fg') || '#222'; g.fillRect(xn, 0, 1, H); }
    // play head and cursor
    if (this.playhead !== null) {
      const x = this.t2x(this.playhead);
      g.fillStyle = col('--tl-head') || '#d22';
      g.fillRect(x - 1, 0, 2, H);
    }
    if (this.cursor !== null && document.activeElement === c) {
      const x = this.t2x(this.cursor);
      g.strokeStyle = col('--accent') || '#1d6fdc';
      g.setLineDash([3, 3]);
      g.beginPath(); g.moveTo(x + 0.5, 0); g.lineTo(x + 0.5, H); g.stroke();
      g.setLineDash([]);
    }
    if (this.note) {
      g.fillStyle = col('--fg-dim') || '#555';
      g.textBaseline = 'top';
      g.fillText(this.note, 6, 4);
    }
    this.label.textContent = `${dateTime(this.start)} – ${dateTime(this.end)}`;
    c.dataset.start = String(Math.round(this.start)); // the view, for tests and tools
    c.dataset.end = String(Math.round(this.end));
  }
}
