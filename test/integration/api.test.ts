import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { train } from '@shardprop/coordinator';
import { loadModel } from '@shardprop/core';
import { maxAbsDiff } from '../helpers/arrays.js';
import { tempDir } from '../helpers/cli.js';
import { DEFAULT_KERNEL } from '../helpers/kernels.js';

const tmp = tempDir();
afterAll(() => tmp.remove());

describe('train(options), the programmatic API', () => {
  it('resolves to the --json summary and writes one metrics line per epoch, in process and with 2 local workers', async () => {
    const runs = [];
    for (const workers of [0, 2]) {
      const metrics = tmp.path(`metrics-${workers}.jsonl`);
      const out = tmp.path(`model-${workers}.json`);
      const s = await train({ data: 'circles', layers: [2, 8, 2], epochs: 4, batch: 25, lr: 1, dtype: 'float64', workers, metrics, out, kernel: DEFAULT_KERNEL });
      expect(s.workers).toBe(workers);
      if (DEFAULT_KERNEL === 'js') expect(s.kernel).toBe('js'); // the second pass of scripts/run-tests.mjs
      expect(s.steps).toBe(4 * 40);
      expect(s.epochs).toBe(4);
      expect(s.model).toBe(out);
      expect(s.testAccuracy).toBeGreaterThan(0.5);
      const lines = readFileSync(metrics, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.map((l) => l.epoch)).toEqual([1, 2, 3, 4]);
      for (const l of lines) {
        for (const key of ['step', 'risk', 'testRisk', 'testAccuracy', 'samplesPerSecond', 'computeSeconds', 'waitSeconds', 'commSeconds']) {
          expect(typeof l[key], key).toBe('number');
        }
      }
      expect(lines[3].risk).toBeLessThan(lines[0].risk);
      if (workers === 0) {
        expect(lines[3].syncSeconds).toBeUndefined();
      } else {
        // from each step's last gradient sent to the new parameters at every worker: real, cumulative, part of the run
        const sync = lines.map((l) => l.syncSeconds as number);
        expect(sync[0]).toBeGreaterThan(0);
        for (let e = 1; e < 4; e++) expect(sync[e]).toBeGreaterThan(sync[e - 1]);
        expect(sync[3]).toBeLessThan(lines[3].seconds);
        expect(lines[3].computeSeconds + lines[3].waitSeconds + lines[3].commSeconds).toBeLessThanOrEqual(lines[3].seconds);
      }
      runs.push(loadModel(out, 'float64').params);
    }
    expect(maxAbsDiff(runs[0], runs[1])).toBeLessThan(1e-9);
  });
});
