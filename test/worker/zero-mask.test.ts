import { createHash } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { runWorker } from '@shardprop/worker';

/**
 * A worker's frames carry a zero mask, so that neither end spends a pass over
 * every byte on masking. Checked on the wire: a bare TCP server does the
 * WebSocket handshake by hand and reads the mask of the worker's first frame.
 */
describe('worker frames', () => {
  it('are masked with zeros (the mask bit set, as RFC 6455 requires, and a mask of 0 0 0 0)', async () => {
    const firstFrame = new Promise<Buffer>((resolve) => {
      const server = createServer((socket: Socket) => {
        let buffered = Buffer.alloc(0);
        let upgraded = false;
        socket.on('data', (chunk) => {
          buffered = Buffer.concat([buffered, chunk]);
          if (!upgraded) {
            const end = buffered.indexOf('\r\n\r\n');
            if (end < 0) return;
            const key = /sec-websocket-key: *(.+)\r\n/i.exec(buffered.subarray(0, end).toString('latin1'))![1].trim();
            const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
            socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
            upgraded = true;
            buffered = buffered.subarray(end + 4);
          }
          if (buffered.length >= 14) {
            resolve(buffered);
            socket.destroy();
            server.close();
          }
        });
      });
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        void runWorker({ url: `ws://127.0.0.1:${port}`, reconnectForMs: 0 });
      });
    });
    const frame = await firstFrame;
    expect(frame[0] & 0x0f).toBe(0x2); // binary: the hello
    expect(frame[1] & 0x80).toBe(0x80); // masked, as a client must
    const length = frame[1] & 0x7f;
    const maskAt = length === 126 ? 4 : length === 127 ? 10 : 2;
    expect(Array.from(frame.subarray(maskAt, maskAt + 4))).toEqual([0, 0, 0, 0]);
  });
});
