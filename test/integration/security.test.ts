import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { MAX_PENDING_PER_HOST } from '@shardprop/coordinator';
import { TOKEN_HEADER } from '@shardprop/protocol';
import { collect, killAll, runCli, startCli, tempDir } from '../helpers/cli.js';
import { fetchText } from '../helpers/http.js';

/**
 * Who may join: a token beyond loopback (compared in constant time, never
 * logged), TLS with a certificate made here by the openssl CLI, and a cap on
 * connections that have not said hello. Everything listens on 127.0.0.1.
 */
const tmp = tempDir();
afterAll(() => {
  killAll();
  tmp.remove();
});

const TOKEN = 'd6c1f0e3b2a4958776655443322110ff';
const RUN = ['--data', 'xor', '--layers', '2,4,1', '--steps', '30', '--batch', 'full', '--lr', '1'];

async function coordinator(extra: string[]) {
  const c = collect(startCli(['coordinator', '--port', '0', '--expect', '1', ...RUN, '--out', tmp.path(`m-${Math.random()}.json`), ...extra]));
  const url = JSON.parse(await c.stderrLines((l) => l.includes('coordinator listening'))).url as string;
  return { ...c, url };
}


describe('security', () => {
  it('answers GET /healthz without the token, telling nothing of the run, with or without the dashboard', async () => {
    writeFileSync(tmp.path('health.token'), `${TOKEN}\n`);
    for (const dashboard of [[], ['--no-dashboard']]) {
      const c = await coordinator(['--token-file', tmp.path('health.token'), ...dashboard]);
      const base = c.url.replace(/^ws/, 'http');
      const health = await fetchText(`${base}/healthz`);
      expect(health.status).toBe(200);
      expect(health.headers['content-type']).toBe('application/json');
      expect(JSON.parse(health.body)).toEqual({ status: 'ok' });
      expect((await fetchText(`${base}/healthz?probe=1`, { method: 'HEAD' })).status).toBe(200);
      const post = await fetchText(`${base}/healthz`, { method: 'POST' });
      expect(post.status).toBe(405);
      expect(post.headers.allow).toBe('GET, HEAD');
      // everything else is as before: the page needs the token, and without a dashboard there is none
      expect((await fetchText(`${base}/`)).status).toBe(dashboard.length ? 426 : 401);
      c.child.kill('SIGTERM');
      await c.exited;
    }
  });

  it('refuses to listen beyond loopback without a token, and a token shorter than 16 characters', async () => {
    const open = await runCli(['coordinator', '--host', '0.0.0.0', '--port', '0', '--expect', '1', ...RUN]);
    expect(open.code).toBe(2);
    expect(open.stderr).toMatch(/listening on 0\.0\.0\.0 needs a token \(--token-file\)/);
    writeFileSync(tmp.path('short.token'), 'abc\n');
    const short = await runCli(['coordinator', '--port', '0', '--expect', '1', ...RUN, '--token-file', tmp.path('short.token')]);
    expect(short.code).toBe(2);
    expect(short.stderr).toMatch(/the token is 3 characters; use at least 16/);
  });

  it('with a token: no token and a wrong one are refused (and the log never shows a token), the right one trains', async () => {
    writeFileSync(tmp.path('good.token'), `${TOKEN}\n`);
    writeFileSync(tmp.path('bad.token'), 'ffffffffffffffffffffffffffffffff\n');
    const c = await coordinator(['--token-file', tmp.path('good.token')]);
    const none = await collect(startCli(['worker', '--connect', c.url, '--reconnect-for', '0'])).exited;
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/needs a token \(--token-file\) and the worker gave none/);
    const wrong = await collect(startCli(['worker', '--connect', c.url, '--token-file', tmp.path('bad.token')])).exited;
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/^shardprop: the coordinator refused us: wrong token \(give the worker the same secret as the coordinator's --token-file\) \[SP_ERR_TOKEN_WRONG\]$/m);
    const right = await collect(startCli(['worker', '--connect', c.url], { SHARDPROP_TOKEN: TOKEN })).exited;
    expect(right.code, right.stderr).toBe(0);
    const done = await c.exited;
    expect(done.code, done.stderr.slice(-1500)).toBe(0);
    const refusals = done.stderr.split('\n').filter((l) => l.includes('"msg":"refused a worker"')).map((l) => JSON.parse(l));
    expect(refusals.map((r) => [r.code, r.reason])).toEqual([
      ['SP_ERR_TOKEN_MISSING', 'this coordinator needs a token (--token-file) and the worker gave none'],
      ['SP_ERR_TOKEN_WRONG', 'wrong token'],
    ]);
    expect(done.stderr).not.toContain(TOKEN);
    expect(done.stderr).not.toContain('ffffffffffffffff');
  });

  it('TLS: a worker trusting the coordinator\'s self-signed certificate trains over wss://; one that does not cannot connect', async () => {
    const key = tmp.path('key.pem');
    const cert = tmp.path('cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const c = await coordinator(['--tls-cert', cert, '--tls-key', key]);
    expect(c.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
    const untrusting = await collect(startCli(['worker', '--connect', c.url, '--reconnect-for', '0'])).exited;
    expect(untrusting.code).toBe(1);
    expect(untrusting.stderr).toMatch(/the coordinator at wss:.*does not trust \(self[- ]signed.*--ca cert.pem \[SP_ERR_TLS_UNTRUSTED\]/i);
    const trusting = await collect(startCli(['worker', '--connect', c.url, '--ca', cert])).exited;
    expect(trusting.code, trusting.stderr).toBe(0);
    expect((await c.exited).code).toBe(0);
  });

  it(`keeps at most ${MAX_PENDING_PER_HOST} connections from one host waiting for a hello, the oldest making way, and a worker from that host still gets in`, async () => {
    // no hello timeout in this test: every drop is the flood's doing
    const c = await coordinator(['--hello-timeout', '3600']);
    const over = 54;
    const idle = Array.from({ length: MAX_PENDING_PER_HOST + over }, () => idleSocket(c.url));
    // each newcomer beyond the host's share closes that host's oldest waiting connection
    let closed = 0;
    await new Promise<void>((enough) => idle.forEach((i) => i.closed.then(() => ++closed === over && enough())));
    const first = JSON.parse(await c.stderrLines((l) => l.includes(CROWDED)));
    expect(first).toMatchObject({ dropped: 1, code: 'SP_ERR_TOO_MANY_PENDING' });
    // the flood stays where it is; a worker from the same host takes the place of its oldest connection
    const worker = await collect(startCli(['worker', '--connect', c.url, '--reconnect-for', '0'])).exited;
    expect(worker.code, worker.stderr).toBe(0);
    const done = await c.exited;
    expect(done.code, done.stderr.slice(-1500)).toBe(0);
    // the flood in a line or two, not a line a connection; every drop counted by the end
    const lines = done.stderr.split('\n').filter((l) => l.includes(CROWDED)).map((l) => JSON.parse(l).dropped as number);
    expect(lines.length).toBeLessThanOrEqual(3);
    expect(lines.reduce((a, b) => a + b, 0)).toBe(over + 1);
    for (const i of idle) i.ws.terminate();
  });

  it('a token holder\'s flood of connections that never say hello, reconnecting as fast as it is dropped, keeps no worker out', async () => {
    writeFileSync(tmp.path('flood.token'), `${TOKEN}\n`);
    const c = await coordinator(['--token-file', tmp.path('flood.token'), '--hello-timeout', '3600']);
    // five other hosts (127.0.0.2-6 reach 127.0.0.1 over loopback): every waiting place taken, and more
    let flooding = true;
    const open = new Set<WebSocket>();
    const flood = (host: string): void => {
      const ws = new WebSocket(c.url, { localAddress: host, headers: { [TOKEN_HEADER]: TOKEN } });
      open.add(ws);
      ws.on('error', () => {});
      ws.once('close', () => {
        open.delete(ws);
        if (flooding) flood(host);
      });
    };
    for (let h = 2; h <= 6; h++) for (let i = 0; i < MAX_PENDING_PER_HOST; i++) flood(`127.0.0.${h}`);
    await c.stderrLines((l) => l.includes(CROWDED)); // every place is held, and the flood is reconnecting
    const worker = await collect(startCli(['worker', '--connect', c.url, '--reconnect-for', '3600'], { SHARDPROP_TOKEN: TOKEN })).exited;
    flooding = false;
    for (const ws of open) ws.terminate();
    expect(worker.code, worker.stderr).toBe(0);
    const done = await c.exited;
    expect(done.code, done.stderr.slice(-1500)).toBe(0);
    expect(done.stderr).not.toContain(TOKEN);
  });

  it('a stranger\'s 1,100 idle TCP connections, at a 1,024-file limit, are closed in seconds and keep neither a worker nor the dashboard out', async () => {
    // the coordinator under a 1,024-file limit (Node keeps it as it is: hard and soft are both 1,024)
    const args = ['coordinator', '--port', '0', '--expect', '2', ...RUN, '--out', tmp.path('flooded.json')];
    const c = collect(startCli(args, {}, ['bash', '-c', 'ulimit -n 1024 && exec "$0" "$@"']), 170_000);
    const url = JSON.parse(await c.stderrLines((l) => l.includes('coordinator listening'))).url as string;
    const port = Number(new URL(url).port);
    // 300 from the workers' own host, 200 from each of four others: more than the coordinator may hold open
    const hosts = [['127.0.0.1', 300], ...[2, 3, 4, 5].map((h) => [`127.0.0.${h}`, 200])] as const;
    const flood = hosts.flatMap(([host, n]) => Array.from({ length: n }, () => {
      const socket = connect({ port, host: '127.0.0.1', localAddress: host });
      socket.on('error', () => {});
      return new Promise<void>((closed) => socket.once('close', () => closed()));
    }));
    expect(flood).toHaveLength(1100);
    await c.stderrLines((l) => l.includes(TOO_MANY_OPEN)); // the flood has reached the bound
    // in the middle of it the dashboard answers, and a worker gets in
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect(page.status).toBe(200);
    await page.text();
    const first = collect(startCli(['worker', '--connect', url, '--reconnect-for', '3600']), 170_000);
    await c.stderrLines((l) => l.includes('"msg":"worker joined"'));
    // every one of the flood is closed: it made way for a newcomer, or its 5 s ran out
    await Promise.all(flood);
    await c.stderrLines((l) => l.includes(NO_REQUEST));
    const second = await collect(startCli(['worker', '--connect', url, '--reconnect-for', '3600'])).exited;
    expect(second.code, second.stderr).toBe(0);
    expect((await first.exited).code).toBe(0);
    const done = await c.exited;
    expect(done.code, done.stderr.slice(-1500)).toBe(0);
    const lines = done.stderr.split('\n').filter((l) => l.includes('"msg":"closed connections')).map((l) => JSON.parse(l));
    expect(lines.reduce((sum, l) => sum + (l.dropped as number), 0)).toBeGreaterThanOrEqual(1100);
    expect(lines.length).toBeLessThanOrEqual(6); // a few lines, not one a connection
  }, 180_000);
});

const NO_REQUEST = 'closed connections that made no request in time';
const TOO_MANY_OPEN = 'closed connections: too many were open';
const CROWDED = 'dropped connections that had not said hello: too many were waiting, the oldest went';

/** A WebSocket that connects and then says nothing: closed is when the coordinator drops it. */
function idleSocket(url: string): { ws: WebSocket; closed: Promise<void> } {
  const ws = new WebSocket(url);
  ws.on('error', () => {});
  return { ws, closed: new Promise<void>((resolve) => ws.once('close', () => resolve())) };
}
