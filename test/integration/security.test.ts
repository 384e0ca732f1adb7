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
    expect(wrong.stderr).toMatch(/wrong token/);
    const right = await collect(startCli(['worker', '--connect', c.url], { SHARDPROP_TOKEN: TOKEN })).exited;
    expect(right.code, right.stderr).toBe(0);
    const done = await c.exited;
    expect(done.code, done.stderr.slice(-1500)).toBe(0);
    expect(done.stderr).toContain('refused a worker: wrong token');
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
    const idle: WebSocket[] = [];
    const over = 6;
    let closedEarly = 0;
    for (let i = 0; i < MAX_PENDING_CONNECTIONS + over; i++) {
      const ws = new WebSocket(c.url);
      ws.on('error', () => {});
      ws.on('close', () => closedEarly++);
      idle.push(ws);
    }
    const deadline = Date.now() + 5000;
    while (closedEarly < over && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // the rest wait for their hello (10 s): none more is closed in the meantime
    await new Promise((r) => setTimeout(r, 500));
    expect(closedEarly).toBe(over);
    await c.stderrLines((l) => l.includes('too many connections have not said hello yet'));
    for (const ws of idle) ws.terminate();
    await new Promise((r) => setTimeout(r, 200));
    const worker = await collect(startCli(['worker', '--connect', c.url])).exited;
    expect(worker.code, worker.stderr).toBe(0);
    expect((await c.exited).code).toBe(0);
  });
});
