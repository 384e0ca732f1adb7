import { hostname } from 'node:os';
import { WebSocket } from 'ws';
import { Backprop, Model, allocFloats, createKernels, datasetAs, factorWidth, layoutOf, makeDataset, prepareWasmKernels, subset, type Dataset, type Floats, type Kernels } from '@shardprop/core';
import { PROTOCOL_VERSION, TOKEN_HEADER, ProtocolError, decodeToWorker, encode, encodeGradient, sendFragments, type Receiving, type ShardData, type Step, type Welcome } from './protocol.js';

export interface WorkerOptions {
  /** ws://HOST:PORT of the coordinator. */
  url: string;
  name?: string;
  /** The coordinator's shared secret, if it wants one. */
  token?: string;
  /** PEM certificate(s) to trust for a wss:// coordinator (e.g. its self-signed certificate). */
  ca?: Buffer;
  /**
   * The training data, loaded by this worker itself (the same source as the
   * coordinator's): the coordinator then sends only which samples to hold, after
   * checking that the fingerprints agree. Without it the shard's rows come over the socket.
   */
  data?: { train: Dataset; fingerprint: string };
  /**
   * How long to keep trying when the coordinator cannot be reached or goes away
   * (exponential backoff from 100 ms to 5 s), in ms; 0 gives up at once. Default 30 s.
   * A coordinator that comes back (restarted with --resume) gets the worker again.
   */
  reconnectForMs?: number;
  /** Called with one-line log messages (the CLI hands them to pino). */
  log?: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
}

/**
 * Why a worker stopped: 'done' when the coordinator said training is over;
 * 'refused' or 'invalid' (it sent something invalid) are final; 'error' (could not
 * connect) and 'closed' (the connection ended) are retried for reconnectForMs.
 */
export type WorkerExit = { reason: 'done' } | { reason: 'refused' | 'invalid' | 'error' | 'closed'; message: string };

/**
 * What a worker holds once welcomed: its shard, a model whose parameters are
 * overwritten by every step message, and the scratch to compute gradient sums
 * (or their factors, when the coordinator asked for that form).
 */
class ShardWorker {
  readonly model: Model;
  /** What coordinator messages are checked against (made once: decoding a step allocates nothing for it). */
  readonly receiving: Receiving;
  private readonly bp: Backprop;
  /** The coordinator's choice: parameters, gradient and scratch live where they work in place. */
  private readonly kernels: Kernels;
  private readonly factorWidth: number;
  // the shard, replaced when the coordinator reshards
  private data!: Dataset;
  /** The dense gradient sum, or room for the factors of up to a whole shard (kept when a new shard fits). */
  private grad: Floats | null = null;
  /** Global sample id → row of the shard, or -1. */
  private localRow!: Int32Array;
  private local!: Uint32Array;

  constructor(readonly welcome: Welcome, private readonly ownData?: Dataset) {
    this.kernels = createKernels(welcome.kernel);
    const { spec } = welcome;
    this.model = new Model(spec, this.kernels.alloc(spec.dtype, layoutOf(spec.layers).size));
    this.bp = new Backprop(spec, welcome.chunk, this.kernels);
    this.factorWidth = factorWidth(welcome.spec.layers);
    this.receiving = { params: this.model.params, spec, total: welcome.total };
    this.setShard(welcome.shard);
  }

