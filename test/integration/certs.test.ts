import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { collect, killAll, runCli, startCli, tempDir } from '../helpers/cli.js';

/**
 * `shardprop certs` makes a certificate for the names and addresses workers use, and the
 * coordinator prints the worker command that works with it: run here exactly as printed.
 */
const tmp = tempDir();
afterAll(() => {
  killAll();
  tmp.remove();
});

describe('shardprop certs and the printed worker command', () => {
  it('a certificate valid for exactly the hosts given, its own CA; a TLS coordinator prints the worker command, which trains as printed', async () => {
    const dir = tmp.path('tls');
    const made = await runCli(['certs', '--host', '127.0.0.1', '--host', 'localhost', '--out-dir', dir]);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toContain(`--tls-cert ${dir}/cert.pem --tls-key ${dir}/key.pem`);
    const cert = new X509Certificate(readFileSync(`${dir}/cert.pem`));
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('10.1.2.3')).toBeUndefined();
    expect(cert.checkHost('coordinator.example')).toBeUndefined();
    expect(cert.ca).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(statSync(`${dir}/key.pem`).mode & 0o077).toBe(0); // the key is its owner's only

    writeFileSync(tmp.path('token'), 'c0ffee00c0ffee00c0ffee00\n');
    const c = collect(startCli(['coordinator', '--port', '0', '--expect', '1', '--data', 'xor', '--layers', '2,3,1', '--steps', '5',
      '--token-file', tmp.path('token'), '--tls-cert', `${dir}/cert.pem`, '--tls-key', `${dir}/key.pem`, '--out', tmp.path('m.json')]));
    const hint = JSON.parse(await c.stderrLines((l) => l.includes('workers join with'))).command as string;
    expect(hint).toMatch(new RegExp(`^npx shardprop worker --connect wss://127\\.0\\.0\\.1:\\d+ --token-file ${tmp.path('token')} --ca ${dir}/cert\\.pem$`));
    const w = await collect(startCli(hint.split(' ').slice(2))).exited;
    expect(w.code, w.stderr).toBe(0);
    expect((await c.exited).code).toBe(0);
  });

  it('refuses what it cannot make, in one line: no host, a host that is not one, files that exist', async () => {
    const none = await runCli(['certs', '--host', 'bad host!', '--out-dir', tmp.path('x')]);
    expect(none.code).toBe(2);
    expect(none.stderr.trim()).toBe('shardprop: --host "bad host!" is neither a host name nor an IP address');
    const dir = tmp.path('twice');
    expect((await runCli(['certs', '--host', '::1', '--out-dir', dir])).code).toBe(0);
    const again = await runCli(['certs', '--host', '::1', '--out-dir', dir]);
    expect(again.code).toBe(2);
    expect(again.stderr.trim()).toBe(`shardprop: ${dir}/cert.pem exists already: give --force to replace it, or another --out-dir`);
    expect((await runCli(['certs', '--host', '::1', '--out-dir', dir, '--force'])).code).toBe(0);
    expect(new X509Certificate(readFileSync(`${dir}/cert.pem`)).checkIP('::1')).toBe('::1');
  });
});
