/**
 * A worker's rules for one connection, without the connection: messages from the
 * coordinator in (already decoded and checked), what to do out (send a gradient,
 * log, finish). client.ts feeds it from a WebSocket; tests feed it by hand.
 */
import { totalmem } from 'node:os';
import type { Dataset, Floats, KernelName } from '@shardprop/core';
import type { Aggregation, ErrorCode, Receiving, Step, ToWorker } from '@shardprop/protocol';
import { ShardWorker } from './shard-worker.js';
import type { ProcessUsage } from './usage.js';

/**
 * Why a worker stopped: 'done' when the coordinator said training is over;
 * 'refused' or 'invalid' (it got something invalid) are final; 'error' (could not
 * connect) and 'closed' (the connection ended) are retried for reconnectForMs.
 */
export type WorkerExit = { reason: 'done' } | { reason: 'refused' | 'invalid' | 'error' | 'closed'; message: string; code?: ErrorCode };

export type SessionEvent =
  | { type: 'message'; message: Exclude<ToWorker, Step> }
  /** A step to compute, with when it arrived and when the previous gradient went out (wall-clock ms; see Gradient). */
  | { type: 'step'; step: Step; receivedAt: number; previousSentAt: number; usage?: ProcessUsage; onFinal?: (from: number, piece: Floats) => void }
  /** A message from the coordinator that failed its checks. */
  | { type: 'invalid'; code: ErrorCode; reason: string };

export type SessionAction =
  /**
   * A gradient: its fragments, the samples it sums and its backprop's time; for a sliced step, also the
   * pieces to cut into the slice servers' parts (sent before the gradient, which then carries no values).
   */
  | { type: 'send'; fragments: Buffer[]; count: number; computeMs: number; sliced?: { step: Step; workerId: number; pieces: Floats } }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string; fields?: Record<string, unknown> }
  /** Welcomed: the client stops counting reconnection time. */
  | { type: 'joined'; workerId: number; aggregation: Aggregation; parameters: number; kernel: KernelName }
  | { type: 'finish'; exit: WorkerExit };

export class WorkerSession {
  private worker: ShardWorker | null = null;

  /**
   * `maxBytes`: the most a welcome may make this worker allocate (the model, its
   * gradient and scratch); a coordinator asking for more is refused in one line.
   */
  constructor(
    private readonly ownData: Dataset | undefined,
    private readonly now: () => number = () => performance.now(),
    private readonly maxBytes = defaultMaxBytes(),
    private readonly threads = 1,
  ) {}

  /** The session is over: the kernels' helper threads stop. */
  close(): void {
    this.worker?.close();
    this.worker = null;
  }

  /** What the next coordinator message is checked against: the model's sizes once welcomed. */
  get receiving(): Receiving | undefined {
    return this.worker?.receiving;
  }

  handle(event: SessionEvent): SessionAction[] {
    if (event.type === 'invalid') return invalid(event.code, event.reason);
    if (event.type === 'step') {
      if (!this.worker) return invalid('SP_ERR_BEFORE_WELCOME', 'step before welcome');
      const gradient = this.worker.compute(event.step, event.receivedAt, event.previousSentAt, event.usage, event.onFinal);
      if (!gradient.ok) return invalid(gradient.code, gradient.reason);
      const { count, computeMs } = this.worker.last;
      const { fragments, pieces } = gradient.message;
      const sliced = pieces && event.step.slices ? { step: event.step, workerId: this.worker.welcome.workerId, pieces } : undefined;
      return [{ type: 'send', fragments, count, computeMs, sliced }];
    }
    const m = event.message;
    switch (m.type) {
      case 'welcome': {
        this.close();
        const made = ShardWorker.fromWelcome(m, this.ownData, this.now, this.maxBytes, this.threads);
        if (!made.ok) return invalid(made.code, made.reason);
        this.worker = made.message;
        const fields = { workerId: m.workerId, samples: m.total, block: m.block, fingerprint: m.fingerprint, kernel: m.kernel, threads: this.threads };
        return [{ type: 'joined', workerId: m.workerId, aggregation: m.aggregation, parameters: this.worker.model.params.length, kernel: m.kernel }, { type: 'log', level: 'info', message: `joined as worker ${m.workerId} holding the ${m.total} samples${m.shard.x ? '' : ' of its own data'}`, fields }];
      }
      case 'refused':
        return [{ type: 'finish', exit: { reason: 'refused', message: m.reason, code: m.code } }];
      case 'done':
        return [{ type: 'finish', exit: { reason: 'done' } }];
      case 'alive':
        return [];
    }
  }
}

/** Something from the coordinator this worker cannot take: it says so and stops. */
function invalid(code: ErrorCode, reason: string): SessionAction[] {
  return [
    { type: 'log', level: 'error', message: `invalid message from the coordinator: ${reason}`, fields: { code } },
    { type: 'finish', exit: { reason: 'invalid', message: reason, code } },
  ];
}

/** What a worker may allocate for a coordinator's model by default: half of this machine's memory. */
export function defaultMaxBytes(): number {
  return totalmem() / 2;
}
