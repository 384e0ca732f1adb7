/**
 * The step machine's vocabulary: its states, the events it takes, the actions it
 * returns, and what it reports (a finished step's timing, the workers as the
 * dashboard shows them). step-machine.ts has the rules.
 */
import type { BatchResult, Floats } from '@shardprop/core';
import type { ErrorCode, Faulty, Gradient, Hello, SliceMap, SliceSum, ToWorker } from '@shardprop/protocol';

/** Defaults of --step-timeout and --wait-workers (seconds), of the heartbeat and of the hello's time limit (ms). */
export const DEFAULT_STEP_TIMEOUT_SECONDS = 300;
export const DEFAULT_WAIT_WORKERS_SECONDS = 60;
export const DEFAULT_HEARTBEAT_MS = 5000;
export const DEFAULT_HELLO_TIMEOUT_MS = 10_000;

/** A connection, as the adapter numbers them. */
export type ConnectionId = number;

/**
 * waiting for workers: fewer than `expect` have joined, training has not started;
 * idle: between steps; in step: a step is out and not every gradient is in;
 * waiting for joiners: a step is waiting, every worker is gone; closed: the run is over.
 */
export type MachineState = 'waiting for workers' | 'idle' | 'in step' | 'waiting for joiners' | 'closed';

export type MachineEvent =
  | { type: 'connected'; connection: ConnectionId; address: string; now: number }
  | { type: 'hello'; connection: ConnectionId; hello: Hello; now: number }
  | { type: 'gradient'; connection: ConnectionId; gradient: Gradient; now: number }
  /** A slice server's slice of the sum (its values already in the step's grad), or its report of a faulty worker. */
  | { type: 'sum'; connection: ConnectionId; sum: SliceSum; now: number }
  | { type: 'faulty'; connection: ConnectionId; faulty: Faulty; now: number }
  /** A message that failed its checks (or a text frame). */
  | { type: 'invalid'; connection: ConnectionId; code: ErrorCode; reason: string; now: number }
  | { type: 'closed'; connection: ConnectionId; now: number }
  | { type: 'pong'; connection: ConnectionId; now: number }
  /** The training loop asks for a step's gradient sum over `batch` at `params`, into `grad`. */
  | { type: 'step'; step: number; batch: Uint32Array; params: Floats; grad: Floats; now: number }
  | { type: 'tick'; now: number }
  /** The step in flight diverged (a gradient that is not finite, checked by the coordinator itself): it fails, and nobody is blamed. */
  | { type: 'diverged'; reason: string; now: number }
  /** The run is to stop: the step in flight may finish, but nobody waits for workers any more. */
  | { type: 'stop'; now: number }
  /** The run is over: tell every worker, fail a step in flight. */
  | { type: 'close'; reason: string; now: number };

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type Action =
  | { type: 'send'; to: ConnectionId; message: ToWorker }
  /**
   * The same encoded step to every member (`workers[i]` computes blocks [cuts[i], cuts[i+1])): its parameters
   * straight from `params`, or, sliced, none (then `servers[j]` gets a slice-step with values [bounds[j], bounds[j+1])).
   */
  | {
    type: 'broadcast-step'; to: ConnectionId[]; step: number; round: number; batch: Uint32Array; workers: Uint32Array; cuts: Uint32Array; params: Floats;
    slices?: SliceMap & { servers: ConnectionId[]; blocks: number };
  }
  /** Send the refusal, then close the connection with the WebSocket code and reason. */
  | { type: 'refuse'; to: ConnectionId; reason: string; code: ErrorCode; closeCode: number; closeReason: string }
  | { type: 'ping'; to: ConnectionId[] }
  /** Cut the connection off at once. */
  | { type: 'drop'; to: ConnectionId; code: ErrorCode; reason: string }
  /** Tell these workers training is over and close their connections. */
  | { type: 'done'; to: ConnectionId[]; reason: string }
  /** `expect` workers have joined and have the data: training may start. */
  | { type: 'workers-ready' }
  /** The step's gradient sum is in the step event's `grad`. */
  | { type: 'step-done'; step: number; result: BatchResult; timing: StepTiming }
  | { type: 'step-failed'; step: number; code: ErrorCode; reason: string }
  | { type: 'log'; level: LogLevel; fields: Record<string, unknown>; message: string };

/** When a finished step's parts happened (this process's clock, ms), and its workers' own report of the previous sync (their wall clocks). */
export interface StepTiming {
  sentAt: number;
  firstArrival: number;
  lastArrival: number;
  /** The slowest worker's backprop. */
  maxComputeMs: number;
  /** The latest arrival of these parameters and the latest send of the previous gradient among the workers (0: none before). */
  lastReceivedAt: number;
  lastPreviousSentAt: number;
}

/** A worker as the dashboard's table shows it. */
export interface WorkerSnapshot {
  id: number;
  name: string;
  /** Where its connection comes from (host:port). */
  address: string;
  /** Samples of the blocks dealt to it in the step out or the last one (0 until it is dealt some). */
  shard: number;
  /**
   * ready: joined, training not started; joining: joined during training, not dealt blocks yet; resharding: workers came
   * or went, the blocks are dealt again at the next sending; left: gone (its last figures kept, with why and when).
   */
  state: 'ready' | 'joining' | 'resharding' | 'computing' | 'waiting' | 'idle' | 'left';
  /** Its last step (ms): from the parameters sent to its gradient received; its backprop; then its wait for the slowest worker. */
  stepMs?: number;
  computeMs?: number;
  waitMs?: number;
  /** Totals over the steps it answered (seconds). */
  computeSeconds: number;
  waitSeconds: number;
  /** Threads its kernels compute on, as its hello said (absent: not said). */
  threads?: number;
  /** Its process, as of its last gradient: cores busy over about the last second, and resident memory (absent: not sent). */
  cpu?: number;
  rssBytes?: number;
  /** A worker that left: why, and when (the machine's clock; the adapter's snapshot gives wall-clock ms since the epoch). */
  reason?: string;
  leftAt?: number;
}
