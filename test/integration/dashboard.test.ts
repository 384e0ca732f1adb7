import { availableParallelism } from 'node:os';
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { get, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { train } from '@shardprop/coordinator';
import type { Frame } from '../../packages/coordinator/src/dashboard/state.js';
import { createLogger } from '@shardprop/worker';
import { collect, killAll, startCli, tempDir } from '../helpers/cli.js';
import { CHROMIUM, HAS_CHROMIUM, openBrowser, type Browser } from '../helpers/browser.js';
import { fetchText } from '../helpers/http.js';
import { DEFAULT_KERNEL } from '../helpers/kernels.js';
import { UNBOUNDED_STEPS } from '../helpers/runs.js';

/**
 * The live dashboard on the coordinator's port: over plain HTTP (the token,
 * the feed's frames, refusals, hostile input) and in a real browser (Debian's
 * headless Chromium, driven by playwright-core) against a real training run.
 * Every wait is for a frame, a page element or a process: none has a deadline of its own
 * (the test's timeout bounds a hang).
 */
const tmp = tempDir();
afterAll(() => {
  killAll();
  tmp.remove();
});

const TOKEN = '5f0c9e8d7b6a54433221100ffeeddccb';
const XOR = ['--data', 'xor', '--layers', '2,4,1', '--batch', 'full', '--lr', '1'];

/** Starts `shardprop ARGS` and waits for its dashboard's address in its log. */
async function withDashboard(args: string[]) {
  const c = collect(startCli(args));
  const line = await c.stderrLines((l) => l.includes('"dashboard"'));
  return { ...c, url: JSON.parse(line).dashboard as string };
}


/** Follows a live feed: its status, its frames as they come, and its end. */
function openFeed(url: string, headers: Record<string, string> = {}) {
  const frames: Frame[] = [];
  let waiters: { predicate: (f: Frame) => boolean; resolve: (f: Frame) => void; reject: (err: Error) => void }[] = [];
  let ended = false;
  let closed = false;
  let res: IncomingMessage;
  /** Resolves when the stream is over: true when the server ended it, false when it broke off. */
  let settle: (ended: boolean) => void;
  const done = new Promise<boolean>((resolve) => (settle = resolve));
  const opened = new Promise<number>((resolve, reject) => {
    const req = get(url, { headers }, (r) => {
      res = r;
      let pending = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => {
        pending += d;
        let end;
        while ((end = pending.indexOf('\n\n')) >= 0) {
          const event = pending.slice(0, end);
          pending = pending.slice(end + 2);
          const data = event.split('\n').find((l) => l.startsWith('data: '));
          if (!data) continue;
          const frame = JSON.parse(data.slice(6)) as Frame;
          frames.push(frame);
          waiters = waiters.filter((w) => !(w.predicate(frame) && (w.resolve(frame), true)));
        }
      });
      r.on('end', () => (ended = true));
      r.on('close', () => {
        closed = true;
        settle(ended);
        for (const w of waiters) w.reject(new Error(`the feed ${ended ? 'ended' : 'broke off'} without such a frame; last: ${JSON.stringify(frames.at(-1))?.slice(0, 500)}`));
        waiters = [];
      });
      resolve(r.statusCode!);
    });
    req.on('error', (err) => {
      settle(false);
      reject(err);
    });
  });
  return {
    opened,
    frames,
    done,
    /** The first frame matching `predicate`, come or to come; fails if the feed is over without one. */
    next: (predicate: (f: Frame) => boolean) =>
      new Promise<Frame>((resolve, reject) => {
        const found = frames.find(predicate);
        if (found) return resolve(found);
        if (closed) return reject(new Error(`the feed is over without such a frame; last: ${JSON.stringify(frames.at(-1))?.slice(0, 500)}`));
        waiters.push({ predicate, resolve, reject });
      }),
    close: () => res?.destroy(),
  };
}

/** What the server answers raw bytes with (or '' when it just closes). */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(bytes));
    let answer = '';
    socket.on('data', (d) => (answer += d));
    socket.on('close', () => resolve(answer));
    socket.on('error', () => resolve(answer));
  });
}

