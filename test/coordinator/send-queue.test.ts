import { existsSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { addressHex, procAddress, readSendQueues } from '../../packages/coordinator/src/dashboard/send-queue.js';

describe('what a viewer has taken: the kernel\'s send queues', () => {
  it('reads addresses as /proc lists them and as Node gives them, to the same 16 bytes', () => {
    const v4 = '00000000000000000000ffff7f000001';
    expect(procAddress('0100007F')).toBe(v4);
    expect(addressHex('127.0.0.1')).toBe(v4);
    expect(addressHex('::ffff:127.0.0.1')).toBe(v4);
    expect(procAddress('0000000000000000FFFF00000100007F')).toBe(v4);
    expect(addressHex('::1')).toBe('00000000000000000000000000000001');
    expect(procAddress('00000000000000000000000001000000')).toBe('00000000000000000000000000000001');
    expect(addressHex('fe80::1:2%eth0')).toBe('fe800000000000000000000000010002');
    expect(addressHex('2001:db8:0:0:1:0:0:1')).toBe('20010db8000000000001000000000001');
    expect(addressHex('not an address')).toBeNull();
    expect(procAddress('12345')).toBeNull();
  });

  it.runIf(existsSync('/proc/net/tcp'))('sees the bytes a peer that does not read leaves unacknowledged, and none of one that reads', async () => {
    let served: Socket | null = null;
    const server = createServer((s) => (served = s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const stalled = connect(port, '127.0.0.1');
    stalled.pause();
    await new Promise<void>((r) => stalled.once('connect', () => r()));
    while (!served) await new Promise((r) => setImmediate(r));
    const s = served as Socket;
    // write until the peer's receive buffer is full and the kernel holds what it has not taken
    const chunk = Buffer.alloc(16 * 1024, 1);
    let queued = 0;
    for (let i = 0; i < 4096 && queued === 0; i++) {
      if (s.writableLength === 0) s.write(chunk);
      await new Promise((r) => setTimeout(r, 5));
      queued = readSendQueues()(s);
    }
    expect(queued).toBeGreaterThan(0);
    // once the peer reads everything, nothing waits
    stalled.resume();
    stalled.on('data', () => {});
    while (readSendQueues()(s) > 0 || s.writableLength > 0) await new Promise((r) => setTimeout(r, 5));
    expect(readSendQueues()({ localPort: 1, remoteAddress: '10.9.9.9', remotePort: 2 })).toBe(0);
    stalled.destroy();
    s.destroy();
    server.close();
  });
});
