import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, DEFAULT_BLOCK, Optimizer, Sampler, blockCount, fingerprint, prepareWasmKernels, saveCheckpoint, xor } from '@shardprop/core';
import { UsageError, localWorkerThreads, resolveAggregation, validateTrainOptions } from '../../packages/coordinator/src/options.js';
import { fitsWasmMemory, planTraining } from '../../packages/coordinator/src/plan.js';

const root = mkdtempSync(join(tmpdir(), 'shardprop-plan-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(async () => {
  expect(await prepareWasmKernels()).toBe(true);
});

/** Whether auto picks the wasm kernels for a model: their memory is 32-bit (4 GiB). */
describe('fitsWasmMemory', () => {
  /** The most parameters of `bytes` each that fit when `arrays` arrays of them must: 3.5 GiB between them. */
  const most = (arrays: number, bytes: number): number => Math.floor((3.5 * 2 ** 30) / (arrays * bytes));

  it('counts the parameters, the gradient, the tree\'s stack of partial sums and the workers\' pieces against 3.5 GiB', () => {
    // [workers, blocks, arrays]: 2 + the stack (2·levels + 2) + on a coordinator the pieces, at most one per block and stackDepth per worker
    const cases = [
      [0, 1, 2 + 2], // in process, one block
      [0, 32, 2 + 12], // 32 blocks: 5 levels
      [1, 1, 2 + 2 + 1],
      [4, 32, 2 + 12 + 32], // a piece per block at most
      [2, 1000, 2 + 22 + 2 * 22], // 1000 blocks: 10 levels; stackDepth pieces per worker at most
      [256, 3, 2 + 6 + 3],
    ];
    for (const [workers, blocks, arrays] of cases) {
      for (const [dtype, bytes] of [['float32', 4], ['float64', 8]] as const) {
        const n = most(arrays, bytes);
        expect(fitsWasmMemory(n, dtype, workers, blocks), `${n} ${dtype}, ${workers} workers, ${blocks} blocks`).toBe(true);
        expect(fitsWasmMemory(n + 1, dtype, workers, blocks), `${n + 1} ${dtype}, ${workers} workers, ${blocks} blocks`).toBe(false);
      }
    }
  });

  it('W-large fits with 256 workers; a model that fits in process may not with one worker; blocks default to one', () => {
    // W-large: 535,040 float32 parameters, batch 256 in blocks of 32: 2 + 8 + 8 arrays of 2.14 MB
    expect(fitsWasmMemory(535_040, 'float32', 256, blockCount(256, DEFAULT_BLOCK))).toBe(true);
    // 200M float32 parameters (800 MB each): 4 arrays in process fit, 5 with a worker do not
    expect(fitsWasmMemory(200_000_000, 'float32', 0)).toBe(true);
    expect(fitsWasmMemory(200_000_000, 'float32', 1)).toBe(false);
    expect(fitsWasmMemory(200_000_000, 'float64', 0)).toBe(false);
  });
});