  /** Takes `shard` as this worker's samples, in place of any it held. */
  setShard(shard: ShardData): void {
    const { spec, total, workerId } = this.welcome;
    if (shard.x && shard.y) {
      this.data = makeDataset(`shard ${workerId}`, shard.x, shard.y, shard.inputs, shard.outputs);
    } else if (shard.indices.length === 0) {
      // no samples yet (joined during training): nothing to hold until the next reshard
      this.data = makeDataset(`shard ${workerId}`, allocFloats(spec.dtype, 0), allocFloats(spec.dtype, 0), shard.inputs, shard.outputs);
    } else {
      const local = this.ownData;
      if (!local) throw new ProtocolError('shard: no rows, and this worker has no data of its own');
      if (local.count !== total || local.inputs !== shard.inputs || local.outputs !== shard.outputs) throw new ProtocolError('shard: it does not fit this worker\'s data');
      this.data = datasetAs(subset(local, shard.indices, `shard ${workerId}`), spec.dtype);
    }
    const room = this.welcome.gradientForm === 'dense' ? this.model.params.length : shard.indices.length * this.factorWidth;
    if (this.grad === null || this.grad.length < room) this.grad = this.kernels.alloc(spec.dtype, room);
    this.localRow = new Int32Array(total).fill(-1);
    shard.indices.forEach((g, row) => {
      this.localRow[g] = row;
    });
    this.local = new Uint32Array(Math.max(1, shard.indices.length));
  }

  /** The gradient message for one step (its fragments): the sum over the batch's samples that lie in this shard. */
  compute(step: Step, receivedAt: number, previousSentAt: number): Buffer[] {
    const t0 = performance.now();
    if (step.params !== this.model.params) this.model.params.set(step.params);
    let count = 0;
    const { batch } = step;
    for (let i = 0; i < batch.length; i++) {
      const g = batch[i];
      const row = g < this.localRow.length ? this.localRow[g] : -1;
      if (row >= 0) {
        if (count === this.local.length) throw new ProtocolError('step: the batch repeats samples of this shard');
        this.local[count++] = row;
      }
    }
    let grad = this.grad!;
    let r;
    if (this.welcome.gradientForm === 'dense') {
      r = this.bp.gradient(this.model, this.data, this.local, 0, count, grad);
    } else {
      grad = grad.subarray(0, count * this.factorWidth);
      r = this.bp.factors(this.model, this.data, this.local, 0, count, grad);
    }
    return encodeGradient({ type: 'gradient', step: step.step, count: r.count, lossSum: r.lossSum, correct: r.correct, computeMs: performance.now() - t0, receivedAt, previousSentAt, round: step.round }, grad);
  }
}

/**
 * Joins a coordinator and computes gradient sums until it says training is over,
 * reconnecting (with backoff) when the coordinator cannot be reached or goes away.
 */
export async function runWorker(options: WorkerOptions): Promise<WorkerExit> {
  const log = options.log ?? (() => {});
  const name = options.name ?? `${hostname()}:${process.pid}`;
  const windowMs = options.reconnectForMs ?? 30_000;
  let delay = 100;
  let lostSince: number | null = null;
  // compiled once, before any welcome: the coordinator may ask for the wasm kernels
  await prepareWasmKernels();
  for (;;) {
    const exit = await runSession(options, log, name, () => {
      lostSince = null;
      delay = 100;
    });
    if (exit.reason !== 'error' && exit.reason !== 'closed') return exit;
    lostSince ??= performance.now();
    const waited = performance.now() - lostSince;
    if (waited + delay > windowMs) {
      return windowMs > 0 ? { reason: exit.reason, message: `${exit.message}; gave up after trying for ${Math.round(waited / 1000)} s` } : exit;
    }
    log('warn', `${exit.message}; trying again in ${delay} ms`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 5000);
  }
}

