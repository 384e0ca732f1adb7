/**
 * The wasm kernels in Node: the module compiled from the binary the package
 * build assembled (or, where it is missing or stale, from the WAT assembled here
 * by wabt), and helper threads as worker_threads. A browser does the same with
 * the binary it loads and Web Workers (packages/worker/src/browser/).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { HELPER_LOOP, type HelperData, type HelperThread } from './team.js';
import { installWasmPlatform, type WasmModule } from './wasm.js';
import { kernelsWat } from './wasm-text.js';

declare const WebAssembly: { compile(bytes: Uint8Array): Promise<WasmModule> };

/** The module's binaries as the package build leaves them (dist/kernels/), with the SHA-256 of the WAT they came from beside them. */
export const BUILT_MODULE = 'kernels.wasm';
export const BUILT_MODULE_SOURCE = 'kernels.wasm.sha256';
/** The same kernels over an unshared memory: for a browser page without cross-origin isolation (one thread). */
export const BUILT_UNSHARED_MODULE = 'kernels-unshared.wasm';

/** The WAT assembled by wabt: what the package build writes, and what a process without it (the sources under test) does itself. */
export async function assembleKernels(wat: string): Promise<Uint8Array> {
  const { default: initWabt } = await import('wabt');
  const wabt = await initWabt();
  const parsed = wabt.parseWat('shardprop-kernels.wat', wat, { simd: true, threads: true, bulk_memory: true });
  try {
    parsed.resolveNames();
    // V8 validates the module when it compiles it (wabt's own validator refuses shared memory)
    return parsed.toBinary({}).buffer;
  } finally {
    parsed.destroy();
  }
}

export function watDigest(wat: string): string {
  return createHash('sha256').update(wat).digest('hex');
}

/** The built binary beside this file, if it was assembled from exactly `wat` (a stale one is ignored). */
function builtModule(wat: string): Uint8Array | null {
  try {
    const digest = readFileSync(new URL(`./${BUILT_MODULE_SOURCE}`, import.meta.url), 'utf8').trim();
    return digest === watDigest(wat) ? readFileSync(new URL(`./${BUILT_MODULE}`, import.meta.url)) : null;
  } catch {
    return null;
  }
}

/**
 * A helper as a worker thread, with nothing of this process's flags or environment: the source
 * is a CommonJS script whatever started this process (--input-type=module), and a NODE_OPTIONS
 * --require meant for child processes must not run in the helper too (it did, in a test that
 * gates a local worker on a pipe). Unref'd: it never keeps the process alive.
 */
function spawnThread(data: HelperData): HelperThread {
  const source = `const { module, memory, slot, names } = require('node:worker_threads').workerData;\n${HELPER_LOOP}`;
  const worker = new Worker(source, { eval: true, execArgv: [], env: {}, workerData: data });
  worker.unref();
  // a helper that dies outside a job is noticed at the next join (it never answers)
  worker.on('error', () => undefined);
  return { terminate: () => void worker.terminate() };
}

let compiled: Promise<boolean> | undefined;

/**
 * Compiles the kernels, once per process: the binary the package build assembled
 * (loading wabt and assembling take a sixth of a second), else the WAT assembled
 * here. Resolves to false (and remembers why) where this Node has no WebAssembly
 * SIMD; afterwards WasmKernels.create is synchronous.
 */
export function prepareWasmKernels(): Promise<boolean> {
  compiled ??= (async () => {
    try {
      const wat = kernelsWat();
      const module = await WebAssembly.compile(builtModule(wat) ?? (await assembleKernels(wat)));
      installWasmPlatform({ module, shared: true, spawnHelper: spawnThread });
      return true;
    } catch (err) {
      installWasmPlatform(err instanceof Error ? err.message.split('\n')[0] : String(err));
      return false;
    }
  })();
  return compiled;
}
