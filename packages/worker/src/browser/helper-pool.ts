/**
 * The wasm kernels' helper threads in a browser: Web Workers started ahead of
 * time. A browser starts a new worker only once its creator returns to its
 * event loop, and the kernels wait (Atomics.wait) for their helpers the first
 * time a product splits, in the middle of a step: so helpers are started, and
 * known to run, before the tab connects, and a kernels' team only takes them.
 */
import { HELPER_LOOP, type HelperData, type HelperThread } from '@shardprop/core';

/** Each helper waits for its data (the module, the shared memory, its slot), then runs the kernels' loop for good. */
const SOURCE = `onmessage = (e) => {
  if (e.data === 'up?') return postMessage('up');
  onmessage = null;
  const { module, memory, slot, names } = e.data;
${HELPER_LOOP}
};`;

export class HelperPool {
  private readonly idle: Worker[] = [];
  private readonly url = URL.createObjectURL(new Blob([SOURCE], { type: 'text/javascript' }));

  /** Resolves once `count` helpers are running and waiting for work. */
  async fill(count: number): Promise<void> {
    const starting: Promise<Worker | Error>[] = [];
    for (let i = this.idle.length; i < count; i++) {
      starting.push(new Promise((resolve) => {
        const worker = new Worker(this.url);
        worker.onmessage = () => resolve(worker);
        worker.onerror = (e) => {
          worker.terminate();
          resolve(new Error(`a kernel thread did not start: ${e.message}`));
        };
        worker.postMessage('up?');
      }));
    }
    const started = await Promise.all(starting);
    // those that did start are kept (and stopped with the pool)
    for (const w of started) if (!(w instanceof Error)) this.idle.push(w);
    const failed = started.find((w) => w instanceof Error);
    if (failed) throw failed;
  }

  /** Stops the helpers nobody took (the tab's run is over). */
  close(): void {
    for (const worker of this.idle.splice(0)) worker.terminate();
    URL.revokeObjectURL(this.url);
  }

  /** A SpawnHelper: a running helper takes the data at once (a new one starts late: the kernels then leave it out). */
  readonly spawn = (data: HelperData): HelperThread => {
    const worker = this.idle.pop() ?? new Worker(this.url);
    worker.postMessage(data);
    return { terminate: () => worker.terminate() };
  };
}
