import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { decodeToWorker, encode } from '@shardprop/protocol';
import { collect, killAll, runCli, startCli, tempDir } from '../helpers/cli.js';

/**
 * What a worker says when a connection fails for a reason its user caused: one
 * line naming the mistake and the fix, exit 1 at once when retrying cannot help
 * (each is given an hour of --reconnect-for: only an answer that stops at once ends it in time);
 * and certificates from `shardprop certs`. Everything listens on 127.0.0.1.
 */
const tmp = tempDir();
afterAll(() => {
  killAll();
  tmp.remove();
});

const TOKEN = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
const RUN = ['--data', 'xor', '--layers', '2,4,1', '--steps', '30', '--batch', 'full', '--lr', '1'];

async function certs(dir: string, hosts: string[]) {
  const made = await runCli(['certs', ...hosts.flatMap((h) => ['--host', h]), '--out-dir', tmp.path(dir)]);
  expect(made.code, made.stderr).toBe(0);
  return { made, cert: tmp.path(`${dir}/cert.pem`), key: tmp.path(`${dir}/key.pem`) };
}

async function coordinator(extra: string[], port = '0') {
  const c = collect(startCli(['coordinator', '--port', port, '--expect', '1', ...RUN, '--out', tmp.path(`m-${Math.random()}.json`), ...extra]));
  const url = JSON.parse(await c.stderrLines((l) => l.includes('coordinator listening'))).url as string;
  return { ...c, url };
}

/**
 * A worker that should stop at once: its exit and its stderr lines. It is given an hour to
 * retry, so one that retried would log 'trying again' lines and outlive the test, whatever the clock.
 */
async function failingWorker(args: string[]) {
  const w = await collect(startCli(['worker', ...args, ...(args.includes('--reconnect-for') ? [] : ['--reconnect-for', '3600'])])).exited;
  return { code: w.code, lines: w.stderr.trim().split('\n') };
}

