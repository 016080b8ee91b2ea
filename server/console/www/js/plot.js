// js/plot.js — a small line plot on a canvas (no chart library): one or two
// series over time, the y axis from 0 to the largest value in view, the
// last value written out. Points whose value is null are gaps.

import { el } from './util.js';

const COLORS = ['--plot-1', '--plot-2'];

export class Plot {
  constructor(title, unit, names, fmt) {
    this.unit = unit;
    this.names = names;
    this.fmt = fmt || (v => (Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 10) / 10) + (unit ? ' ' + unit : ''));
    this.points = [];
    this.canvas = el('canvas', { role: 'img', 'aria-label': title });
    this.value = el('span', { class: 'plot-value' });
    this.root = el('figure', { class: 'plot' },
      el('figcaption', {}, el('span', { text: title }), this.value), this.canvas);
    this.ro = new ResizeObserver(() => this.draw());
    this.ro.observe(this.canvas);
  }
  destroy() { this.ro.disconnect(); }
  set(points) { this.points = points; this.draw(); }
  draw() {
    const c = this.canvas, dpr = window.devicePixelRatio || 1;
    const W = c.clientWidth, H = c.clientHeight;
    if (!W || !H) return;
    c.width = Math.round(W * dpr); c.height = Math.round(H * dpr);
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    const css = getComputedStyle(c);
    g.clearRect(0, 0, W, H);
    const pts = this.points;
    let max = 0;
    for (const p of pts) for (const v of p.v) if (v !== null && v > max) max = v;
    max = max > 0 ? max * 1.15 : 1;
    // the last 10 minutes, or since the first sample (at least a minute)
    const t1 = Date.now();
    const t0 = Math.max(t1 - 10 * 60e3, Math.min(t1 - 60e3, pts.length ? pts[0].t : t1));
    const x = t => ((t - t0) / (t1 - t0)) * W;
    const y = v => H - 14 - (v / max) * (H - 24);
    g.strokeStyle = css.getPropertyValue('--grid').trim() || '#ddd';
    g.beginPath(); g.moveTo(0, y(0) + 0.5); g.lineTo(W, y(0) + 0.5); g.stroke();
    g.fillStyle = css.getPropertyValue('--fg-dim').trim() || '#666';
    g.font = '10px system-ui, sans-serif';
    g.textBaseline = 'top';
    g.fillText(this.fmt(max / 1.15), 2, 2);
    g.textBaseline = 'bottom';
    const back = (t1 - t0) / 1000;
    g.fillText(back >= 120 ? `−${Math.round(back / 60)} min` : `−${Math.round(back)} s`, 2, H);
    g.fillText('now', W - 22, H);
    this.names.forEach((name, i) => {
      g.strokeStyle = css.getPropertyValue(COLORS[i]).trim() || (i ? '#e07b00' : '#1d6fdc');
      g.lineWidth = 1.5;
      g.beginPath();
      let on = false;
      for (const p of pts) {
        const v = p.v[i];
        if (v === null) { on = false; continue; }
        if (!on) g.moveTo(x(p.t), y(v)); else g.lineTo(x(p.t), y(v));
        on = true;
      }
      g.stroke();
    });
    const last = pts.length ? pts[pts.length - 1].v : [];
    this.value.textContent = this.names.map((n, i) => (this.names.length > 1 ? n + ' ' : '') +
      (last[i] === null || last[i] === undefined ? '—' : this.fmt(last[i]))).join(' · ');
  }
}
