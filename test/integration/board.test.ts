import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { collect, killAll, runCli, startCli, tempDir } from '../helpers/cli.js';
import { CHROMIUM, HAS_CHROMIUM, openBrowser, type Browser } from '../helpers/browser.js';
import { fetchText } from '../helpers/http.js';
import { UNBOUNDED_STEPS } from '../helpers/runs.js';

/**
 * `shardprop board` as a real process over a folder of real runs: a finished one,
 * one training while the board is up (made after the board started), and a damaged
 * one; over plain HTTP (the listing, the curves, refusals) and in Debian's headless
 * Chromium (the table, the curves, a run's details). Every wait is for a log line,
 * a process or a page element; the test's timeout bounds a hang.
 */
const tmp = tempDir();
afterAll(() => {
  killAll();
  tmp.remove();
});

const XOR = ['--data', 'xor', '--layers', '2,4,1', '--batch', 'full', '--lr', '1'];
const TOKEN = '0123456789abcdef0123456789abcdef';


/** Starts `shardprop board ARGS` and waits for its address in its log. */
async function startBoard(args: string[]) {
  const c = collect(startCli(['board', ...args]));
  const line = await c.stderrLines((l) => l.includes('board serving'));
  return { ...c, url: JSON.parse(line).url as string };
}

interface ListedRun { id: string; status: string; reason?: string; dashboard?: string; version: string; record?: { config: Record<string, unknown>; result?: Record<string, unknown> } }

async function listing(url: string, headers: Record<string, string> = {}): Promise<ListedRun[]> {
  const res = await fetchText(`${url}api/runs`, { headers });
  expect(res.status, res.body).toBe(200);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  return (JSON.parse(res.body) as { runs: ListedRun[] }).runs;
}

/** A finished run (20 step lines), a damaged record beside metrics, and metrics without a record. */
async function makeRuns(dir: string): Promise<void> {
  const r = await runCli(['train', ...XOR, '--steps', '200', '--metrics-every', '10', '--workers', '0', '--out', `${dir}/done/model.json`]);
  expect(r.code, r.stderr).toBe(0);
  writeFileSync(`${dir}/done/model.metrics.jsonl`, readFileSync(`${dir}/done/model.metrics.jsonl`, 'utf8') + '{"kind":"step","step":2'); // a line being written
  tmp.write(`${dir.slice(tmp.dir.length + 1)}/cut/model.run.json`, '{"format":"shardprop.run/v1","status":"runn');
  tmp.write(`${dir.slice(tmp.dir.length + 1)}/orphan/model.metrics.jsonl`, '{"kind":"step","step":1,"risk":0.5}\nnot json\n');
}