/** A port nothing listens on (one the kernel just handed out and took back). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('shardprop certs', () => {
  it('writes a certificate holding each --host as a DNS or IP subjectAltName, a key only its owner reads, and the flags to use', async () => {
    const { made, cert, key } = await certs('many', ['127.0.0.1', '::1', 'localhost', 'coordinator.lan']);
    const x509 = new X509Certificate(readFileSync(cert));
    expect(x509.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(x509.checkIP('::1')).toBe('::1');
    expect(x509.checkHost('coordinator.lan')).toBe('coordinator.lan');
    expect(x509.checkHost('localhost')).toBe('localhost');
    expect(x509.checkIP('10.0.0.1')).toBeUndefined();
    expect(x509.checkHost('other.lan')).toBeUndefined();
    expect(x509.ca).toBe(false);
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(made.stdout).toContain(`coordinator flags: --tls-cert ${cert} --tls-key ${key}`);
    expect(made.stdout).toContain(`--connect wss://127.0.0.1:PORT --ca ${cert}`);
  });

  it('refuses a --host that is a URL or has a port, and no --host, in one line with exit 2', async () => {
    const url = await runCli(['certs', '--host', 'wss://10.0.0.1:7070', '--out-dir', tmp.path('bad')]);
    expect(url.code).toBe(2);
    expect(url.stderr.trim()).toBe('shardprop: --host must be an IP address or a host name (no scheme, no port), got "wss://10.0.0.1:7070"');
    const none = await runCli(['certs', '--out-dir', tmp.path('bad')]);
    expect(none.code).toBe(2);
  });

  it('keeps a certificate and key that exist unless --force says to replace them', async () => {
    const { cert } = await certs('kept', ['127.0.0.1']);
    const before = readFileSync(cert, 'utf8');
    const again = await runCli(['certs', '--host', '127.0.0.1', '--out-dir', tmp.path('kept')]);
    expect(again.code).toBe(2);
    expect(again.stderr.trim()).toBe(`shardprop: ${cert} exists already: give --force to replace it (workers then need the new cert.pem), or another --out-dir`);
    expect(readFileSync(cert, 'utf8')).toBe(before);
    expect((await runCli(['certs', '--host', '127.0.0.1', '--out-dir', tmp.path('kept'), '--force'])).code).toBe(0);
    expect(readFileSync(cert, 'utf8')).not.toBe(before);
  });

  it('a worker connecting by IP over wss:// with --ca trusts a certificate made for that IP, and trains', async () => {
    const { cert, key } = await certs('by-ip', ['127.0.0.1']);
    const c = await coordinator(['--tls-cert', cert, '--tls-key', key]);
    expect(c.url).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/);
    const w = await collect(startCli(['worker', '--connect', c.url, '--ca', cert])).exited;
    expect(w.code, w.stderr).toBe(0);
    expect((await c.exited).code).toBe(0);
  });
});

describe('a worker that cannot connect says why in one line', () => {
  it('a certificate for other names: which names it holds, and the certs command that fixes it; no retries', async () => {
    const { cert, key } = await certs('named', ['coordinator.example']);
    const c = await coordinator(['--tls-cert', cert, '--tls-key', key]);
    const w = await failingWorker(['--connect', c.url, '--ca', cert]);
    expect(w.code).toBe(1);
    expect(w.lines).toHaveLength(1);
    expect(w.lines[0]).toMatch(/has a certificate that is not valid for "127\.0\.0\.1" \(it holds: coordinator\.example\): .*"shardprop certs --host 127\.0\.0\.1".* \[SP_ERR_TLS_NAME\]$/);
    c.child.kill();
  });

  it('a self-signed certificate without --ca, and with the --ca of another certificate', async () => {
    const { cert, key } = await certs('untrusted', ['127.0.0.1']);
    const other = await certs('other', ['127.0.0.1']);
    const c = await coordinator(['--tls-cert', cert, '--tls-key', key]);
    const bare = await failingWorker(['--connect', c.url]);
    expect(bare.code).toBe(1);
    expect(bare.lines).toHaveLength(1);
    expect(bare.lines[0]).toMatch(/does not trust \(self[- ]signed certificate\): give the worker the coordinator's certificate with --ca cert\.pem \[SP_ERR_TLS_UNTRUSTED\]$/);
    const wrong = await failingWorker(['--connect', c.url, '--ca', other.cert]);
    expect(wrong.code).toBe(1);
    expect(wrong.lines).toHaveLength(1);
    expect(wrong.lines[0]).toMatch(/a certificate that --ca does not vouch for .*: give --ca the coordinator's current cert\.pem \[SP_ERR_TLS_UNTRUSTED\]$/);
    c.child.kill();
  });

  it('ws:// to a TLS coordinator, and wss:// to a plain one', async () => {
    const { cert, key } = await certs('schemes', ['127.0.0.1']);
    const tls = await coordinator(['--tls-cert', cert, '--tls-key', key]);
    const plainUrl = tls.url.replace('wss://', 'ws://');
    const plain = await failingWorker(['--connect', plainUrl, '--ca', cert]);
    expect(plain.code).toBe(1);
    expect(plain.lines).toEqual([`shardprop: the coordinator at ${plainUrl} serves TLS and hung up on a plain connection: connect with ${tls.url} (and --ca cert.pem for a self-signed certificate) [SP_ERR_TLS_EXPECTED]`]);
    tls.child.kill();
    const open = await coordinator([]);
    const secureUrl = open.url.replace('ws://', 'wss://');
    const secure = await failingWorker(['--connect', secureUrl, '--ca', cert]);
    expect(secure.code).toBe(1);
    expect(secure.lines).toHaveLength(1);
    expect(secure.lines[0]).toMatch(new RegExp(`the coordinator at ${secureUrl} does not speak TLS \\(.*\\): connect with ${open.url}, or start the coordinator with --tls-cert and --tls-key \\[SP_ERR_NOT_TLS\\]$`));
    open.child.kill();
  });

  it('nothing listening: says so and keeps trying for --reconnect-for, then joins a coordinator that comes up on that port', async () => {
    const port = await freePort();
    const gone = await collect(startCli(['worker', '--connect', `ws://127.0.0.1:${port}`, '--reconnect-for', '0.5'])).exited;
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain(`cannot reach the coordinator at ws://127.0.0.1:${port}: nothing listens there (is the coordinator up yet, on this address and --port?) [ECONNREFUSED]; trying again in 100 ms`);
    expect(gone.stderr).toMatch(/nothing listens there .*\[ECONNREFUSED\]; gave up after trying for \d+ s \[SP_ERR_UNREACHABLE\]$/m);
    const early = collect(startCli(['worker', '--connect', `ws://127.0.0.1:${port}`]));
    await early.stderrLines((l) => l.includes('nothing listens there') && l.includes('trying again'));
    const c = await coordinator([], String(port));
    expect((await early.exited).code).toBe(0);
    expect((await c.exited).code).toBe(0);
  });

  it('a wrong token says to use the coordinator\'s secret; no retries', async () => {
    writeFileSync(tmp.path('good.token'), `${TOKEN}\n`);
    writeFileSync(tmp.path('bad.token'), 'ffffffffffffffffffffffffffffffff\n');
    const c = await coordinator(['--token-file', tmp.path('good.token')]);
    const w = await failingWorker(['--connect', c.url, '--token-file', tmp.path('bad.token')]);
    expect(w.code).toBe(1);
    expect(w.lines).toEqual(["shardprop: the coordinator refused us: wrong token (give the worker the same secret as the coordinator's --token-file) [SP_ERR_TOKEN_WRONG]"]);
    c.child.kill();
  });

  it('a web server that is not a coordinator: says to check the address and port; no retries', async () => {
    const web = createHttpServer((_req, res) => res.end('hello'));
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', () => r()));
    const port = (web.address() as { port: number }).port;
    try {
      const w = await failingWorker(['--connect', `ws://127.0.0.1:${port}`, '--reconnect-for', '3600']);
      expect(w.code).toBe(1);
      expect(w.lines).toEqual([`shardprop: something that is not a shardprop coordinator answers at ws://127.0.0.1:${port} (HTTP 200 instead of a WebSocket): check the address and port in --connect [SP_ERR_NOT_COORDINATOR]`]);
    } finally {
      web.close();
    }
  });

  it('another protocol version is refused with both versions and what to do', async () => {
    const c = await coordinator([]);
    const ws = new WebSocket(c.url);
    ws.on('open', () => ws.send(encode({ type: 'hello', version: 999, name: 'old' } as never)));
    const refused = await new Promise<unknown>((resolve) => ws.once('message', (data: Buffer) => resolve(decodeToWorker([data]))));
    expect(refused).toMatchObject({ ok: true, message: { type: 'refused', code: 'SP_ERR_VERSION' } });
    expect((refused as { message: { reason: string } }).message.reason).toMatch(/the worker speaks version 999, this coordinator speaks version \d+: run the same shardprop release on both machines/);
    ws.terminate();
    c.child.kill();
  });
});
