import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { PieceSum, jsKernels, type Floats } from '@shardprop/core';
import {
  PROTOCOL_VERSION, TOKEN_HEADER, decodeHello, decodeMap, decodeSliceValues, encode, encodeSliceStep, encodeSliceValues, sendFragments, type SliceSum,
} from '@shardprop/protocol';
import { SliceServer, maxSliceMessage } from '../../packages/worker/src/slice-server.js';

/**
 * A slice server on 127.0.0.1 (from the sources, in this process) between a
 * coordinator and two workers played here over real WebSockets: it greets the
 * coordinator with where it serves, lets no one in without the token, forwards
 * its slice of the parameters to the workers of the sending, sums their parts by
 * the tree into the bits PieceSum gives, ignores parts of an earlier round, and
 * reports a part that fails its checks instead of summing it.
 */
const TOKEN = 'slice-server-test-token-0123456789';
const opened: { close(): unknown }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0)) await o.close();
});

/** A coordinator: the slice server's connection, its messages as they come. */
async function fakeCoordinator() {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  opened.push(wss);
  await new Promise((resolve) => wss.once('listening', resolve));
  const messages: Buffer[][] = [];
  const waiting: (() => void)[] = [];
  const connected = new Promise<WebSocket>((resolve) => wss.once('connection', (ws) => {
    ws.binaryType = 'fragments';
    ws.on('message', (data: Buffer[]) => {
      messages.push(data.map((b) => Buffer.from(b)));
      waiting.splice(0).forEach((w) => w());
    });
    resolve(ws);
  }));
  const next = async (): Promise<Buffer[]> => {
    while (messages.length === 0) await new Promise<void>((resolve) => waiting.push(resolve));
    return messages.shift()!;
  };
  return { url: `ws://127.0.0.1:${(wss.address() as { port: number }).port}`, connected, next };
}

/** A worker's connection to the slice server: hello with its id, then its messages as they come. */
async function fakeWorker(serves: string, workerId: number, token: string | null = TOKEN) {
  const ws = new WebSocket(serves, { headers: token === null ? undefined : { [TOKEN_HEADER]: token } });
  opened.push({ close: () => ws.terminate() });
  // a refused upgrade is an error too: the test looks at the response instead
  ws.on('error', () => undefined);
  ws.binaryType = 'fragments';
  const messages: Buffer[][] = [];
  const waiting: (() => void)[] = [];
  ws.on('message', (data: Buffer[]) => {
    messages.push(data.map((b) => Buffer.from(b)));
    waiting.splice(0).forEach((w) => w());
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
  ws.send(encode({ type: 'hello', version: PROTOCOL_VERSION, name: `w${workerId}`, workerId }));
  const next = async (): Promise<Buffer[]> => {
    while (messages.length === 0) await new Promise<void>((resolve) => waiting.push(resolve));
    return messages.shift()!;
  };
  return { ws, next };
}

const hex = (x: Floats) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('hex');

describe('a slice server', () => {
  it('serves its slice: parameters out to the workers of the sending, their parts summed by the tree, stale parts ignored, faulty ones reported', async () => {
    const coordinator = await fakeCoordinator();
    const server = await SliceServer.start({ url: coordinator.url, token: TOKEN, host: '127.0.0.1', parameters: 10, name: 'test/slice', log: () => undefined });
    opened.push(server);
    const toServer = await coordinator.connected;
    const hello = decodeHello(await coordinator.next());
    expect(hello.ok && hello.message).toMatchObject({ role: 'slice', serves: server.serves, name: 'test/slice' });

    // no token, or another one: refused at the upgrade
    await expect(fakeWorker(server.serves, 1, null)).rejects.toThrow('HTTP 401');
    await expect(fakeWorker(server.serves, 1, 'not-the-token-0000000000000000')).rejects.toThrow('HTTP 401');

    // a sending of step 3: 3 blocks, worker 7 computes block 0, worker 9 blocks 1 and 2 (two pieces: [1,2) is not the left half of a node)
    const w7 = await fakeWorker(server.serves, 7);
    const length = 4;
    const head = { type: 'slice-step' as const, step: 3, round: 5, kernel: 'js' as const, size: 10, blocks: 3, workers: Uint32Array.of(7, 9), cuts: Uint32Array.of(0, 1, 3), from: 6 };
    sendFragments(toServer, encodeSliceStep(head, Float64Array.of(0.5, -1, 2, 4)));
    // the worker already there gets the slice at once; one that comes later gets it when it says hello
    const params = decodeSliceValues(await w7.next(), { type: 'params', dtype: 'float64', step: 3, round: 5, from: 6, length });
    expect(params.ok && Array.from(params.message.params)).toEqual([0.5, -1, 2, 4]);
    const w9 = await fakeWorker(server.serves, 9);
    expect(decodeSliceValues(await w9.next(), { type: 'params', dtype: 'float64', step: 3, round: 5, from: 6, length }).ok).toBe(true);

    const part7 = Float64Array.of(1e16, 1, -0, 3);
    const part9 = Float64Array.of(-1e16, 1, -0, 0.25, 5, 6, 7, 8); // two pieces: blocks 1 and 2
    // a part of an earlier round is overtaken, not summed
    sendFragments(w7.ws, encodeSliceValues({ type: 'part', step: 3, round: 4, workerId: 7 }, Float64Array.of(9, 9, 9, 9)));
    sendFragments(w7.ws, encodeSliceValues({ type: 'part', step: 3, round: 5, workerId: 7 }, part7));
    sendFragments(w9.ws, encodeSliceValues({ type: 'part', step: 3, round: 5, workerId: 9 }, [part9.subarray(0, 4), part9.subarray(4)]));
    const sum = decodeSliceValues<SliceSum>(await coordinator.next(), { type: 'sum', dtype: 'float64', step: 3, round: 5, length });
    expect(sum.ok).toBe(true);
    const want = new PieceSum(length, 'float64', jsKernels);
    want.reslot(2);
    want.deal(head.cuts, head.blocks);
    want.part(0).set(part7);
    want.part(1).set(part9);
    expect(hex((sum as { message: SliceSum }).message.grad)).toBe(hex(want.sum()));

    // the next sending: a part with NaN is reported to the coordinator, not summed
    sendFragments(toServer, encodeSliceStep({ ...head, round: 6 }, Float64Array.of(0.5, -1, 2, 4)));
    await w7.next();
    sendFragments(w7.ws, encodeSliceValues({ type: 'part', step: 3, round: 6, workerId: 7 }, Float64Array.of(1, NaN, 0, 0)));
    const faulty = decodeMap(await coordinator.next());
    expect(faulty.ok && faulty.message).toMatchObject({ type: 'faulty', step: 3, round: 6, workerId: 7, code: 'SP_ERR_NOT_FINITE' });

    // a message beyond what the model can need closes its connection (ws: 1009), whatever it claims
    const big = await fakeWorker(server.serves, 11);
    const closed = new Promise<number>((resolve) => big.ws.once('close', (code) => resolve(code)));
    big.ws.send(Buffer.alloc(maxSliceMessage(10) + 1));
    expect(await closed).toBe(1009);

    // done: it ends, saying why
    toServer.send(encode({ type: 'done', reason: 'training finished' }));
    expect(await server.ended).toBe('training finished');
  });
});
