// A coordinator in this process (the built Coordinator: the step machine over WebSockets) and
// N local worker processes on 127.0.0.1, training a float32 sigmoid network with plain SGD on the
// peers' synthetic data: what the distributed probes measure.
import { DEFAULT_BLOCK, Model, Optimizer, Sampler, allFinite, createKernels, fingerprint, resolveKernel } from '../packages/core/dist/index.js';
import { Coordinator, LocalWorkers } from '../packages/coordinator/dist/index.js';
import { createLogger } from '../packages/worker/dist/index.js';
import { SAMPLES, syntheticData } from './workloads.mjs';

/**
 * Starts the coordinator and its workers; `step()` takes one SGD step and resolves to its sample count.
 * `threads`: of each worker's kernels; `coordinatorThreads`: of the coordinator's sums and updates.
 * `tabs`: browser tabs that join too (Debian's headless Chromium through playwright-core, each
 * on the coordinator's /join page computing on `threads` threads), besides the `workers` processes.
 */
export async function startCluster({ layers, batch, lr, workers, tabs = 0, gradientForm = 'auto', kernel = 'auto', block = DEFAULT_BLOCK, threads = 1, coordinatorThreads = 1 }) {
  if (!(Number.isInteger(workers) && workers >= 0 && Number.isInteger(tabs) && tabs >= 0 && workers + tabs >= 1 && Number.isInteger(batch) && batch >= 1)) throw new RangeError('expected WORKERS + TABS >= 1 and BATCH >= 1');
  const spec = { layers, activation: 'sigmoid', loss: 'quadratic', dtype: 'float32' };
  // as `shardprop train` does: the kernels resolved once, the parameters and the gradient where they work
  const kernels = createKernels(await resolveKernel(kernel), coordinatorThreads);
  const initial = Model.init(spec, 1);
  const model = new Model(spec, kernels.alloc('float32', initial.params.length));
  model.params.set(initial.params);
  const optimizer = { kind: 'sgd', lr };
  const train = syntheticData(layers);
  // as planTraining makes it
  const plan = {
    options: {}, spec, model, kernels, train, fingerprint: fingerprint(train), batchSize: batch, block, totalSteps: Infinity,
    batchesPerEpoch: Math.ceil(SAMPLES / batch), optimizer, seed: 0, samplerSeed: 3, outPath: '',
  };
  const log = createLogger('warn');
  const server = await Coordinator.listen({ host: '127.0.0.1', port: 0, expect: workers + tabs, plan, log, gradientForm });
  const children = new LocalWorkers(log);
  const joined = server.waitForWorkers();
  if (workers > 0) children.start(workers, server.url, undefined, threads, (message) => server.abortWait(new Error(message)));
  const browser = tabs > 0 ? await openTabs(`${server.url.replace(/^ws/, 'http')}/join#threads=${threads}`, tabs) : null;
  await joined;

  const opt = new Optimizer(optimizer, model.params.length, 'float32', kernels);
  const sampler = new Sampler(SAMPLES, batch, 3);
  const grad = kernels.alloc('float32', model.params.length);
  let stepNumber = 0;
  return {
    model,
    server,
    children,
    /** One SGD step on the next global mini-batch, as the training loop takes it. */
    async step() {
      const idx = sampler.next();
      const r = await server.gradient(++stepNumber, idx, model, grad);
      opt.step(model.params, grad, r.count);
      return { count: r.count, drawn: idx.length };
    },
    async close() {
      await browser?.close();
      await server.close();
      kernels.close();
      await children.stop();
      if (!allFinite(model.params)) throw new Error('training diverged: the timing would not be of real arithmetic');
    },
  };
}

/** Debian's Chromium, headless, with nothing that reaches for the network by itself. */
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** `count` tabs of one headless Chromium on `link` (never a browser download: Debian's /usr/bin/chromium). */
async function openTabs(link, count) {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  for (let i = 0; i < count; i++) await (await browser.newPage()).goto(link);
  return browser;
}