describe('board over HTTP', () => {
  it('lists finished, damaged and live runs (a run started after the board appears, with its dashboard); a run whose process died says so', async () => {
    const dir = tmp.path('http-runs');
    await makeRuns(dir);
    const board = await startBoard([dir, '--port', '0']);
    try {
      expect(board.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      const before = await listing(board.url);
      expect(before.map((r) => [r.id, r.status])).toEqual([['orphan/model', 'damaged'], ['done/model', 'finished'], ['cut/model', 'damaged']]);
      expect(before.find((r) => r.id === 'cut/model')!.reason).toContain('not JSON');
      expect(before.find((r) => r.id === 'orphan/model')!.reason).toContain('without a run record');
      const done = before.find((r) => r.id === 'done/model')!;
      expect(done.record!.config).toMatchObject({ data: 'xor', steps: 200, metricsEvery: 10 });
      expect(done.record!.result).toMatchObject({ steps: 200 });

      // the finished run's curves: 20 step lines (the half-written 21st left out), 200 epoch lines, x columns as written
      const curves = JSON.parse((await fetchText(`${board.url}api/curves?id=done/model`)).body);
      expect(curves.steps[0]).toEqual(Array.from({ length: 20 }, (_, i) => 10 * (i + 1)));
      expect(curves.steps[2]).toEqual(curves.steps[0].map((s: number) => 4 * s)); // samples: full batches of 4
      expect(curves.epochs[0]).toHaveLength(200);
      expect(curves.skipped).toBe(0);
      expect(JSON.parse((await fetchText(`${board.url}api/curves?id=orphan/model`)).body)).toMatchObject({ steps: [[1], [null], [null], [null], [0.5]], skipped: 1 });

      // a run started now, with a coordinator: listed live with its dashboard's address, without restarting the board
      const live = collect(startCli(['train', ...XOR, '--workers', '1', '--steps', UNBOUNDED_STEPS, '--out', `${dir}/live/model.json`]));
      const dashboard = JSON.parse(await live.stderrLines((l) => l.includes('"dashboard"'))).dashboard as string;
      const during = await listing(board.url);
      expect(during.find((r) => r.id === 'live/model')).toMatchObject({ status: 'live', dashboard });
      // killed: its record still says running, but its process is gone
      live.child.kill('SIGKILL');
      await live.exited;
      const after = await listing(board.url);
      expect(after.find((r) => r.id === 'live/model')).toMatchObject({ status: 'died' });
      expect(after.find((r) => r.id === 'live/model')).not.toHaveProperty('dashboard');
    } finally {
      board.child.kill('SIGTERM');
    }
    expect((await board.exited).code).toBe(0);
  });

  it('answers a loopback Host only, reads nothing outside its listing, refuses other methods; with a token only with it', async () => {
    const dir = tmp.path('guarded');
    await makeRuns(dir);
    const board = await startBoard([dir]);
    try {
      expect((await fetchText(board.url, { headers: { host: 'evil.example:80' } })).status).toBe(403);
      expect((await fetchText(`${board.url}api/runs`, { headers: { host: 'localhost' } })).status).toBe(200);
      expect((await fetchText(`${board.url}api/curves?id=../../../etc/passwd`)).status).toBe(404);
      expect((await fetchText(`${board.url}api/curves?id=done`)).status).toBe(404);
      expect((await fetchText(`${board.url}nothing-here`)).status).toBe(404);
      const post = await fetchText(`${board.url}api/runs`, { method: 'POST' });
      expect(post.status).toBe(405);
      expect(post.headers.allow).toBe('GET, HEAD');
      const page = await fetchText(board.url);
      expect(page.headers['content-security-policy']).toContain("default-src 'none'");
      expect(page.body).toContain('id="risk-chart"');
    } finally {
      board.child.kill('SIGTERM');
    }

    writeFileSync(tmp.path('token'), `${TOKEN}\n`);
    const guarded = await startBoard([dir, '--token-file', tmp.path('token')]);
    try {
      expect((await fetchText(guarded.url)).status).toBe(401);
      expect((await fetchText(`${guarded.url}api/runs`)).status).toBe(401);
      expect((await fetchText(`${guarded.url}?token=${TOKEN}`)).status).toBe(200);
      // with a token, any Host is answered (as the dashboard's)
      expect((await listing(guarded.url, { 'x-shardprop-token': TOKEN, host: 'box.example' })).length).toBe(3);
    } finally {
      guarded.child.kill('SIGTERM');
    }
  });

  it('bad input: a public address without a token, a bad port, a file as its folder: one line, exit 2', async () => {
    const file = tmp.write('not-a-folder', 'x');
    for (const [args, message] of [
      [['--host', '0.0.0.0'], 'needs a token (--token-file)'],
      [['--port', '70000'], '--port must be an integer from 0 to 65535'],
      [[file], 'is not a folder'],
    ] as const) {
      const r = await runCli(['board', ...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});

describe.skipIf(!HAS_CHROMIUM)(`board in a browser (${CHROMIUM}; skipped where it is missing)`, () => {
  it('shows a finished run and a live one with curves that have points, switches the x axis, and opens a run\'s details', async () => {
    const dir = tmp.path('browser-runs');
    await makeRuns(dir);
    const board = await startBoard([dir]);
    const live = collect(startCli(['train', ...XOR, '--workers', '1', '--steps', UNBOUNDED_STEPS, '--out', `${dir}/live/model.json`]));
    const dashboard = JSON.parse(await live.stderrLines((l) => l.includes('"dashboard"'))).dashboard as string;
    let browser: Browser | undefined;
    try {
      browser = await openBrowser();
      const { page, problems } = browser;

      expect((await page.goto(board.url))!.status()).toBe(200);
      const row = (id: string) => page.locator(`#runs tbody tr[data-run="${id}"]`);
      await row('live/model').waitFor();
      expect(await row('done/model').getAttribute('data-status')).toBe('finished');
      expect(await row('cut/model').getAttribute('data-status')).toBe('damaged');
      expect(await row('live/model').getAttribute('data-status')).toBe('live');
      expect(await row('live/model').locator('a.dashboard').getAttribute('href')).toBe(dashboard);

      // both runs' curves are drawn: the live one's gains points as it trains
      const points = (id: string) => page.waitForFunction(([el, n]) => Number(document.getElementById(el as string)!.dataset.points) > (n as number), [id, 0] as const);
      await points('risk-chart');
      await page.waitForFunction(() => Number(document.getElementById('risk-chart')!.dataset.runs) === 2);
      expect(await page.locator('#risk-chart canvas').count()).toBeGreaterThan(0);
      const before = Number(await page.locator('#risk-chart').getAttribute('data-points'));
      await page.waitForFunction((n) => Number(document.getElementById('risk-chart')!.dataset.points) > n, before);

      // another x axis and smoothing: still every run's points
      await page.selectOption('#x-axis', 'samples');
      await page.locator('#smoothing').fill('0.9');
      expect(await page.locator('#smoothing-value').textContent()).toBe('0.90');
      expect(Number(await page.locator('#risk-chart').getAttribute('data-runs'))).toBe(2);
      expect(await page.locator('#risk-chart .u-axis').first().isVisible()).toBe(true);

      // a run's details: its configuration and summary
      await row('done/model').locator('button.open').click();
      await page.locator('#details table[data-part="configuration"]').waitFor();
      expect(await page.locator('#details-title').textContent()).toBe('done/model');
      expect(await page.locator('#details table[data-part="configuration"]').textContent()).toContain('layers[2,4,1]');
      expect(await page.locator('#details table[data-part="summary"]').textContent()).toContain('steps200');
      expect(problems).toEqual([]);
    } finally {
      await browser?.close();
      live.child.kill('SIGKILL');
      board.child.kill('SIGTERM');
    }
  });
});
