import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { loadModel } from '@shardprop/core';
import { TOKEN_HEADER } from '@shardprop/protocol';
import type { Page } from 'playwright-core';
import { maxAbsDiff } from '../helpers/arrays.js';
import { HAS_CHROMIUM, openBrowser, type Browser } from '../helpers/browser.js';
import { BIN, NODE_FLAGS, collect, killAll, startCli, tempDir, type Collected } from '../helpers/cli.js';
import { UNBOUNDED_STEPS, checkpointAt, inProcessParams, lastCheckpoint, stopWithCheckpoint } from '../helpers/runs.js';

/**
 * Browser tabs as workers (packages/worker/src/browser/): Debian's headless
 * Chromium, driven by playwright-core, opens the coordinator's /join link;
 * each tab trains with Node workers beside it, and the model is the in-process
 * one to the bit. Every wait is for a page state, a log line or a process (the
 * test's timeout bounds a hang). Screenshots of the pages while they train go to
 * .tmp/browser-worker/ for a person to look at.
 */
const tmp = tempDir();
const SHOTS = new URL('../../.tmp/browser-worker/', import.meta.url);
let browser: Browser | undefined;
afterAll(async () => {
  await browser?.close();
  killAll();
  tmp.remove();
});

const TOKEN = 'c0ffee00d15ea5e5b16b00b5feedface';
/** The README's main job (one epoch: 80 steps), in blocks of 20: five blocks a batch, so three workers all have some. */
const MNIST = ['--data', 'mnist', '--batch', '100', '--block', '20'];
/** Small and quick, for runs the test ends itself: batches of 9 in blocks of 2 (five blocks, so three workers all have some). */
const SPIRALS = ['--data', 'spirals', '--seed', '8', '--layers', '2,16,2', '--batch', '9', '--block', '2', '--lr', '0.3', '--optimizer', 'momentum', '--dtype', 'float64'];

/** `shardprop coordinator ARGS` with the token, once it prints the link for browser tabs. */
async function coordinator(args: string[]) {
  writeFileSync(tmp.path('token'), `${TOKEN}\n`);
  const c = collect(startCli(['coordinator', '--port', '0', '--token-file', tmp.path('token'), ...args], { SHARDPROP_LOG_LEVEL: 'info' }), 180_000);
  const line = JSON.parse(await c.stderrLines((l) => l.includes('browser tabs join at')));
  // not a terminal: the log never shows the token, and says where it goes
  expect(line.msg).toBe(`browser tabs join at: ${line.page} (add #token= and the token of --token-file)`);
  const url = JSON.parse(c.seen((l) => l.includes('coordinator listening'))[0]).url as string;
  return { ...c, url, page: line.page as string };
}

/** A new tab of the one browser, its console errors collected. */
async function tab(link: string): Promise<{ page: Page; problems: string[] }> {
  browser ??= await openBrowser();
  const page = await browser.page.context().newPage();
  const problems: string[] = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
  page.on('pageerror', (err) => problems.push(err.message));
  await page.goto(link);
  return { page, problems };
}

const stateOf = (page: Page) => page.evaluate(() => document.body.dataset.state);
const lineOf = async (page: Page) => (await page.textContent('#state'))!;
/** Waits until the tab's state is one of `states`; returns it. */
async function until(page: Page, ...states: string[]): Promise<string> {
  await page.waitForFunction((s) => s.includes(document.body.dataset.state!), states, { timeout: 0, polling: 50 });
  return (await stateOf(page))!;
}
/** From here on, every line the page's state shows, short-lived ones included ('reconnecting' lasts until the next attempt). */
async function recordLines(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen: string[] = ((globalThis as unknown as { seen: string[] }).seen = []);
    const state = document.getElementById('state')!;
    new MutationObserver(() => seen.push(state.textContent!)).observe(state, { childList: true, characterData: true, subtree: true });
  });
}
const recorded = (page: Page) => page.evaluate(() => (globalThis as unknown as { seen: string[] }).seen);
/** The first recorded line that matches `pattern`, once the page has shown one. */
async function recordedLine(page: Page, pattern: RegExp): Promise<string> {
  const found = await page.waitForFunction(
    ([source, flags]) => (globalThis as unknown as { seen: string[] }).seen.find((l) => new RegExp(source, flags).test(l)),
    [pattern.source, pattern.flags] as const,
    { timeout: 0, polling: 100 },
  );
  return (await found.jsonValue()) as string;
}
const numberIn = async (page: Page, id: string) => Number((await page.textContent(`#${id}`))!.replace(/,/g, ''));