describe('planTraining', () => {
  it('checks the wasm memory against the workers the engine will use (coordinator --expect), not --workers, and the batch\'s blocks', () => {
    // 1.25M float32 parameters: 5 MB each. Spirals' 1000 samples in one batch of 1000 blocks of 1: the stack holds 22,
    // and 256 workers send up to 1000 pieces (5 GB)
    const options = { data: 'spirals', layers: [2, 250_000, 2], dtype: 'float32' as const, batch: 1000, block: 1, workers: 0 };
    expect(planTraining({ ...options, kernel: 'auto' }, 'wasm', 256).kernels.name).toBe('js');
    expect(() => planTraining({ ...options, kernel: 'wasm' }, 'wasm', 256)).toThrow(UsageError);
    // in process: 2 + 22 arrays (120 MB)
    expect(planTraining({ ...options, kernel: 'auto' }, 'wasm', 0).kernels.name).toBe('wasm');
    // blocks of 32: 32 blocks, 2 + 12 + 32 arrays with 256 workers (230 MB)
    expect(planTraining({ ...options, block: 32, kernel: 'auto' }, 'wasm', 256).kernels.name).toBe('wasm');
  });

  it('always has the data fingerprint, and the block size: --block, else the default', () => {
    const plan = planTraining({ data: 'xor', batch: 3 });
    expect(plan.fingerprint).toBe(fingerprint(xor()));
    expect(plan.block).toBe(DEFAULT_BLOCK);
    expect(planTraining({ data: 'xor', batch: 3, block: 2 }).block).toBe(2);
  });

  it('a resumed run keeps its checkpoint\'s block size, refuses another --block, and takes the default from a checkpoint without one', () => {
    const fresh = planTraining({ data: 'xor', batch: 3 });
    const sampled = () => {
      const sampler = new Sampler(fresh.train.count, fresh.batchSize, 1);
      sampler.next();
      return sampler.state();
    };
    const checkpoint = (block: number | undefined) => ({
      step: 1, fingerprint: fresh.fingerprint, spec: fresh.spec, batchSize: fresh.batchSize, block, params: fresh.model.params,
      optimizer: { config: fresh.optimizer, state: new Optimizer(fresh.optimizer, fresh.model.params.length, fresh.spec.dtype).state() },
      sampler: sampled(),
    });
    const dir = join(root, 'with-block');
    saveCheckpoint(dir, checkpoint(2));
    const resumed = { data: 'xor', batch: 3, resume: true, checkpointDir: dir };
    expect(planTraining(resumed).block).toBe(2);
    expect(planTraining({ ...resumed, block: 2 }).block).toBe(2);
    expect(() => planTraining({ ...resumed, block: 4 })).toThrow(CheckpointError);
    expect(() => planTraining({ ...resumed, block: 4 })).toThrow(/its block size \(--block\) was 2, this run's is 4/);

    const before = join(root, 'before-blocks');
    saveCheckpoint(before, checkpoint(undefined));
    expect(planTraining({ ...resumed, checkpointDir: before }).block).toBe(DEFAULT_BLOCK);
    expect(planTraining({ ...resumed, checkpointDir: before, block: 4 }).block).toBe(4);
  });
});

describe('threads', () => {
  const options = { data: 'xor', out: join(root, 'threads.json') };

  it('gives the run\'s kernels --threads, else every core, and refuses what is not an integer from 1 to 256', () => {
    for (const threads of [1, 3]) {
      const plan = planTraining({ ...options, threads }, 'wasm', 0);
      expect(plan.kernels.threads).toBe(threads);
      plan.kernels.close();
    }
    const plan = planTraining(options, 'wasm', 0);
    expect(plan.kernels.threads).toBe(Math.min(availableParallelism(), 64));
    plan.kernels.close();
    // the portable kernels compute on one thread whatever is asked
    expect(planTraining({ ...options, threads: 4 }, 'js', 0).kernels.threads).toBe(1);
    for (const threads of [0, 1.5, 65, NaN]) expect(() => planTraining({ ...options, threads }, 'wasm', 0), String(threads)).toThrow(/--threads must be an integer from 1 to 64/);
  });

  it('shares the cores among local workers unless --threads says how many each gets', () => {
    const cores = Math.min(availableParallelism(), 64);
    expect(localWorkerThreads(1, undefined)).toBe(cores);
    expect(localWorkerThreads(2, undefined)).toBe(Math.max(1, Math.floor(cores / 2)));
    expect(localWorkerThreads(cores + 5, undefined)).toBe(1);
    expect(localWorkerThreads(8, 3)).toBe(3);
  });
});

describe('--aggregation', () => {
  it('auto slices when the coordinator listens beyond this machine without TLS, else stays star; slices needs dense sums and no TLS', () => {
    expect(resolveAggregation(undefined, '127.0.0.1', false)).toBe('star');
    expect(resolveAggregation('auto', '::1', false)).toBe('star');
    expect(resolveAggregation('auto', '0.0.0.0', false)).toBe('slices');
    expect(resolveAggregation('auto', '10.1.2.3', true)).toBe('star');
    expect(resolveAggregation('slices', '127.0.0.1', false)).toBe('slices');
    expect(resolveAggregation('star', '0.0.0.0', false)).toBe('star');
    expect(() => resolveAggregation('slices', '0.0.0.0', true)).toThrow(/does not carry TLS yet/);
    expect(() => validateTrainOptions({ data: 'xor', aggregation: 'ring' as never })).toThrow('--aggregation must be one of auto, star, slices');
    expect(() => validateTrainOptions({ data: 'xor', aggregation: 'slices', gradientForm: 'factors' })).toThrow(UsageError);
  });
});
