// Runs the vitest suite and ends with the plain line "N passed, N failed" taken
// from vitest's own JSON results, so every run shows that tests executed.
//
// Two passes: the whole suite with the default kernels (WebAssembly SIMD), then the
// integration tests again with the portable kernels (SHARDPROP_KERNEL=js: every run
// they start through the CLI computes with them, and train() is given them). Not
// twice: the math, the distributed exactness suite and the threads' (the wasm kernels only), which run
// both kernels within the first pass already, the fuzz test of hostile
// messages, where the kernels only check that gradients are finite (test/core
// compares both checks), and the tests of what surrounds the arithmetic (who may
// connect, what a user is told, files, signals, the dashboard, metrics, flags,
// sweeps, the board and plots, traces, run records, loaders, browser tabs, the
// network between namespaces, predictions: test/core compares both kernels' outputs),
// whose assertions are the same whatever the kernels compute: a second pass would
// only double the time.
// The line counts both passes. Arguments (vitest filters, flags) go to the first
// pass only; with arguments there is no second pass.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The integration tests that run once: not again with the portable kernels. */
const ONCE = new Set([
  'exactness.test.ts', 'threads.test.ts', 'fuzz.test.ts', 'cluster.test.ts', 'slurm.test.ts', 'container.test.ts',
  'security.test.ts', 'connect-errors.test.ts', 'readme-netns.test.ts', 'interrupt.test.ts', 'readme-tour.test.ts',
  'dashboard.test.ts', 'metrics.test.ts', 'outputs.test.ts', 'config.test.ts', 'browser-worker.test.ts',
  'cli.test.ts', 'sweep.test.ts', 'board.test.ts', 'plot.test.ts', 'trace.test.ts', 'run-record.test.ts', 'fashion-mnist.test.ts',
  'netns.test.ts', 'predict.test.ts',
]);
const PORTABLE_PASS = readdirSync('test/integration')
  .filter((f) => f.endsWith('.test.ts') && !ONCE.has(f))
  .map((f) => `test/integration/${f}`);

/** One vitest run and its counts, from vitest's JSON results (none written: counted as one failure). */
function vitest(args, env) {
  const dir = mkdtempSync(join(tmpdir(), 'shardprop-vitest-'));
  const results = join(dir, 'results.json');
  const run = spawnSync(
    process.execPath,
    ['node_modules/vitest/vitest.mjs', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${results}`, ...args],
    { stdio: 'inherit', env: { ...process.env, ...env } },
  );
  try {
    const summary = JSON.parse(readFileSync(results, 'utf8'));
    return { status: run.status ?? 1, passed: summary.numPassedTests, failed: summary.numFailedTests, skipped: summary.numPendingTests + summary.numTodoTests };
  } catch {
    console.log('vitest wrote no results');
    return { status: run.status || 1, passed: 0, failed: 1, skipped: 0 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const args = process.argv.slice(2);
// the first pass with the default kernels, whatever SHARDPROP_KERNEL the caller has set
const passes = [vitest(args, { SHARDPROP_KERNEL: '' })];
if (args.length === 0) {
  console.log('\nThe integration tests again, with the portable kernels (SHARDPROP_KERNEL=js)\n');
  passes.push(vitest(PORTABLE_PASS, { SHARDPROP_KERNEL: 'js' }));
}
const total = (key) => passes.reduce((sum, p) => sum + p[key], 0);
const skipped = total('skipped');
console.log(`${total('passed')} passed, ${total('failed')} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(passes.find((p) => p.status !== 0)?.status ?? 0);
