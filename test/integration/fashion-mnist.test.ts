import { existsSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { killAll, runCli, summaryOf, tempDir } from '../helpers/cli.js';

// Debian's dataset-fashion-mnist (scripts/system-deps.sh installs it)
const DIR = '/usr/share/datasets/fashion-mnist';
const FILES = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'];
const installed = FILES.every((f) => existsSync(`${DIR}/${f}`));

const tmp = tempDir('shardprop-fashion-');
afterAll(() => {
  killAll();
  tmp.remove();
});

describe.skipIf(!installed)(`Fashion-MNIST from ${DIR} (skipped: the Debian package dataset-fashion-mnist is not installed; run scripts/system-deps.sh)`, () => {
  it('trains from the gzipped IDX files, as the README says, to a sane test accuracy', async () => {
    const metrics = tmp.path('metrics.jsonl');
    // the README's command, shortened to 2,000 steps (a third of an epoch)
    const r = await runCli(['train', '--data', `${DIR}/train-images-idx3-ubyte.gz`, '--test-data', `${DIR}/t10k-images-idx3-ubyte.gz`,
      '--layers', '784,30,10', '--steps', '2000', '--batch', '10', '--lr', '3', '--workers', '0',
      '--out', tmp.path('model.json'), '--metrics', metrics, '--json'], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    const summary = summaryOf(r);
    expect(summary).toMatchObject({ steps: 2000, layers: [784, 30, 10] });
    expect(summary.epochs).toBeCloseTo(2000 / 6000, 12); // 60,000 training images, batches of 10
    expect(summary.testAccuracy).toBeGreaterThan(0.7); // ten classes: chance is 0.1
    const record = JSON.parse(readFileSync(tmp.path('model.run.json'), 'utf8'));
    expect(record.data.train).toMatchObject({ samples: 60_000, inputs: 784, outputs: 10, source: `${DIR}/train-images-idx3-ubyte.gz,${DIR}/train-labels-idx1-ubyte.gz` });
    expect(record.data.test).toMatchObject({ samples: 10_000, inputs: 784, outputs: 10 });
    const [line] = readFileSync(metrics, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(line).toMatchObject({ step: 2000, testAccuracy: summary.testAccuracy });
  });
});
