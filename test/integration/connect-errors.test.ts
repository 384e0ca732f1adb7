import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, killAll, startCli, tempDir } from '../helpers/cli.js';

/**
 * Every way a user can point a worker at the wrong thing, with a real worker process: one line
 * that says what is wrong and what to do, and no retrying where retrying cannot help (each
 * worker is given an hour to retry: only an answer that stops at once ends it in time).
 */
const tmp = tempDir();
const RUN = ['--data', 'xor', '--layers', '2,3,1', '--steps', '5', '--batch', 'full'];
let tls: { url: string; port: number; stop: () => void };
let plain: { url: string; port: number; stop: () => void };

async function coordinator(extra: string[]) {
  const c = collect(startCli(['coordinator', '--port', '0', '--expect', '1', ...RUN, '--out', tmp.path(`m-${Math.random()}.json`), ...extra]), 300_000);
  const url = JSON.parse(await c.stderrLines((l) => l.includes('coordinator listening'))).url as string;
  return { url, port: Number(new URL(url).port), stop: () => c.child.kill('SIGKILL') };
}

beforeAll(async () => {
  // a certificate for a name, not for the address the workers use
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', tmp.path('key.pem'), '-out', tmp.path('cert.pem'), '-days', '1',
    '-subj', '/CN=coordinator.example', '-addext', 'subjectAltName=DNS:coordinator.example'], { stdio: 'ignore' });
  tls = await coordinator(['--tls-cert', tmp.path('cert.pem'), '--tls-key', tmp.path('key.pem')]);
  plain = await coordinator([]);
});
afterAll(() => {
  tls?.stop();
  plain?.stop();
  killAll();
  tmp.remove();
});

async function worker(url: string, extra: string[] = []) {
  const r = await collect(startCli(['worker', '--connect', url, '--reconnect-for', '3600', ...extra])).exited;
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr).not.toContain('trying again');
  const lines = r.stderr.trim().split('\n');
  return lines[lines.length - 1];
}

describe('a worker pointed at the wrong thing', () => {
  it('a certificate for another name: says which names it holds and how to make one for this address', async () => {
    const line = await worker(tls.url, ['--ca', tmp.path('cert.pem')]);
    expect(line).toBe(`shardprop: the coordinator's certificate is not valid for 127.0.0.1 (it names DNS:coordinator.example): connect with a name it holds, or make a certificate for this address on the coordinator's machine with: shardprop certs --host 127.0.0.1 [SP_ERR_TLS_NAME]`);
  });

  it('a self-signed certificate without --ca: says to give it with --ca', async () => {
    expect(await worker(tls.url)).toMatch(/^shardprop: the coordinator's certificate is not signed by anyone this worker trusts \(self[- ]signed certificate\): give the worker a copy of it with --ca cert\.pem \(the coordinator's --tls-cert\) \[SP_ERR_TLS_UNTRUSTED\]$/);
  });

  it('ws:// to a TLS coordinator, and wss:// to a plain one: says which scheme to use', async () => {
    expect(await worker(`ws://127.0.0.1:${tls.port}`)).toBe(`shardprop: the coordinator at 127.0.0.1:${tls.port} speaks TLS: connect with wss://127.0.0.1:${tls.port} (and --ca cert.pem when its certificate is self-signed) [SP_ERR_TLS_EXPECTED]`);
    expect(await worker(`wss://127.0.0.1:${plain.port}`)).toBe(`shardprop: the coordinator at 127.0.0.1:${plain.port} does not speak TLS: connect with ws://127.0.0.1:${plain.port} (or start the coordinator with --tls-cert and --tls-key) [SP_ERR_NOT_TLS]`);
  });

  it('a web server that is not a coordinator: says to check the address', async () => {
    const web = createServer((_req, res) => res.end('hello'));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
    const port = (web.address() as { port: number }).port;
    try {
      expect(await worker(`ws://127.0.0.1:${port}`)).toBe(`shardprop: something that is not a shardprop coordinator answers at ws://127.0.0.1:${port} (HTTP 200 instead of a WebSocket): check the address and port in --connect [SP_ERR_NOT_COORDINATOR]`);
    } finally {
      web.close();
    }
  });

  it('a port where nothing listens is worth waiting for: it says so while it retries', async () => {
    const r = await collect(startCli(['worker', '--connect', 'ws://127.0.0.1:1', '--reconnect-for', '1'])).exited;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('nothing listens at 127.0.0.1:1 (connection refused): the coordinator is not up yet, or the address or port is wrong; trying again in 100 ms');
  });
});