describe('dashboard over HTTP', () => {
  it('with a token: the page and feed need it, the feed shows the run and its worker live, other paths and methods are refused', async () => {
    writeFileSync(tmp.path('token'), `${TOKEN}\n`);
    const c = await withDashboard(['coordinator', '--port', '0', '--expect', '1', '--token-file', tmp.path('token'), ...XOR, '--steps', '400', '--out', tmp.path('xor.json')]);
    const { url } = c;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const port = Number(new URL(url).port);

    // the token: none or a wrong one is 401; as ?token= or the header it opens the page
    expect((await fetchText(url)).status).toBe(401);
    expect((await fetchText(`${url}?token=ffffffffffffffffffffffffffffffff`)).status).toBe(401);
    expect((await fetchText(`${url}events`)).status).toBe(401);
    const page = await fetchText(`${url}?token=${TOKEN}`);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.body).toContain('id="risk-chart"');
    expect((await fetchText(url, { headers: { 'x-shardprop-token': TOKEN } })).status).toBe(200);
    // the page's code is the package's own, no secret; uPlot comes from its package, not a CDN
    const uplot = await fetchText(`${url}uPlot.iife.min.js`);
    expect(uplot.status).toBe(200);
    expect(uplot.body).toContain('uPlot');
    expect(page.body).not.toMatch(/https?:\/\//);

    // refusals
    expect((await fetchText(`${url}nope`)).status).toBe(404);
    expect((await fetchText(`${url}../package.json`)).status).toBe(404);
    expect((await fetchText(`${url}dashboard.js/`)).status).toBe(404);
    const post = await fetchText(`${url}?token=${TOKEN}`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect((await fetchText(`${url}events?token=${TOKEN}`, { method: 'DELETE' })).status).toBe(405);
    // hostile bytes are answered 400 (or 431 for a huge head), or cut off with no answer at all; and the server goes on
    expect(await raw(port, 'GARBAGE \x00\x01\x02\r\n\r\n')).toMatch(/^(HTTP\/1\.1 400 [\s\S]*)?$/);
    expect(await raw(port, `GET /?${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`)).toMatch(/^(HTTP\/1\.1 (431|400) [\s\S]*)?$/);
    expect((await fetchText(`${url}?token=${TOKEN}`)).status).toBe(200);
    expect((await fetchText(`${url}?token=%zz`)).status).toBe(401);

    // at most 32 live feeds
    const feeds = Array.from({ length: 32 }, () => openFeed(`${url}events?token=${TOKEN}`));
    expect(await Promise.all(feeds.map((f) => f.opened))).toEqual(Array(32).fill(200));
    expect((await fetchText(`${url}events?token=${TOKEN}`)).status).toBe(503);
    for (const f of feeds) f.close();

    // the feed: the run as it waits, then its worker and its steps as it trains, then the end
    const feed = openFeed(`${url}events`, { 'x-shardprop-token': TOKEN });
    expect(await feed.opened).toBe(200);
    const first = await feed.next(() => true);
    expect(first).toMatchObject({ reset: true, status: 'waiting for workers', step: 0, workers: [] });
    expect(first.run).toMatchObject({ data: 'xor', samples: 4, layers: [2, 4, 1], batch: 4, totalSteps: 400 });
    const worker = collect(startCli(['worker', '--connect', c.url.replace('http', 'ws').replace(/\/$/, ''), '--name', 'w-one'], { SHARDPROP_TOKEN: TOKEN }));
    const last = await feed.next((f) => f.status === 'finished');
    const seen = feed.frames.flatMap((f) => f.workers);
    expect(seen.length).toBeGreaterThan(0);
    for (const w of seen) expect(w).toMatchObject({ id: 1, name: 'w-one', address: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
    expect(last.workers).toHaveLength(1);
    expect(last.workers[0]).toMatchObject({ shard: 4, state: 'idle' });
    expect(last.workers[0].stepMs).toBeGreaterThanOrEqual(last.workers[0].computeMs!);
    expect(last.workers[0].computeSeconds).toBeGreaterThan(0);
    // its process, as its gradients said: some CPU, and a resident Node process's memory
    expect(last.workers[0].cpu).toBeGreaterThan(0);
    expect(last.workers[0].rssBytes).toBeGreaterThan(16 << 20);
    // a worker started by hand computes on every core by default, and says so
    expect(last.workers[0].threads).toBe(Math.min(availableParallelism(), 64));
    expect(last.step).toBe(400);
    // every step point the feed sent, in order, ending at the last step
    const steps = feed.frames.flatMap((f) => f.steps[0]) as number[];
    expect(steps.at(-1)).toBe(400);
    expect([...steps].sort((a, b) => a - b)).toEqual(steps);
    expect(new Set(steps).size).toBe(steps.length);
    // full batches: every step is an epoch
    expect(feed.frames.flatMap((f) => f.epochs[0]).at(-1)).toBe(400);

    expect((await worker.exited).code).toBe(0);
    const done = await c.exited;
    expect(done.code, done.stderr.slice(-1500)).toBe(0);
    expect(await feed.done).toBe(true); // ended by the server, not broken off
    expect(done.stderr).toContain('live dashboard at http://127.0.0.1:');
    expect(done.stderr).not.toContain(TOKEN);
  });

  it('without a token: only a loopback Host is answered (DNS rebinding), with or without the port; with a token any Host is', async () => {
    const c = await withDashboard(['coordinator', '--port', '0', '--expect', '1', ...XOR, '--steps', '10', '--out', tmp.path('host.json')]);
    const port = new URL(c.url).port;
    try {
      for (const host of [`127.0.0.1:${port}`, '127.0.0.1', `127.1.2.3:${port}`, `localhost:${port}`, 'localhost', `[::1]:${port}`, '[::1]']) {
        expect((await fetchText(c.url, { headers: { host } })).status, host).toBe(200);
      }
      for (const host of [`evil.example:${port}`, 'evil.example', `127.0.0.1.evil.example:${port}`, `localhost.evil.example`, `128.0.0.1:${port}`, '[::2]']) {
        for (const path of ['', 'events', 'dashboard.js']) {
          const res = await fetchText(`${c.url}${path}`, { headers: { host } });
          expect(res.status, `${host} /${path}`).toBe(403);
          expect(res.body.trim().split('\n'), host).toHaveLength(1);
        }
      }
      // no Host header at all (HTTP/1.0)
      expect(await raw(Number(port), 'GET / HTTP/1.0\r\n\r\n')).toMatch(/^HTTP\/1\.1 403/);
    } finally {
      c.child.kill('SIGKILL');
    }

    writeFileSync(tmp.path('token-host'), `${TOKEN}\n`);
    const guarded = await withDashboard(['coordinator', '--port', '0', '--expect', '1', '--token-file', tmp.path('token-host'), ...XOR, '--steps', '10', '--out', tmp.path('host2.json')]);
    try {
      expect((await fetchText(guarded.url, { headers: { host: 'dashboard.example.org', 'x-shardprop-token': TOKEN } })).status).toBe(200);
    } finally {
      guarded.child.kill('SIGKILL');
    }
  });

  it('a run that fails before training (its local worker dies before joining) ends the feed with a failed frame saying why', async () => {
    // the local worker reads a named pipe, then exits 3: this test writes the pipe once the feed is open
    const gate = tmp.path('gate.fifo');
    execFileSync('mkfifo', [gate]);
    const die = tmp.path('die.cjs');
    writeFileSync(die, `require('node:fs').readFileSync(${JSON.stringify(gate)});\nprocess.exit(3);\n`);
    const saved = process.env.NODE_OPTIONS;
    process.env.NODE_OPTIONS = `${saved ?? ''} --require ${die}`.trim();
    let feed: ReturnType<typeof openFeed> | undefined;
    let status: number | undefined;
    let opened: Promise<void> | undefined;
    try {
      const run = train(
        { data: 'xor', layers: [2, 3, 1], steps: 5, workers: 1, out: tmp.path('never.json'), dashboard: true, kernel: DEFAULT_KERNEL },
        {
          log: createLogger('silent'),
          onDashboard(url) {
            feed = openFeed(`${url}events`);
            // opened or refused, the worker is let go (off this thread: opening the pipe waits for it)
            opened = feed.opened.then((s) => void (status = s), () => {}).then(() => writeFile(gate, 'go'));
          },
        },
      );
      await expect(run).rejects.toThrow(/local worker 1 \(pid \d+\) exited with code 3/);
    } finally {
      if (saved === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = saved;
    }
    await opened;
    expect(status).toBe(200);
    const last = await feed!.next((f) => f.status !== 'waiting for workers');
    expect(last).toMatchObject({ status: 'failed', reason: expect.stringMatching(/local worker 1 \(pid \d+\) exited with code 3/) });
    expect(await feed!.done).toBe(true);
    expect(existsSync(tmp.path('never.json'))).toBe(false);
  });

  it('viewers that stop reading are cut off once they have taken nothing for 10 s, and their slots go to new viewers; one that reads stays', async () => {
    // a coordinator waiting for its worker: the run is idle, and the feed still sends (its heartbeat)
    const c = collect(startCli(['coordinator', '--port', '0', '--expect', '1', ...XOR, '--steps', '10', '--out', tmp.path('stalled.json')]), 240_000);
    const url = JSON.parse(await c.stderrLines((l) => l.includes('"dashboard"'))).dashboard as string;
    const { port } = new URL(url);
    const reader = openFeed(`${url}events`);
    expect(await reader.opened).toBe(200);
    // the rest of the slots: viewers that take the answer's first bytes, then never read again
    const stalled = await Promise.all(Array.from({ length: 31 }, () => new Promise<Socket>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`));
      socket.on('error', () => {});
      socket.once('data', (d) => {
        expect(d.toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
        socket.pause();
        resolve(socket);
      });
    })));
    expect((await fetchText(`${url}events`)).status).toBe(503); // every slot is held
    // each is cut once its buffers are full and it has taken nothing for 10 s
    const cuts = (await c.stderrCount((l) => l.includes('cut off a live dashboard viewer that took nothing for 10 s'), 31)).map((l) => JSON.parse(l));
    expect(new Set(cuts.map((l) => l.address))).toEqual(new Set(stalled.map((s) => `127.0.0.1:${s.localPort}`)));
    const fresh = openFeed(`${url}events`);
    expect(await fresh.opened).toBe(200);
    await fresh.next(() => true);
    fresh.close();
    // the reader took all it was sent: none of the cuts was it
    expect(reader.frames.length).toBeGreaterThan(0);
    reader.close();
    for (const s of stalled) s.destroy();
    c.child.kill('SIGKILL');
    await c.exited;
  }, 180_000);

  it('--no-dashboard: the port only speaks WebSocket (426 to plain requests)', async () => {
    const c = collect(startCli(['coordinator', '--port', '0', '--expect', '1', '--no-dashboard', ...XOR, '--steps', '10', '--out', tmp.path('none.json')]));
    const listening = JSON.parse(await c.stderrLines((l) => l.includes('coordinator listening')));
    const res = await fetchText(`${listening.url.replace('ws', 'http')}/`);
    expect(res.status).toBe(426);
    expect(c.child.kill('SIGKILL')).toBe(true);
    expect((await c.exited).stderr).not.toContain('"dashboard"');
  });
});


describe.skipIf(!HAS_CHROMIUM)(`dashboard in a browser (${CHROMIUM}; skipped where it is missing)`, () => {
  it('follows a real run of `shardprop train --workers 2`: the curve gains points, the table lists every worker; with a token, only with it', async () => {
    // unbounded: the page must see it train; the test ends it
    // blocks of 5: each of the two workers is dealt one of the batch's two blocks
    const run = await withDashboard(['train', '--data', 'mnist', '--workers', '2', '--steps', UNBOUNDED_STEPS, '--batch', '10', '--block', '5', '--json', '--out', tmp.path('mnist.json')]);
    writeFileSync(tmp.path('token2'), `${TOKEN}\n`);
    const guarded = await withDashboard(['coordinator', '--port', '0', '--expect', '1', '--token-file', tmp.path('token2'), ...XOR, '--steps', '10', '--out', tmp.path('g.json')]);
    let browser: Browser | undefined;
    try {
      browser = await openBrowser();
      const { page, problems } = browser;

      const loaded = await page.goto(run.url);
      expect(loaded!.status()).toBe(200);
      await page.locator('#status', { hasText: 'training' }).waitFor();
      const rows = page.locator('#workers tbody tr');
      await rows.nth(1).waitFor();
      expect(await rows.count()).toBe(2);
      const table = await rows.evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
      expect(table.map((r) => [r[0], r[3]])).toEqual([['1', '5'], ['2', '5']]);
      for (const r of table) {
        expect(r[2]).toMatch(/^127\.0\.0\.1:\d+$/);
        expect(['computing', 'waiting', 'idle']).toContain(r[9]);
        // the threads its kernels compute on (2 local workers share the cores: 1 each on 2), then CPU % and RSS MiB of its process
        expect(r[10]).toBe(String(Math.max(1, Math.floor(availableParallelism() / 2))));
        expect(r[11]).toMatch(/^\d+$/);
        expect(Number(r[12])).toBeGreaterThan(16);
      }
      expect(await page.locator('#risk-chart canvas').count()).toBeGreaterThan(0);
      // the curve gains points and the step moves on, frame after frame
      const points = () => page.locator('#risk-chart').getAttribute('data-points').then(Number);
      const morePoints = (than: number) => page.waitForFunction((n) => Number(document.querySelector('#risk-chart')!.getAttribute('data-points')) > n, than);
      await morePoints(1);
      const before = await points();
      const stepBefore = await page.locator('#step').textContent();
      await morePoints(before);
      await page.waitForFunction((text) => document.querySelector('#step')!.textContent !== text, stepBefore);
      expect(problems).toEqual([]);

      // the guarded coordinator: the page without the token is refused; with ?token= it and its feed work
      expect((await page.goto(guarded.url))!.status()).toBe(401);
      expect((await page.goto(`${guarded.url}?token=${TOKEN}`))!.status()).toBe(200);
      await page.locator('#status', { hasText: 'waiting for workers' }).waitFor();
      expect(await page.locator('#run').textContent()).toContain('layers 2,4,1');
    } finally {
      await browser?.close();
      run.child.kill('SIGKILL');
      guarded.child.kill('SIGKILL');
    }
    // --json keeps stdout for the summary: nothing was printed there while it ran
    expect((await run.exited).stdout).toBe('');
  });
});
