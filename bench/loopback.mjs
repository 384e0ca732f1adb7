// Probe: the floor under a distributed step, moving its bytes over raw loopback TCP.
// Usage: node bench/loopback.mjs WORKERS BYTES [warmMs windowMs]
// This process plays the coordinator, WORKERS child processes the workers. A round: BYTES
// to every child, each child, once it has them all, sends BYTES back; the round ends when
// every child's BYTES are in. No framing, no encoding, no arithmetic: the bytes alone.
// Prints one JSON line with the median round time.
import { spawn } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { measureRateAsync, probeTiming } from './measure.mjs';

const args = process.argv.slice(2);

if (args[0] === '--peer') {
  // A child: echo BYTES for every BYTES received, until the parent closes.
  const [, port, bytesArg] = args;
  const bytes = Number(bytesArg);
  const reply = Buffer.alloc(bytes, 1);
  let pending = 0;
  const socket = connect(Number(port), '127.0.0.1', () => socket.setNoDelay(true));
  socket.on('data', (chunk) => {
    pending += chunk.length;
    while (pending >= bytes) {
      pending -= bytes;
      socket.write(reply);
    }
  });
  socket.on('error', () => process.exit(0));
  socket.on('close', () => process.exit(0));
} else {
  const [workersArg, bytesArg, ...timing] = args;
  const workers = Number(workersArg);
  const bytes = Number(bytesArg);
  if (!(Number.isInteger(workers) && workers >= 1 && Number.isInteger(bytes) && bytes >= 1)) throw new RangeError('expected WORKERS >= 1 and BYTES >= 1');
  const payload = Buffer.alloc(bytes, 2);
  const sockets = [];
  let received = 0;
  let roundDone = null;
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    sockets.push(socket);
    socket.on('data', (chunk) => {
      received += chunk.length;
      if (received === workers * bytes && roundDone) roundDone();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const self = fileURLToPath(import.meta.url);
  const children = Array.from({ length: workers }, () => spawn(process.execPath, [self, '--peer', String(server.address().port), String(bytes)], { stdio: 'inherit' }));
  while (sockets.length < workers) await new Promise((resolve) => setTimeout(resolve, 5));

  const round = () =>
    new Promise((resolve) => {
      received = 0;
      roundDone = () => {
        roundDone = null;
        resolve(1);
      };
      for (const s of sockets) s.write(payload);
    });
  const { median, windows } = await measureRateAsync(round, probeTiming(timing));
  for (const s of sockets) s.destroy();
  server.close();
  await Promise.all(children.map((c) => new Promise((resolve) => (c.exitCode !== null ? resolve() : c.once('exit', resolve)))));
  console.log(JSON.stringify({ framework: 'raw TCP', workers, bytes, roundMs: +(1000 / median).toFixed(3), windows: windows.map((r) => +(1000 / r).toFixed(3)) }));
}
