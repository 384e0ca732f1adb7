import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { MAX_PENDING_CONNECTIONS } from '@shardprop/coordinator';
import { collect, killAll, runCli, startCli, tempDir } from '../helpers/cli.js';

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

/** The port of the client a coordinator's log line names ("address": "127.0.0.1:PORT"). */
const portOf = (line: string): number => Number(/:(\d+)$/.exec(JSON.parse(line).address as string)![1]);

describe('security', () => {
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
    expect(wrong.stderr).toMatch(/^shardprop: the coordinator refused us: wrong token \[SP_ERR_TOKEN_WRONG\]$/m);
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
    expect(untrusting.stderr).toMatch(/cannot reach the coordinator at wss:.*self[- ]signed/i);
    const trusting = await collect(startCli(['worker', '--connect', c.url, '--ca', cert])).exited;
    expect(trusting.code, trusting.stderr).toBe(0);
    expect((await c.exited).code).toBe(0);
  });

  it(`drops connections beyond ${MAX_PENDING_CONNECTIONS} that have not said hello, and still trains with a worker that comes later`, async () => {
    const c = await coordinator([]);
    const over = 6;
    const CAPPED = 'too many connections have not said hello yet';
    // each connection by its local port: the coordinator's log names a dropped one by its address
    const idle = Array.from({ length: MAX_PENDING_CONNECTIONS + over }, () => {
      const ws = new WebSocket(c.url);
      ws.on('error', () => {});
      const port = new Promise<number>((resolve) => ws.once('upgrade', (res) => resolve(res.socket.localPort!)));
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      return { ws, port, closed };
    });
    const ports = await Promise.all(idle.map((i) => i.port));
    // The coordinator admits connections in turn; only the last `over` find the cap reached (none of
    // these says hello or leaves), so once it has logged `over` drops it has taken in every one.
    const drops = await c.stderrCount((l) => l.includes(CAPPED), over);
    const dropped = new Set(drops.map(portOf));
    expect(dropped.size).toBe(over);
    const capped = idle.filter((_, i) => dropped.has(ports[i]));
    expect(capped).toHaveLength(over); // all of them ours
    await Promise.all(capped.map((i) => i.closed));
    // the rest wait for their hello: still open, unless its 10 s ran out (said so in the log, not the cap)
    idle.forEach((i, n) => {
      if (dropped.has(ports[n]) || i.ws.readyState === WebSocket.OPEN) return;
      expect(c.seen((l) => l.includes('sent no hello in time') && portOf(l) === ports[n])).toHaveLength(1);
    });
    expect(c.seen((l) => l.includes(CAPPED))).toHaveLength(over);
    for (const i of idle) i.ws.terminate();
    // a worker that connects before the coordinator has seen those go is dropped too, and tries again
    const worker = await collect(startCli(['worker', '--connect', c.url, '--reconnect-for', '3600'])).exited;
    expect(worker.code, worker.stderr).toBe(0);
    expect((await c.exited).code).toBe(0);
  });
});
