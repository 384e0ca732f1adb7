// Section "browser": a browser tab as a worker (the coordinator's /join page in Debian's
// headless Chromium) against a Node worker process on the same machine, and a run with one of
// each; float32, one thread each (dense gradients, the workloads' own batches).
//   W-seed   [784,30,10], batch 10
//   W-large  [784,512,256,10], batch 256 (target: a tab >= 0.8x a Node worker)
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../../packages/coordinator/dist/index.js';
import { CHROMIUM } from '../cluster.mjs';
import { runProbe, timingArgs } from '../measure.mjs';
import { num, ratio, table } from '../report.mjs';

export const name = 'browser';
export const rows = ['W-seed', 'W-large'];

const probe = fileURLToPath(new URL('../browser.mjs', import.meta.url));
const echo = fileURLToPath(new URL('../browser-echo.mjs', import.meta.url));
/** Parameters: a step moves 4P bytes each way (the parameters in, the dense gradient out). */
const WORKLOADS = { 'W-seed': { key: 'seed', batch: 10, params: 23_860 }, 'W-large': { key: 'large', batch: 256, params: 535_040 } };

const run1 = (key, workers, tabs, batch, timing) => runProbe(process.execPath, [...NODE_FLAGS, probe, key, String(workers), String(tabs), String(batch), ...timingArgs(timing)]);

export async function run(selected, timing) {
  if (!existsSync(CHROMIUM)) {
    console.log(`\nBrowser workers: skipped (no ${CHROMIUM}; scripts/system-deps.sh installs Debian's chromium)`);
    return { skipped: 'no chromium' };
  }
  const results = {};
  for (const row of rows.filter((r) => selected.includes(r))) {
    const { key, batch } = WORKLOADS[row];
    const node = run1(key, 1, 0, batch, timing);
    const tab = run1(key, 0, 1, batch, timing);
    const both = run1(key, 1, 1, batch, timing);
    const transport = runProbe(process.execPath, [echo, String(4 * WORKLOADS[row].params), row === 'W-large' ? '10' : '40']);
    results[row] = { node, tab, both, transport, tabOverNode: node.samplesPerSec && tab.samplesPerSec ? +(tab.samplesPerSec / node.samplesPerSec).toFixed(2) : null };
  }
  console.log('\nBrowser tabs as workers: one tab of headless Chromium against one Node worker process, 1 thread each, float32\n');
  console.log(table(
    ['workload', 'batch', 'Node worker samples/s', 'tab samples/s', 'tab / Node', 'Node + tab samples/s', '(Node + tab) / Node'],
    Object.entries(results).map(([row, r]) => [row, String(WORKLOADS[row].batch), num(r.node.samplesPerSec), num(r.tab.samplesPerSec), ratio(r.tab.samplesPerSec, r.node.samplesPerSec), num(r.both.samplesPerSec), ratio(r.both.samplesPerSec, r.node.samplesPerSec)]),
  ));
  console.log('  each row: a coordinator (this machine) and its workers on 127.0.0.1; samples/s of whole SGD steps. Target: tab / Node >= 0.8 on W-large.');
  console.log('\nWhere a tab\'s step goes: its backprop, and the round trip of 4P bytes over the browser\'s WebSocket measured alone\n');
  console.log(table(
    ['workload', 'bytes each way', 'Node step ms', 'Node backprop ms', 'tab step ms', 'tab backprop ms', 'tab / Node backprop', 'echo ms: Chromium', 'echo ms: Node ws'],
    Object.entries(results).map(([row, r]) => [row, num(4 * WORKLOADS[row].params), num(r.node.stepMs), num(r.node.computeMs), num(r.tab.stepMs), num(r.tab.computeMs), ratio(r.node.computeMs, r.tab.computeMs), num(r.transport.tabRoundTripMs), num(r.transport.nodeRoundTripMs)]),
  ));
  console.log('  echo: one binary message of those bytes from a page of the same Chromium to a plain `ws` server and back (bench/browser-echo.mjs),');
  console.log('        no shardprop code; "Node ws" the same between two `ws` ends in one Node process. A tab\'s step cannot be shorter than its echo.');
  return results;
}
