// The cost of one small sliced message (docs/scaling.md's μ): a part of V float32 values sent over
// loopback WebSocket by one process and checked and copied into place by another, as a worker and a
// slice server do, M times. Prints JSON: microseconds of CPU per message on each side.
// Usage: node bench/message-cost.mjs [VALUES] [MESSAGES]
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { decodeSliceValues, encodeSliceValues, sendFragments } from '../packages/protocol/dist/index.js';

const VALUES = Number(process.argv[2] ?? 512);
const MESSAGES = Number(process.argv[3] ?? 20000);

if (process.argv[4] === 'receiver') {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  wss.on('listening', () => process.send({ port: wss.address().port }));
  wss.on('connection', (ws) => {
    ws.binaryType = 'fragments';
    const into = new Float32Array(VALUES);
    const e = { type: 'part', dtype: 'float32', step: 1, round: 1, length: VALUES, workerId: 1 };
    let n = 0;
    let cpu0 = null;
    ws.on('message', (data) => {
      if (cpu0 === null) cpu0 = process.cpuUsage();
      const r = decodeSliceValues(data, e, into);
      if (!r.ok) throw new Error(r.reason);
      if (++n === MESSAGES) {
        const cpu = process.cpuUsage(cpu0);
        process.send({ receiveUs: (cpu.user + cpu.system) / (MESSAGES - 1) });
        process.exit(0);
      }
    });
  });
} else {
  const child = fork(fileURLToPath(import.meta.url), [String(VALUES), String(MESSAGES), 'receiver']);
  const { port } = await new Promise((resolve) => child.once('message', resolve));
  const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false, generateMask: (m) => m.fill(0) });
  await new Promise((resolve) => ws.once('open', resolve));
  const values = new Float32Array(VALUES).fill(0.5);
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < MESSAGES; i++) {
    sendFragments(ws, encodeSliceValues({ type: 'part', step: 1, round: 1, workerId: 1 }, [values]));
    // let the socket drain now and then, as a worker's sends to many servers would
    if (ws.bufferedAmount > 1 << 22) await new Promise((resolve) => setImmediate(resolve));
  }
  const cpu = process.cpuUsage(cpu0);
  const { receiveUs } = await new Promise((resolve) => child.once('message', resolve));
  console.log(JSON.stringify({ values: VALUES, messages: MESSAGES, sendUs: (cpu.user + cpu.system) / MESSAGES, receiveUs }));
  ws.terminate();
}
