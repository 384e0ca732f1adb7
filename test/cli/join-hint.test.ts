import { readFileSync } from 'node:fs';
import type { NetworkInterfaceInfo } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { joinHint, writeCertificate } from '@shardprop/cli';
import { tempDir } from '../helpers/cli.js';

/** The worker command a coordinator prints: a real address of this host, the scheme, the token file and the certificate. */
const tmp = tempDir();
afterAll(() => tmp.remove());

const nic = (address: string, family: 'IPv4' | 'IPv6', internal = false) => ({ address, family, internal }) as NetworkInterfaceInfo;
const INTERFACES = {
  lo: [nic('127.0.0.1', 'IPv4', true), nic('::1', 'IPv6', true)],
  eth0: [nic('10.20.0.5', 'IPv4'), nic('fe80::1', 'IPv6'), nic('fd00::5', 'IPv6')],
  eth1: [nic('192.168.7.2', 'IPv4')],
};

describe('joinHint', () => {
  it('listening on 0.0.0.0 names a non-loopback IPv4 address, with the token file', () => {
    const hint = joinHint('ws://0.0.0.0:7070', { tokenFile: 'token' }, INTERFACES);
    expect(hint.command).toBe('npx shardprop worker --connect ws://10.20.0.5:7070 --token-file token');
    expect(hint.alternatives).toEqual(['192.168.7.2']);
  });

  it('listening on :: offers IPv6 addresses too, never link-local ones, in brackets', () => {
    const hint = joinHint('ws://[::]:7070', {}, { eth0: [nic('fe80::1', 'IPv6'), nic('fd00::5', 'IPv6')] });
    expect(hint.command).toBe('npx shardprop worker --connect ws://[fd00::5]:7070');
  });

  it('a specific address is used as it is', () => {
    expect(joinHint('ws://192.168.7.2:7070', {}, INTERFACES).command).toBe('npx shardprop worker --connect ws://192.168.7.2:7070');
  });

  it('with TLS: wss://, --ca the certificate, and an address the certificate holds', async () => {
    const { cert } = await writeCertificate(['192.168.7.2'], tmp.path('one'));
    const hint = joinHint('wss://0.0.0.0:7070', { tokenFile: 'token', cert: { path: 'tls/cert.pem', pem: readFileSync(cert) } }, INTERFACES);
    expect(hint.command).toBe('npx shardprop worker --connect wss://192.168.7.2:7070 --token-file token --ca tls/cert.pem');
    expect(hint.warning).toBeUndefined();
  });

  it('with a certificate holding none of the addresses: a warning naming what it holds and the certs command', async () => {
    const { cert } = await writeCertificate(['coordinator.example'], tmp.path('other'));
    const hint = joinHint('wss://0.0.0.0:7070', { cert: { path: 'cert.pem', pem: readFileSync(cert) } }, INTERFACES);
    expect(hint.warning).toBe('the certificate cert.pem holds DNS:coordinator.example and none of this host\'s addresses (10.20.0.5, 192.168.7.2): workers must connect by a name it holds, or make one with: npx shardprop certs --host 10.20.0.5');
  });
});
