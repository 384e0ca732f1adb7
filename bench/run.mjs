// pnpm bench: shardprop's benchmark suite. Each section lives in bench/sections/ and runs
// its measurements in child processes, one after another; this file picks the rows, prints
// the machine and writes every figure to bench/results/latest.json.
// Usage: node bench/run.mjs [--quick] [filter ...]     (see bench/README.md)
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { FULL, QUICK } from './measure.mjs';
import * as training from './sections/training.mjs';
import * as gemm from './sections/gemm.mjs';
import * as distributed from './sections/distributed.mjs';
import * as soak from './sections/soak.mjs';
import * as blocks from './sections/blocks.mjs';
import * as threads from './sections/threads.mjs';
import * as scaling from './sections/scaling.mjs';
import * as browser from './sections/browser.mjs';

// A section exports `name`, `rows` (row names) and `run(selectedRows, timing)` which prints
// its tables and returns its figures. Next: the wasm GEMM.
const SECTIONS = [training, threads, gemm, distributed, soak, blocks, scaling, browser];

const USAGE = `usage: node bench/run.mjs [--quick] [filter ...]
  --quick   short warm-up and windows (${QUICK.warmMs} ms, 3 x ${QUICK.windowMs} ms): a smoke run, not figures
  filter    run only the rows whose "section/row" contains one of the filters (case-insensitive)
rows: ${SECTIONS.flatMap((s) => s.rows.map((r) => `${s.name}/${r}`)).join(', ')}`;

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}
const unknown = args.filter((a) => a.startsWith('-') && a !== '--quick');
if (unknown.length) {
  console.error(`bench: unknown option ${unknown.join(' ')}\n${USAGE}`);
  process.exit(2);
}
const quick = args.includes('--quick');
const filters = args.filter((a) => !a.startsWith('-')).map((f) => f.toLowerCase());
const wanted = (section, row) => filters.length === 0 || filters.some((f) => `${section}/${row}`.toLowerCase().includes(f));
const plan = SECTIONS.map((s) => ({ section: s, rows: s.rows.filter((r) => wanted(s.name, r)) })).filter((p) => p.rows.length);
if (plan.length === 0) {
  console.error(`bench: no row matches ${filters.join(' ')}\n${USAGE}`);
  process.exit(2);
}
if (!existsSync(new URL('../packages/core/dist/index.js', import.meta.url))) {
  console.error('bench: packages/core is not built; run `npx tsc -b packages/core` first (pnpm bench does)');
  process.exit(2);
}

const timing = quick ? QUICK : FULL;
const machine = { cpu: os.cpus()[0]?.model, nproc: os.availableParallelism(), node: process.version, os: `${os.platform()} ${os.release()} ${os.arch()}`, date: new Date().toISOString() };
console.log(`shardprop bench: ${machine.cpu}, ${machine.nproc} CPUs, node ${machine.node}, ${machine.date}`);
console.log(`${timing.warmMs} ms warm-up, median of 3 windows of ${timing.windowMs} ms${quick ? ' (--quick: a smoke run, not figures to quote)' : ''}`);

const results = { machine, timing: { ...timing, windows: 3, quick }, filters, sections: {} };
for (const { section, rows } of plan) results.sections[section.name] = await section.run(rows, timing);

const out = new URL('./results/latest.json', import.meta.url);
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(out, JSON.stringify(results, null, 2) + '\n');
console.log(`\nFigures written to bench/results/latest.json`);
