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
  // columns: [step, risk] and [epoch, train risk, test risk, test accuracy]
  const steps = [[], []];
  const epochs = [[], [], [], []];
  let over = false;

  const chartWidth = (el) => Math.max(300, el.clientWidth - 4);
  const riskEl = $('risk-chart');
  const epochEl = $('epoch-chart');
  const riskChart = new uPlot(
    {
      width: chartWidth(riskEl),
      height: 260,
      // log scale: the first steps' risk would flatten the rest of the curve
      scales: { x: { time: false }, y: { distr: 3 } },
      axes: [{ label: 'step' }, { label: 'risk (log scale)' }],
      series: [{ label: 'step' }, { label: 'train risk', stroke: '#1f77b4', width: 1.5 }],
    },
    steps,
    riskEl,
  );
  const epochChart = new uPlot(
    {
      width: chartWidth(epochEl),
      height: 260,
      scales: { x: { time: false }, accuracy: { range: [0, 1] } },
      axes: [{ label: 'epoch' }, { label: 'risk' }, { scale: 'accuracy', side: 1, label: 'accuracy', grid: { show: false } }],
      series: [
        { label: 'epoch' },
        { label: 'train risk', stroke: '#1f77b4', width: 1.5 },
        { label: 'test risk', stroke: '#ff7f0e', width: 1.5 },
        { label: 'test accuracy', stroke: '#2ca02c', width: 1.5, scale: 'accuracy' },
      ],
    },
    epochs,
    epochEl,
  );
  addEventListener('resize', () => {
    riskChart.setSize({ width: chartWidth(riskEl), height: 260 });
    epochChart.setSize({ width: chartWidth(epochEl), height: 260 });
  });

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

  // a log axis has no place for 0, a negative or NaN: uPlot's ticks never end and the page freezes; such a point is a gap
  const onLogScale = (v) => (typeof v === 'number' && v > 0 ? v : null);

  const fixed = (v, digits) => (typeof v === 'number' ? v.toFixed(digits) : '–');

  function setStatus(text, kind) {
    const el = $('status');
    el.textContent = text;
    el.className = 'status ' + (kind || '');
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
    extend(steps, [frame.steps[0], frame.steps[1].map(onLogScale)], frame.reset);
    // the feed's epoch columns are [epoch, step, train risk, test risk, test accuracy]: the chart skips the step
    const [epoch, , trainRisk, testRisk, testAccuracy] = frame.epochs;
    extend(epochs, [epoch, trainRisk, testRisk, testAccuracy], frame.reset);
    riskChart.setData(steps);
    epochChart.setData(epochs);
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

  const feed = new EventSource(feedUrl);
  feed.onmessage = (event) => apply(JSON.parse(event.data));
  feed.onerror = () => {
    if (over) return feed.close();
    // a refused feed (wrong token, too many dashboards) is not retried by the browser
    if (feed.readyState === EventSource.CLOSED) setStatus('the coordinator refused the live feed (token? too many dashboards?); reload to try again', 'refused');
    else setStatus('connection lost; reconnecting…', 'refused');
  };
})();