/** One connection: hello, welcome, steps, until done or the connection ends. `onJoined` runs on the welcome. */
function runSession(options: WorkerOptions, log: NonNullable<WorkerOptions['log']>, name: string, onJoined: () => void): Promise<WorkerExit> {
  return new Promise((resolve) => {
    let state: ShardWorker | null = null;
    let settled = false;
    /** When the last gradient went out, in wall-clock ms (see Gradient.previousSentAt). */
    let sentAt = 0;
    /** The newest step message not yet computed. */
    let latest: { step: Step; arrived: number } | null = null;
    const wallClock = (): number => performance.timeOrigin + performance.now();
    const finish = (exit: WorkerExit): void => {
      if (settled) return;
      settled = true;
      resolve(exit);
      ws.close();
    };
    const ws = new WebSocket(options.url, {
      perMessageDeflate: false,
      maxPayload: 2 ** 31 - 1,
      generateMask: zeroMask,
      ca: options.ca,
      // the token goes with the upgrade: a coordinator with a token lets no one in without it
      headers: options.token === undefined ? undefined : { [TOKEN_HEADER]: options.token },
    });
    ws.on('unexpected-response', (_req, res) => {
      const message =
        res.statusCode === 401
          ? options.token === undefined
            ? 'the coordinator refused us: this coordinator needs a token (--token-file) and the worker gave none'
            : 'the coordinator refused us: wrong token'
          : `the coordinator at ${options.url} answered HTTP ${res.statusCode} instead of a WebSocket`;
      res.resume();
      finish({ reason: res.statusCode === 401 ? 'refused' : 'error', message });
    });
    // the fragments of a message as they arrived: a step's parameters are copied from them into the model
    ws.binaryType = 'fragments';
    ws.on('open', () => {
      ws.send(encode({ type: 'hello', version: PROTOCOL_VERSION, name, fingerprint: options.data?.fingerprint }));
    });
    ws.on('message', (data: Buffer[], isBinary: boolean) => {
      const arrived = wallClock();
      try {
        if (!isBinary) throw new ProtocolError('text frame');
        const m = decodeToWorker(data, state?.receiving);
        switch (m.type) {
          case 'welcome':
            state = new ShardWorker(m, options.data?.train);
            onJoined();
            log('info', `joined as worker ${m.workerId} with ${m.shard.indices.length} samples${m.shard.x ? '' : ' of its own data'}`, {
              workerId: m.workerId,
              samples: m.shard.indices.length,
              shard: idRanges(m.shard.indices),
              fingerprint: m.fingerprint,
              kernel: m.kernel,
            });
            break;
          case 'reshard':
            state!.setShard(m.shard);
            log('info', `now holds ${m.shard.indices.length} samples`, { samples: m.shard.indices.length, shard: idRanges(m.shard.indices) });
            break;
          case 'step': {
            // Computed once this batch of arrived messages is handled: when the coordinator
            // has sent the step again meanwhile (workers came or went), only the newest counts.
            const first = latest === null;
            latest = { step: m, arrived };
            if (first) {
              queueMicrotask(() => {
                const next = latest!;
                latest = null;
                if (settled || !state) return;
                try {
                  sendFragments(ws, state.compute(next.step, next.arrived, sentAt));
                  sentAt = wallClock();
                } catch (err) {
                  log('error', `invalid message from the coordinator: ${(err as Error).message}`);
                  finish({ reason: 'invalid', message: (err as Error).message });
                }
              });
            }
            break;
          }
          case 'refused':
            finish({ reason: 'refused', message: m.reason });
            break;
          case 'done':
            finish({ reason: 'done' });
            break;
        }
      } catch (err) {
        log('error', `invalid message from the coordinator: ${(err as Error).message}`);
        finish({ reason: 'invalid', message: (err as Error).message });
      }
    });
    ws.on('error', (err) => {
      finish({ reason: 'error', message: `cannot reach the coordinator at ${options.url}: ${err.message}` });
    });
    ws.on('close', (code, reason) => {
      finish({ reason: 'closed', message: `the coordinator closed the connection (${code}${reason.length ? `: ${reason.toString()}` : ''})` });
    });
  });
}

/** Sample ids as [start, end) ranges, for a compact log of which samples a worker holds. */
export function idRanges(ids: Uint32Array): [number, number][] {
  const ranges: [number, number][] = [];
  for (const id of ids) {
    const last = ranges[ranges.length - 1];
    if (last && last[1] === id) last[1] = id + 1;
    else ranges.push([id, id + 1]);
  }
  return ranges;
}

/**
 * Frames from a client are masked (RFC 6455) to keep browsers from poisoning
 * proxy caches; between a worker and its coordinator there is no browser and no
 * proxy, and a zero mask lets ws skip masking (a copy and an XOR of every byte)
 * on both ends.
 */
function zeroMask(mask: Uint8Array): void {
  mask.fill(0);
}
