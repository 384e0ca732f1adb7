// Probe: the bound a browser tab's transport puts on a step, with no shardprop code in the
// way: a page of headless Chromium sends BYTES in one binary WebSocket message to a plain
// `ws` server on 127.0.0.1, which sends the same bytes back; the time of a round trip (a
// tab's gradient out and its next parameters in). The same measured between two Node
// processes' worth of `ws` (both ends in this process) for comparison.
// Usage: node bench/browser-echo.mjs BYTES [rounds]
// Prints one JSON line: the median of 3 runs of `rounds` round trips, in ms, for each.
import { createServer } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { CHROMIUM, CHROMIUM_ARGS } from './cluster.mjs';

const bytes = Number(process.argv[2]);
const rounds = Number(process.argv[3] ?? 20);
if (!(Number.isInteger(bytes) && bytes > 0 && Number.isInteger(rounds) && rounds > 0)) throw new RangeError('usage: node bench/browser-echo.mjs BYTES [rounds]');
const page = `<script>
const ws = new WebSocket('ws://' + location.host); ws.binaryType = 'arraybuffer';
const buf = new Uint8Array(${bytes}); const times = []; let n = 0; let t0;
ws.onopen = () => { t0 = performance.now(); ws.send(buf); };
ws.onmessage = () => {
  if (++n % ${rounds} === 0) { times.push((performance.now() - t0) / ${rounds}); t0 = performance.now(); }
  if (times.length === 4) { console.log(JSON.stringify(times.slice(1))); ws.close(); } else ws.send(buf);
};
</script>`;
const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(page)).listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('connection', (ws) => ws.on('message', (d) => ws.send(d)));
const url = `ws://127.0.0.1:${server.address().port}`;
const median = (xs) => [...xs].sort((a, b) => a - b)[1];

const { chromium } = await import('playwright-core');
const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
const tab = await browser.newPage();
const seen = new Promise((resolve) => tab.on('console', (m) => resolve(JSON.parse(m.text()))));
await tab.goto(url.replace(/^ws/, 'http'));
const tabTimes = await seen;
await browser.close();

const node = new WebSocket(url, { perMessageDeflate: false });
await new Promise((r) => node.once('open', r));
const buf = Buffer.alloc(bytes);
const nodeTimes = [];
for (let run = 0; run < 4; run++) {
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) {
    const back = new Promise((r) => node.once('message', r));
    node.send(buf);
    await back;
  }
  nodeTimes.push((performance.now() - t0) / rounds);
}
node.close();
server.close();
wss.close();
console.log(JSON.stringify({ bytes, rounds, tabRoundTripMs: +median(tabTimes).toFixed(3), nodeRoundTripMs: +median(nodeTimes.slice(1)).toFixed(3) }));
