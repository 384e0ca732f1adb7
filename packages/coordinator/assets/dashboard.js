// The live dashboard: follows the coordinator's feed (server-sent events, one
// JSON frame each: the whole state first, then what is new) and draws it with
// uPlot. Read-only; no request goes anywhere but to the page's own server.
'use strict';

(() => {
  /** Points kept per curve; beyond this, every other one goes. */
  const MAX_POINTS = 8000;
  const token = new URLSearchParams(location.search).get('token');
  const feedUrl = 'events' + (token ? '?token=' + encodeURIComponent(token) : '');

  const $ = (id) => document.getElementById(id);
  const { ema } = shardpropSmooth;
  // the feed's columns: steps [step, epoch, samples, seconds, train risk] (its metrics lines),
  // epochs [epoch, step, samples, seconds, train risk, test risk, test accuracy]
  const steps = [[], [], [], [], []];
  const epochs = [[], [], [], [], [], [], []];
  const STEP_X = { step: 0, epoch: 1, samples: 2, seconds: 3 };
  const EPOCH_X = { step: 1, epoch: 0, samples: 2, seconds: 3 };
  const X_LABEL = { step: 'step', epoch: 'epoch', samples: 'samples seen', seconds: 'wall time (s)' };
  let xAxis = 'step';
  let smoothing = 0.6;
  let over = false;

  const chartWidth = (el) => Math.max(300, el.clientWidth - 4);
  const riskEl = $('risk-chart');
  const epochEl = $('epoch-chart');
  let riskChart = null;
  let epochChart = null;

  /** The charts for the x axis chosen (made again when it changes: uPlot's axis labels are fixed). */
  function makeCharts() {
    riskChart?.destroy();
    epochChart?.destroy();
    riskChart = new uPlot(
      {
        width: chartWidth(riskEl),
        height: 260,
        // log scale: the first steps' risk would flatten the rest of the curve
        scales: { x: { time: false }, y: { distr: 3 } },
        axes: [{ label: X_LABEL[xAxis] }, { label: 'risk (log scale)' }],
        series: [
          { label: X_LABEL[xAxis] },
          { label: 'train risk', stroke: 'rgba(31,119,180,0.25)', width: 1 },
          { label: 'smoothed', stroke: '#1f77b4', width: 2 },
        ],
      },
      riskData(),
      riskEl,
    );
    epochChart = new uPlot(
      {
        width: chartWidth(epochEl),
        height: 260,
        // the accuracy axis fits the data: a run at 0.97 is not a flat line at the top of 0..1
        scales: { x: { time: false }, accuracy: {} },
        axes: [{ label: X_LABEL[xAxis] }, { label: 'risk' }, { scale: 'accuracy', side: 1, label: 'accuracy', grid: { show: false }, size: 60 }],
        series: [
          { label: X_LABEL[xAxis] },
          { label: 'train risk', stroke: '#1f77b4', width: 1.5 },
          { label: 'test risk', stroke: '#ff7f0e', width: 1.5 },
          { label: 'test accuracy', stroke: '#2ca02c', width: 1.5, scale: 'accuracy' },
        ],
      },
      epochData(),
      epochEl,
    );
  }

  /** [x, train risk, its moving average]: both on the log scale. */
  function riskData() {
    const risk = steps[4];
    return [steps[STEP_X[xAxis]], risk.map(onLogScale), ema(risk, smoothing).map(onLogScale)];
  }

  function epochData() {
    return [epochs[EPOCH_X[xAxis]], epochs[4], epochs[5], epochs[6]];
  }

  addEventListener('resize', () => {
    riskChart.setSize({ width: chartWidth(riskEl), height: 260 });
    epochChart.setSize({ width: chartWidth(epochEl), height: 260 });
  });
  $('x-axis').addEventListener('change', (e) => {
    xAxis = e.target.value;
    makeCharts();
  });
  $('smoothing').addEventListener('input', (e) => {
    smoothing = Number(e.target.value);
    $('smoothing-value').textContent = smoothing.toFixed(2);
    riskChart.setData(riskData());
  });

  // a log axis has no place for 0, a negative or NaN: uPlot's ticks never end and the page freezes; such a point is a gap
  function onLogScale(v) {
    return typeof v === 'number' && v > 0 ? v : null;
  }

  /** Appends (or, on reset, replaces with) the given columns; thins to MAX_POINTS, keeping the first and the last point. */
  function extend(target, columns, reset) {
    target.forEach((column, i) => {
      if (reset) column.length = 0;
      for (const v of columns[i]) column.push(v);
    });
    if (target[0].length <= MAX_POINTS) return;
    for (const column of target) {
      const last = column.length - 1;
      let kept = 0;
      for (let i = 0; i < column.length; i += 2) column[kept++] = column[i];
      if (last % 2 === 1) column[kept++] = column[last];
      column.length = kept;
    }
  }


  const fixed = (v, digits) => (typeof v === 'number' ? v.toFixed(digits) : '–');

  function setStatus(text, kind) {
    const el = $('status');
    el.textContent = text;
    el.className = 'status ' + (kind || '');
  }

  /** When (local time) and why a worker left. */
  function leftNote(w) {
    const at = typeof w.leftAt === 'number' ? new Date(w.leftAt).toLocaleTimeString('en-GB') : '';
    return [at, w.reason].filter(Boolean).join(' · ');
  }

  function showWorkers(workers) {
    const body = $('workers').tBodies[0];
    const rows = workers.map((w) => {
      const tr = document.createElement('tr');
      tr.className = w.state;
      tr.dataset.worker = String(w.id);
      const cells = [
        [w.id], [w.name], [w.address], [w.shard, true],
        [fixed(w.stepMs, 2), true], [fixed(w.computeMs, 2), true], [fixed(w.waitMs, 2), true],
        [fixed(w.computeSeconds, 2), true], [fixed(w.waitSeconds, 2), true], [w.state],
        [typeof w.threads === 'number' ? w.threads : '–', true],
        [typeof w.cpu === 'number' ? (100 * w.cpu).toFixed(0) : '–', true],
        [typeof w.rssBytes === 'number' ? (w.rssBytes / 1048576).toFixed(0) : '–', true],
        [w.state === 'left' ? leftNote(w) : ''],
      ];
      for (const [value, numeric] of cells) {
        const td = document.createElement('td');
        td.textContent = String(value);
        if (numeric) td.className = 'num';
        tr.append(td);
      }
      return tr;
    });
    body.replaceChildren(...rows);
  }

  function apply(frame) {
    const { run } = frame;
    $('run').textContent = `${run.data} (${run.samples} samples) · layers ${run.layers.join(',')} · batch ${run.batch} · ${run.optimizer} η=${run.lr} · ${run.dtype}`;
    extend(steps, frame.steps, frame.reset);
    extend(epochs, frame.epochs, frame.reset);
    riskChart.setData(riskData());
    epochChart.setData(epochData());
    riskEl.dataset.points = String(steps[0].length);
    epochEl.dataset.points = String(epochs[0].length);

    $('step').textContent = `${frame.step} / ${run.totalSteps}`;
    $('epoch').textContent = String(frame.epoch || '–');
    $('rate').textContent = frame.samplesPerSecond ? Math.round(frame.samplesPerSecond).toLocaleString('en-US') : '–';
    // the frame's own figures: the curves' last kept points may be older than the last step
    $('risk').textContent = fixed(frame.risk, 5);
    $('accuracy').textContent = fixed(frame.testAccuracy, 4);
    showWorkers(frame.workers);

    over = frame.status === 'finished' || frame.status === 'stopped' || frame.status === 'failed';
    setStatus(frame.reason ? `${frame.status}: ${frame.reason}` : frame.status, frame.status.split(' ')[0]);
    document.title = `shardprop · ${frame.status} · step ${frame.step}`;
  }

  makeCharts();
  const feed = new EventSource(feedUrl);
  feed.onmessage = (event) => apply(JSON.parse(event.data));
  feed.onerror = () => {
    if (over) return feed.close();
    // a refused feed (wrong token, too many dashboards) is not retried by the browser
    if (feed.readyState === EventSource.CLOSED) setStatus('the coordinator refused the live feed (token? too many dashboards?); reload to try again', 'refused');
    else setStatus('connection lost; reconnecting…', 'refused');
  };
})();