async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: new URL(`${name}.png`, SHOTS).pathname, fullPage: true });
}

/** The flags of a SPIRALS run the test ends itself (its checkpoints, every 100 steps, mark its progress). */
const unboundedArgs = (dir: string, extra: string[]) => [...SPIRALS, '--steps', UNBOUNDED_STEPS, '--checkpoint-dir', dir, '--checkpoint-every', '100', ...extra];

/** Stops a run of unboundedArgs (SIGTERM: a checkpoint); its model is the in-process one of as many steps, to the bit. */
async function stopAndCompare(c: Collected, dir: string): Promise<void> {
  const { checkpoint } = await stopWithCheckpoint(c, dir);
  expect(maxAbsDiff(checkpoint.params, await inProcessParams(SPIRALS, checkpoint.step, `${dir}-reference.json`))).toBe(0);
}

const nodeWorker = (url: string) => collect(startCli(['worker', '--connect', url, '--token-file', tmp.path('token')], { SHARDPROP_LOG_LEVEL: 'info' }), 180_000);

describe.skipIf(!HAS_CHROMIUM)('browser tabs as workers', () => {
  // the README's main job in float32; float64 on a smaller set (its rows are twice the bytes through a tab's slow WebSocket)
  const RUNS = [
    { dtype: 'float32', data: 'mnist', args: MNIST, steps: 80, model: '784–30–10' },
    { dtype: 'float64', data: 'spirals', args: SPIRALS.slice(0, -2), steps: 300, model: '2–16–2' },
  ];
  for (const { dtype, data, args: run, steps: count, model } of RUNS) {
    it(`${dtype}: two tabs and a Node worker train ${data} to the end, to the in-process model bit for bit`, async () => {
      const args = [...run, '--dtype', dtype];
      const out = tmp.path(`model-${dtype}.json`);
      const steps = ['--steps', String(count)];
      const c = await coordinator([...args, ...steps, '--expect', '3', '--out', out]);
      // one tab on every thread this machine has (a shared memory: the page is cross-origin isolated), one on a single thread
      const tabs = [await tab(`${c.page}#token=${TOKEN}`), await tab(`${c.page}#token=${TOKEN}&threads=1`)];
      const w = nodeWorker(c.url);
      for (const t of tabs) expect(await until(t.page, 'done', 'refused', 'failed'), await lineOf(t.page)).toBe('done');
      const done = await c.exited;
      expect(done.code, done.stderr.slice(-2000)).toBe(0);
      expect((await w.exited).code).toBe(0);
      const joined = done.stderr.split('\n').filter((l) => l.includes('"msg":"worker joined"')).map((l) => JSON.parse(l));
      expect(joined.filter((j) => j.name.startsWith('browser:')).length).toBe(2);
      for (const t of tabs) {
        expect(await lineOf(t.page)).toMatch(new RegExp(`^the run is over\\. This tab computed [\\d,]+ samples in ${count} steps \\(\\d+\\.\\d % of the batches it took part in\\)\\.$`));
        expect(await numberIn(t.page, 'samples')).toBeGreaterThan(0);
        expect(await t.page.textContent('#model')).toBe(`${model}, ${dtype}`);
        expect(t.problems).toEqual([]);
        // the token left the address bar as soon as the page read it
        expect(t.page.url()).not.toContain(TOKEN);
      }
      expect(await tabs[0].page.textContent('#compute')).toMatch(/^WebAssembly SIMD on \d+ threads? \(this page is cross-origin isolated\)$/);
      expect(await tabs[1].page.textContent('#compute')).toBe('WebAssembly SIMD on 1 thread (this page is cross-origin isolated)');
      await shot(tabs[0].page, `done-${dtype}`);
      for (const t of tabs) await t.page.close();
      const want = await inProcessParams(args, count, tmp.path(`reference-${dtype}.json`));
      expect(maxAbsDiff(loadModel(out, 'float64').params, want)).toBe(0);
    });
  }

  it('a tab closed mid-run: its blocks go to the others and the model does not change by a bit; a page without cross-origin isolation trains on one thread', async () => {
    const dir = tmp.path('close-ckpt');
    const c = await coordinator(unboundedArgs(dir, ['--expect', '3']));
    const kept = await tab(`${c.page}?isolation=off#token=${TOKEN}`);
    const closing = await tab(`${c.page}#token=${TOKEN}`);
    const w = nodeWorker(c.url);
    await c.stderrLines(checkpointAt(200));
    for (const t of [kept, closing]) expect(await stateOf(t.page)).toBe('training');
    expect(await kept.page.evaluate(() => crossOriginIsolated)).toBe(false);
    expect(await kept.page.textContent('#compute')).toMatch(/^WebAssembly SIMD on 1 thread \(this page is not cross-origin isolated/);
    await shot(kept.page, 'training-not-isolated');
    await shot(closing.page, 'training');
    await closing.page.close();
    await c.stderrLines((l) => l.includes('worker lost: its blocks go to the others'));
    const after = Number(JSON.parse(c.seen((l) => l.includes('worker lost'))[0]).step);
    await c.stderrLines(checkpointAt(after + 200));
    expect(await stateOf(kept.page)).toBe('training');
    await stopAndCompare(c, dir);
    expect(await until(kept.page, 'done', 'failed')).toBe('done');
    expect(kept.problems).toEqual([]);
    expect((await w.exited).code).toBe(0);
    await kept.page.close();
  });

  it('a coordinator restarted with --resume on its port gets the tab back (it reconnects with backoff); the model does not change by a bit', async () => {
    const dir = tmp.path('restart-ckpt');
    const first = await coordinator(unboundedArgs(dir, ['--expect', '2']));
    const port = new URL(first.url).port;
    const t = await tab(`${first.page}#token=${TOKEN}`);
    const w = nodeWorker(first.url);
    await first.stderrLines(checkpointAt(200));
    await recordLines(t.page);
    // killed: no word to its workers (SIGTERM would tell them the run is over)
    first.child.kill('SIGKILL');
    await first.exited;
    await recordedLine(t.page, /; trying again in \d+\.\d s$/);
    const again = collect(startCli(['coordinator', '--port', port, '--token-file', tmp.path('token'), ...unboundedArgs(dir, ['--expect', '2', '--resume'])], { SHARDPROP_LOG_LEVEL: 'info' }), 180_000);
    const resumed = Number(JSON.parse(await again.stderrLines((l) => l.includes('resuming after step'))).step);
    await again.stderrLines(checkpointAt(resumed + 200));
    expect(await stateOf(t.page)).toBe('training');
    expect(again.seen((l) => l.includes('"msg":"worker joined"')).map((l) => JSON.parse(l).name as string).filter((n) => n.startsWith('browser:')).length).toBe(1);
    await stopAndCompare(again, dir);
    expect(await until(t.page, 'done', 'failed')).toBe('done');
    expect((await w.exited).code).toBe(0);
    await t.page.close();
  });

  it('a frozen page (what a browser may do to a background tab) does not hold the run up: its Web Worker computes on, or is dropped after --step-timeout', async () => {
    const dir = tmp.path('frozen-ckpt');
    const c = await coordinator(unboundedArgs(dir, ['--expect', '2', '--step-timeout', '2']));
    const t = await tab(`${c.page}#token=${TOKEN}`);
    const w = nodeWorker(c.url);
    await c.stderrLines(checkpointAt(200));
    const cdp = await t.page.context().newCDPSession(t.page);
    await cdp.send('Page.setWebLifecycleState', { state: 'frozen' });
    const frozenAt = lastCheckpoint(c);
    await c.stderrLines(checkpointAt(frozenAt + 300));
    await cdp.send('Page.setWebLifecycleState', { state: 'active' });
    expect(await until(t.page, 'training')).toBe('training');
    await stopAndCompare(c, dir);
    expect(await until(t.page, 'done', 'failed')).toBe('done');
    expect((await w.exited).code).toBe(0);
    await t.page.close();
  });

  it('a stalled tab (its browser stopped: SIGSTOP) is dropped after --step-timeout, its blocks go to the others, and it rejoins when it runs again', async () => {
    const dir = tmp.path('stalled-ckpt');
    const c = await coordinator(unboundedArgs(dir, ['--expect', '2', '--step-timeout', '2']));
    const own = await openBrowser();
    try {
      await own.page.goto(`${c.page}#token=${TOKEN}`);
      const w = nodeWorker(c.url);
      await c.stderrLines(checkpointAt(200));
      const pids = own.pids();
      expect(pids.length).toBeGreaterThan(1);
      for (const pid of pids) process.kill(pid, 'SIGSTOP');
      try {
        const dropped = JSON.parse(await c.stderrLines((l) => l.includes('"msg":"dropped a worker"')));
        expect([dropped.code, dropped.name.startsWith('browser:')]).toEqual(['SP_ERR_STEP_TIMEOUT', true]);
        const lostAt = Number(JSON.parse(await c.stderrLines((l) => l.includes('worker lost: its blocks go to the others'))).step);
        await c.stderrLines(checkpointAt(lostAt + 200));
      } finally {
        for (const pid of pids) process.kill(pid, 'SIGCONT');
      }
      // woken, it finds its connection gone and joins again ('worker joined during training: …')
      await c.stderrCount((l) => l.includes('"msg":"worker joined') && JSON.parse(l).name.startsWith('browser:'), 2);
      expect(await until(own.page, 'training')).toBe('training');
      await stopAndCompare(c, dir);
      expect(await until(own.page, 'done', 'failed')).toBe('done');
      expect((await w.exited).code).toBe(0);
    } finally {
      await own.close();
    }
  });

  it('a coordinator that goes silent without closing (its host stopped: SIGSTOP) is taken for gone after the silence the link allows (#silence=), and the tab tries again', async () => {
    const c = await coordinator(unboundedArgs(tmp.path('silent-ckpt'), ['--expect', '1']));
    // #silence=6: the shortest wait a tab takes (the default is 20 s)
    const t = await tab(`${c.page}#token=${TOKEN}&silence=6`);
    await c.stderrLines(checkpointAt(100));
    // every line the page shows from here on (a 'reconnecting' line lasts only until the next attempt)
    await recordLines(t.page);
    c.child.kill('SIGSTOP');
    try {
      expect(await recordedLine(t.page, /silent/)).toMatch(/^the coordinator has been silent for 6 s: taken for gone; trying again in \d+\.\d s$/);
    } finally {
      c.child.kill('SIGCONT');
      c.child.kill('SIGKILL');
    }
    await c.exited;
    await t.page.close();
  });

  it("a joined tab waiting longer than its silence allows for a slow worker's step stays: the coordinator tells it it is alive", async () => {
    const dir = tmp.path('alive-ckpt');
    const c = await coordinator(unboundedArgs(dir, ['--expect', '2', '--step-timeout', '9']));
    const t = await tab(`${c.page}#token=${TOKEN}&silence=6`);
    const w = nodeWorker(c.url);
    await c.stderrLines(checkpointAt(100));
    await recordLines(t.page);
    // the Node worker stops: the step waits 9 s for it (--step-timeout), longer than the tab's 6 s of silence
    w.child.kill('SIGSTOP');
    try {
      const dropped = JSON.parse(await c.stderrLines((l) => l.includes('"msg":"dropped a worker"')));
      expect([dropped.code, dropped.name.startsWith('browser:')]).toEqual(['SP_ERR_STEP_TIMEOUT', false]);
    } finally {
      w.child.kill('SIGKILL');
    }
    const lostAt = Number(JSON.parse(await c.stderrLines((l) => l.includes('worker lost: its blocks go to the others'))).step);
    await c.stderrLines(checkpointAt(lostAt + 100));
    expect((await recorded(t.page)).filter((l) => !l.startsWith('training'))).toEqual([]);
    expect(c.seen((l) => l.includes('"msg":"worker lost') && JSON.parse(l).name.startsWith('browser:'))).toEqual([]);
    await stopAndCompare(c, dir);
    expect(await until(t.page, 'done', 'failed')).toBe('done');
    await t.page.close();
  });

  it('over TLS (--tls-cert): the page is https, the socket wss, the page cross-origin isolated, and the tab trains to the in-process model', async () => {
    const key = tmp.path('tls-key.pem');
    const cert = tmp.path('tls-cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const out = tmp.path('model-tls.json');
    const c = await coordinator([...SPIRALS, '--steps', '100', '--expect', '1', '--tls-cert', cert, '--tls-key', key, '--out', out]);
    expect(c.page).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/join$/);
    // the certificate is self-signed: this browser is told to accept it, as a person would click through
    const own = await openBrowser({ ignoreHTTPSErrors: true });
    try {
      await own.page.goto(`${c.page}#token=${TOKEN}`);
      expect(await until(own.page, 'done', 'refused', 'failed'), await lineOf(own.page)).toBe('done');
      expect(await own.page.textContent('#coordinator')).toBe(c.url);
      expect(await own.page.evaluate(() => crossOriginIsolated)).toBe(true);
      expect(own.problems).toEqual([]);
    } finally {
      await own.close();
    }
    expect((await c.exited).code).toBe(0);
    expect(maxAbsDiff(loadModel(out, 'float64').params, await inProcessParams(SPIRALS, 100, tmp.path('tls-reference.json')))).toBe(0);
  });

  it('a missing or wrong token is refused at the upgrade, and the page says so in one line; a page of another site is refused whatever it carries', async () => {
    const c = await coordinator([...MNIST, '--steps', '80', '--expect', '1']);
    const cases: [string, RegExp][] = [
      [c.page, /^refused: this coordinator needs a token: open the link it printed, which ends in #token=… \(the content of its --token-file\)$/],
      [`${c.page}#token=not-the-token-at-all`, /^refused: wrong token: the link must end in #token= and the content of the coordinator's --token-file$/],
    ];
    for (const [link, line] of cases) {
      const t = await tab(link);
      expect(await until(t.page, 'refused', 'failed', 'training', 'joined')).toBe('refused');
      expect(await lineOf(t.page)).toMatch(line);
      await t.page.close();
    }
    // a page served elsewhere (another port of this machine is another origin) with the right token: 403 at the upgrade
    const foreign = new WebSocket(c.url, ['shardprop'], { headers: { origin: 'http://127.0.0.1:1', [TOKEN_HEADER]: TOKEN } });
    const status = await new Promise<number>((resolve) => foreign.on('unexpected-response', (_req, res) => resolve(res.statusCode!)));
    expect(status).toBe(403);
    c.child.kill('SIGTERM');
    const done = await c.exited;
    const refusals = done.stderr.split('\n').filter((l) => l.includes('"msg":"refused a worker"')).map((l) => JSON.parse(l).code);
    expect(refusals).toEqual(['SP_ERR_TOKEN_MISSING', 'SP_ERR_TOKEN_WRONG', 'SP_ERR_FOREIGN_ORIGIN']);
    expect(done.stderr).not.toContain(TOKEN);
  });
});

describe('the link a coordinator prints for browser tabs', () => {
  it('carries the token in its fragment on a terminal, for the person there to open', async () => {
    writeFileSync(tmp.path('tty.token'), `${TOKEN}\n`);
    const command = [process.execPath, ...NODE_FLAGS, BIN, 'coordinator', '--port', '0', '--expect', '1', '--token-file', tmp.path('tty.token'), '--data', 'xor'].map((a) => `'${a}'`).join(' ');
    // script(1) runs it on a pseudo-terminal; the coordinator goes with it (SIGHUP) when it is killed
    const tty = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'ignore'] });
    let seen = '';
    try {
      const link = await new Promise<string>((resolve, reject) => {
        tty.stdout!.on('data', (d) => {
          seen += d;
          // the line once whole (a terminal ends it with \r\n)
          const m = /browser tabs join at: ([^\s\x1b]+)[^\n]*\n/.exec(seen);
          if (m) resolve(m[1]);
        });
        tty.on('exit', () => reject(new Error(`the coordinator ended without the link:\n${seen}`)));
      });
      expect(link).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/join#token=${TOKEN}$`));
    } finally {
      // the coordinator by its PID (script's child), then script
      let children: string[] = [];
      try {
        children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(tty.pid)], { encoding: 'utf8' }).split('\n').filter((l) => l.trim());
      } catch {
        // none left (ps exits 1)
      }
      for (const pid of children) process.kill(Number(pid), 'SIGTERM');
      tty.kill('SIGTERM');
    }
  });
});
