// The board: lists the runs under its folder (GET api/runs, read again every two
// seconds), draws the curves of the runs ticked (GET api/curves?id=…, fetched again
// only when a run's metrics changed) with uPlot, and opens a run's record. Read-only;
// no request goes anywhere but to the page's own server.
'use strict';

(() => {
  const POLL_MS = 2000;
  /** Runs ticked at first sight, at most: the newest. */
  const FIRST_SHOWN = 8;
  const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  /** The x columns of the curves' rows: step lines [step, epoch, samples, seconds, risk], epoch lines [..., risk, test risk, test accuracy]. */
  const X_COLUMN = { step: 0, epoch: 1, samples: 2, seconds: 3 };
  const X_LABEL = { step: 'step', epoch: 'epoch', samples: 'samples seen', seconds: 'wall time (s)' };

  const token = new URLSearchParams(location.search).get('token');
  const api = (path, params = {}) => {
    const query = new URLSearchParams(params);
    if (token) query.set('token', token);
    const q = query.toString();
    return path + (q ? '?' + q : '');
  };
  const $ = (id) => document.getElementById(id);
  const { ema } = shardpropSmooth;

  /** id -> { run, curves, shown, color } */
  const runs = new Map();
  let colorNext = 0;
  let xAxis = 'step';
  let smoothing = 0.6;
  let openId = null;

  const fixed = (v, digits) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '–');

  function setStatus(text, kind) {
    const el = $('status');
    el.textContent = text;
    el.className = 'status ' + (kind || '');
  }

  // ---- the charts -------------------------------------------------------------

  const chartWidth = (el) => Math.max(300, el.clientWidth - 4);
  const charts = {};

  /** (x, y) rows of one run, x present and sorted (a resumed run's clock starts again): uPlot.join wants each table sorted. */
  function table(columns, yColumn, transform) {
    const xs = columns[X_COLUMN[xAxis]];
    const ys = transform ? transform(columns[yColumn]) : columns[yColumn];
    const rows = [];
    for (let i = 0; i < xs.length; i++) if (typeof xs[i] === 'number') rows.push([xs[i], ys[i]]);
    rows.sort((a, b) => a[0] - b[0]);
    return [rows.map((r) => r[0]), rows.map((r) => r[1])];
  }

  /** Draws one chart: a curve per shown run; the chart is made again when its runs change. */
  function draw(name, elId, series, yLabel, logScale) {
    const el = $(elId);
    const shown = [...runs.values()].filter((r) => r.shown && r.curves);
    const tables = [];
    const lines = [];
    let points = 0;
    for (const r of shown) {
      const t = series(r.curves);
      if (!t || t[0].length === 0) continue;
      // a log axis has no place for 0 or less: such a point is a gap
      if (logScale) t[1] = t[1].map((v) => (typeof v === 'number' && v > 0 ? v : null));
      points += t[1].filter((v) => v !== null).length;
      tables.push(t);
      lines.push({ label: r.run.id, stroke: r.color, width: 1.5, spanGaps: true, points: { show: t[0].length < 60 } });
    }
    el.dataset.points = String(points);
    el.dataset.runs = String(tables.length);
    const data = tables.length > 0 ? uPlot.join(tables) : [[]];
    const key = lines.map((l) => l.label).join('\n') + '|' + xAxis;
    const old = charts[name];
    if (old && old.key === key) return old.chart.setData(data);
    if (old) old.chart.destroy();
    const chart = new uPlot(
      {
        width: chartWidth(el),
        height: 260,
        // the accuracy axis fits the data (a run at 0.97 is not a flat line at the top of 0..1)
        scales: { x: { time: false }, y: logScale ? { distr: 3 } : {} },
        axes: [{ label: X_LABEL[xAxis] }, { label: yLabel, size: 60 }],
        legend: { show: true },
        series: [{ label: X_LABEL[xAxis] }, ...lines],
      },
      data,
      el,
    );
    charts[name] = { chart, key };
  }

  function drawAll() {
    draw('risk', 'risk-chart', (c) => table(c.steps, 4, (ys) => ema(ys, smoothing)), 'train risk', true);
    draw('accuracy', 'accuracy-chart', (c) => table(c.epochs, 6), 'test accuracy', false);
    draw('testRisk', 'test-risk-chart', (c) => table(c.epochs, 5), 'test risk', true);
  }

  addEventListener('resize', () => {
    for (const [name, { chart }] of Object.entries(charts)) {
      const el = { risk: $('risk-chart'), accuracy: $('accuracy-chart'), testRisk: $('test-risk-chart') }[name];
      chart.setSize({ width: chartWidth(el), height: 260 });
    }
  });

  $('x-axis').addEventListener('change', (e) => {
    xAxis = e.target.value;
    drawAll();
  });
  $('smoothing').addEventListener('input', (e) => {
    smoothing = Number(e.target.value);
    $('smoothing-value').textContent = smoothing.toFixed(2);
    drawAll();
  });

  // ---- the table of runs ------------------------------------------------------

  function cell(tr, content, numeric) {
    const td = document.createElement('td');
    if (content instanceof Node) td.append(content);
    else td.textContent = String(content);
    if (numeric) td.className = 'num';
    tr.append(td);
    return td;
  }

  function statusCell(run) {
    const span = document.createElement('span');
    span.className = 'status ' + run.status;
    span.textContent = run.status;
    if (run.reason) span.title = run.reason;
    if (run.status !== 'live' || !run.dashboard) return span;
    const link = document.createElement('a');
    link.href = run.dashboard;
    link.target = '_blank';
    link.rel = 'noopener noreferrer';
    link.className = 'dashboard';
    link.textContent = 'live dashboard';
    const both = document.createElement('span');
    both.append(span, ' ', link);
    return both;
  }

  function showRuns() {
    const rows = [...runs.values()].map((r) => {
      const { run } = r;
      const result = run.record?.result;
      const tr = document.createElement('tr');
      tr.dataset.run = run.id;
      tr.dataset.status = run.status;
      const tick = document.createElement('input');
      tick.type = 'checkbox';
      tick.checked = r.shown;
      tick.disabled = run.status === 'damaged';
      tick.addEventListener('change', () => {
        r.shown = tick.checked;
        refreshCurves().then(drawAll);
      });
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = r.color;
      const label = document.createElement('span');
      label.append(tick, swatch);
      cell(tr, label);
      const open = document.createElement('button');
      open.className = 'open';
      open.textContent = run.id;
      open.addEventListener('click', () => showDetails(run.id));
      cell(tr, open);
      cell(tr, statusCell(run));
      cell(tr, run.startedAt ? run.startedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '–');
      cell(tr, result ? result.steps : (run.record?.config?.steps ?? '–'), true);
      cell(tr, fixed(result?.trainRisk, 5), true);
      cell(tr, fixed(result?.testAccuracy, 4), true);
      cell(tr, fixed(result?.seconds, 1), true);
      return tr;
    });
    $('runs').tBodies[0].replaceChildren(...rows);
  }

  // ---- a run's details -------------------------------------------------------

  function keyValues(title, object) {
    const box = document.createElement('div');
    const h = document.createElement('h3');
    h.textContent = title;
    const t = document.createElement('table');
    t.dataset.part = title;
    for (const [key, value] of Object.entries(object || {})) {
      if (value === undefined || value === null) continue;
      const tr = document.createElement('tr');
      cell(tr, key);
      const pre = document.createElement('pre');
      pre.textContent = typeof value === 'object' ? JSON.stringify(value) : String(value);
      cell(tr, pre);
      t.append(tr);
    }
    box.append(h, t);
    return box;
  }

  function showDetails(id) {
    openId = id;
    const r = runs.get(id);
    const section = $('details');
    if (!r) return (section.hidden = true);
    const { run } = r;
    const rec = run.record || {};
    $('details-title').textContent = run.id;
    const status = { status: run.status, reason: run.reason, started: run.startedAt, ended: run.endedAt, process: rec.process, dashboard: run.dashboard };
    const parts = [keyValues('status', status), keyValues('configuration', rec.config), keyValues('summary', rec.result)];
    if (rec.data) parts.push(keyValues('data', { train: rec.data.train, test: rec.data.test }));
    if (rec.files) parts.push(keyValues('files', rec.files));
    if (rec.versions) parts.push(keyValues('versions', rec.versions));
    section.querySelector('.details').replaceChildren(...parts);
    section.hidden = false;
  }

  // ---- reading the server -----------------------------------------------------

  async function getJson(url) {
    const res = await fetch(url, { cache: 'no-store' });
    if (!res.ok) throw new Error(`${res.status} ${(await res.text()).trim()}`);
    return res.json();
  }

  /** Fetches the curves of shown runs whose metrics changed since they were fetched. */
  async function refreshCurves() {
    const stale = [...runs.values()].filter((r) => r.shown && r.run.status !== 'damaged' && r.curves?.version !== r.run.version);
    await Promise.all(stale.map(async (r) => {
      try {
        r.curves = await getJson(api('api/curves', { id: r.run.id }));
      } catch {
        // gone since the listing: the next listing drops it
      }
    }));
    return stale.length > 0;
  }

  async function poll() {
    try {
      const listing = await getJson(api('api/runs'));
      $('folder').textContent = listing.dir;
      const seen = new Set();
      for (const run of listing.runs) {
        seen.add(run.id);
        const known = runs.get(run.id);
        if (known) known.run = run;
        else {
          const shownNow = [...runs.values()].filter((r) => r.shown).length;
          runs.set(run.id, { run, curves: null, shown: run.status !== 'damaged' && shownNow < FIRST_SHOWN, color: COLORS[colorNext++ % COLORS.length] });
        }
      }
      for (const id of [...runs.keys()]) if (!seen.has(id)) runs.delete(id);
      // newest first, as the server lists them
      const order = listing.runs.map((r) => r.id);
      const sorted = new Map(order.map((id) => [id, runs.get(id)]));
      runs.clear();
      for (const [id, r] of sorted) runs.set(id, r);
      showRuns();
      if (openId !== null) showDetails(openId);
      await refreshCurves();
      drawAll();
      const live = listing.runs.filter((r) => r.status === 'live').length;
      setStatus(`${listing.runs.length} runs${live ? `, ${live} live` : ''}`, live ? 'live' : 'finished');
    } catch (err) {
      setStatus(`cannot read the board's server (${err.message}); retrying`, 'refused');
    }
    setTimeout(poll, POLL_MS);
  }

  poll();
})();
