import { cpSync, existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { collect, killAll, runCli, startCli, tempDir } from '../helpers/cli.js';

/**
 * The README's tour, run as written: the commands of its marked blocks are read from
 * README.md (not retyped here), `npx shardprop` becomes this repository's bin (what npx
 * runs after the install), and each runs in a temporary folder holding a copy of
 * examples/, so the runs' outputs stay there. Each must exit 0. The coordinator of the
 * cluster block listens on a free port instead of 7070 (tests run side by side), and its
 * workers are pointed at it.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const README = readFileSync(`${ROOT}README.md`, 'utf8');
const tmp = tempDir('shardprop-tour-');
cpSync(`${ROOT}examples`, tmp.path('examples'), { recursive: true });
afterAll(() => {
  killAll();
  tmp.remove();
});

/** The commands of the code block after the `<!-- NAME: ... -->` marker, as argument lists after `npx shardprop`. */
function commandsOf(marker: string): string[][] {
  const at = README.indexOf(`<!-- ${marker}:`);
  expect(at, `README.md has a <!-- ${marker}: --> marker`).toBeGreaterThanOrEqual(0);
  const block = /```sh\n([\s\S]*?)```/.exec(README.slice(at))![1];
  return block
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter(Boolean)
    .map((line) => {
      const words = line.split(/\s+/);
      expect(words.slice(0, 2), line).toEqual(['npx', 'shardprop']);
      return words.slice(2);
    });
}

const ENV = { SHARDPROP_LOG_LEVEL: 'warn' };

describe('the README tour, as written', () => {
  const tour = commandsOf('tour');

  it('reads its config and sweep files from examples/, shipped with the repository', () => {
    const configs = tour.filter((args) => args.includes('--config')).map((args) => args[args.indexOf('--config') + 1]);
    expect(configs).toEqual(['examples/xor-csv.json', 'examples/sweep.json']);
    for (const file of configs) expect(existsSync(`${ROOT}${file}`), file).toBe(true);
  });

  it('runs every command of the tour; each exits 0, in order', async () => {
    for (const args of tour) {
      const r = await runCli(args, { cwd: tmp.dir, env: ENV, timeoutMs: 120_000 });
      expect(r.code, `npx shardprop ${args.join(' ')}\n${r.stderr.slice(-2000)}`).toBe(0);
    }
    // what the tour says it makes
    for (const file of ['runs/tour/lr-3.json', 'runs/tour/lr-0.5.jsonl', 'runs/tour/curves.svg']) expect(existsSync(tmp.path(file)), file).toBe(true);
  }, 300_000);

  it('runs the coordinator and its two workers of the cluster block; all exit 0', async () => {
    const [coordinator, ...workers] = commandsOf('tour-cluster');
    expect(coordinator[0]).toBe('coordinator');
    expect(workers.map((w) => w[0])).toEqual(['worker', 'worker']);
    const port = coordinator.indexOf('--port') + 1;
    const written = `ws://127.0.0.1:${coordinator[port]}`;
    const c = collect(startCli(coordinator.map((a, i) => (i === port ? '0' : a)), { SHARDPROP_LOG_LEVEL: 'info' }), 120_000);
    const url = JSON.parse(await c.stderrLines((l) => l.includes('coordinator listening'))).url as string;
    const started = workers.map((w) => {
      expect(w).toContain(written);
      return collect(startCli(w.map((a) => (a === written ? url : a)), ENV), 120_000);
    });
    const [done, ...left] = await Promise.all([c.exited, ...started.map((w) => w.exited)]);
    expect(done.code, done.stderr.slice(-2000)).toBe(0);
    for (const w of left) expect(w.code, w.stderr).toBe(0);
  }, 180_000);
});
