/**
 * Every message between a coordinator and its workers, as TypeScript types: a
 * union tagged by `type`. How they are encoded is codec.ts; how they are checked
 * on arrival is validate.ts. The README's table lists them.
 *
 *   worker → coordinator         hello, gradient
 *   coordinator → worker         welcome, refused, step, done
 * and with --aggregation slices (docs/scaling.md), a slice server beside each worker:
 *   slice server → coordinator   hello (role 'slice'), sum, faulty
 *   coordinator → slice server   slice-step, refused, done
 *   worker → slice server        hello (with its workerId), part
 *   slice server → worker        params
 */
import type { Floats, KernelName, ModelSpec } from '@shardprop/core';
import type { ErrorCode } from './errors.js';

export const PROTOCOL_VERSION = 6;

/** The HTTP header of the WebSocket upgrade that carries the coordinator's token: it is checked there, once, before any message. */
export const TOKEN_HEADER = 'x-shardprop-token';

/**
 * A browser cannot set TOKEN_HEADER on a WebSocket; it offers two subprotocols instead: WS_PROTOCOL,
 * which the coordinator selects (a browser drops a connection whose offered protocols get no answer),
 * and TOKEN_PROTOCOL followed by the token in base64url (a subprotocol must be an HTTP token), which
 * the coordinator checks at the upgrade like the header and never echoes.
 */
export const WS_PROTOCOL = 'shardprop';
export const TOKEN_PROTOCOL = 'shardprop-token.';
/** What a browser page sends when it asks the coordinator why its WebSocket was refused (fetch cannot set Sec- headers): the subprotocols it offered. */
export const OFFER_HEADER = 'x-shardprop-offer';

export interface Hello {
  type: 'hello';
  version: number;
  name: string;
  /** Set when the worker loaded the data set itself: its fingerprint, which must be the coordinator's. */
  fingerprint?: string;
  /** Threads its wasm kernels compute on (the js kernels run on one; for the worker table; any count gives the same bits). */
  threads?: number;
  /** 'slice': a slice server greeting the coordinator (absent: a worker). */
  role?: 'slice';
  /** A slice server's address, where workers reach it (ws://HOST:PORT). */
  serves?: string;
  /** A worker greeting a slice server: its id, as its welcome said. */
  workerId?: number;
}

/**
 * How a step's parameters and gradients travel. 'star': through the coordinator
 * (it sends every worker the parameters and takes every worker's pieces).
 * 'slices': the parameters are cut into slices, one per slice server (one
 * beside each worker, started by the worker itself); a slice server forwards
 * its slice of the parameters to every worker, sums its slice of every worker's
 * pieces by the one tree, and sends the coordinator that slice of the sum. So no
 * process moves more than about 2P per step, whatever the number of workers.
 */
export type Aggregation = 'star' | 'slices';
export const AGGREGATIONS: readonly Aggregation[] = ['star', 'slices'];

/** Where a sliced step's parameters come from and its pieces go: slice j is values [bounds[j], bounds[j+1]) of the parameters, served at addresses[j]. */
export interface SliceMap {
  addresses: string[];
  bounds: Uint32Array;
}

/**
 * The rows a worker holds: since canonical blocks (version 5), the whole training
 * set, ids 0..total-1 (ascending), so it can compute any block of any batch; with
 * the rows, or without them (x, y absent) when the worker loaded the same data
 * set itself.
 */
export interface ShardData {
  indices: Uint32Array;
  x?: Floats;
  y?: Floats;
  inputs: number;
  outputs: number;
}

/**
 * How a worker sends its gradient sum: 'dense' as the sum itself (one value per
 * parameter), 'factors' as the per-sample δ^l and hidden a^l the sum is built
 * from (core's FactoredBackprop), which the coordinator turns into the sum. For
 * a few samples of a large layer the factors are far fewer bytes.
 */
export type GradientForm = 'dense' | 'factors';
export const GRADIENT_FORMS: readonly GradientForm[] = ['dense', 'factors'];

export interface Welcome {
  type: 'welcome';
  version: number;
  workerId: number;
  spec: ModelSpec;
  /** Total samples of the data set (global ids are 0..total-1). */
  total: number;
  /** The run's block size K: the batch is summed in blocks of K positions, each one backprop pass from zero. */
  block: number;
  fingerprint: string;
  gradientForm: GradientForm;
  /** The coordinator's kernels: every worker computes with the same ones, so results do not depend on the number of workers. */
  kernel: KernelName;
  /** 'slices': the worker starts a slice server beside it (its steps may then come sliced). */
  aggregation: Aggregation;
  shard: ShardData;
}

export interface Refused {
  type: 'refused';
  reason: string;
  /** Why, as a stable code (docs/errors.md); absent from coordinators before it was added. */
  code?: ErrorCode;
}

/**
 * One training step: the same bytes go to every worker. The batch's blocks are
 * dealt as ranges: the worker `workers[i]` computes blocks [cuts[i], cuts[i+1]).
 */
export interface Step {
  type: 'step';
  step: number;
  /** Counts every sending of a step: a step sent again (after workers came or went) has a higher round. */
  round: number;
  /** The parameters; empty when the step is sliced (they come from the slice servers). */
  params: Floats;
  /** Set when the step is sliced: the parameters come from these slice servers, and the pieces go to them (the gradient then carries none). */
  slices?: SliceMap;
  /** Global sample ids of the whole global mini-batch, in order. */
  batch: Uint32Array;
  /** Worker ids, in the order of their ranges. */
  workers: Uint32Array;
  /** workers.length + 1 block boundaries, from 0 up to the batch's block count. */
  cuts: Uint32Array;
}

export interface Gradient {
  type: 'gradient';
  step: number;
  /** The round of the step message it answers. */
  round: number;
  /** Samples of its blocks. */
  count: number;
  /** The loss sum of each of its blocks, in block order: the coordinator adds them in the tree. */
  blockLoss: Float64Array;
  correct: number;
  /** Milliseconds of backprop for this step, for the metrics. */
  computeMs: number;
  /**
   * When this step's message arrived and when the worker's previous gradient
   * went out (0 before its first): wall-clock milliseconds (performance.timeOrigin
   * + performance.now()). The coordinator takes the synchronization of a step from
   * them; across machines they carry the machines' clock offsets.
   */
  receivedAt: number;
  previousSentAt: number;
  /**
   * What the worker process uses, for the dashboard (absent from workers before
   * they sent it): CPU as cores busy over about the last second (1 = one core),
   * and resident memory in bytes.
   */
  cpu?: number;
  rssBytes?: number;
  /**
   * Form 'dense': the canonical pieces of its range of blocks (core's blocks.ts), one
   * parameter vector each, one after another. Form 'factors': the factors of its
   * blocks, each block laid out as FactoredBackprop lays out its rows, in block order.
   */
  grad: Floats;
}

/** Coordinator → slice server: a sending of a step, and the slice of the parameters [from, from + params.length) it serves. */
export interface SliceStep {
  type: 'slice-step';
  step: number;
  round: number;
  /** The kernels its sums use (any give the same bits; the coordinator's are known to work here). */
  kernel: KernelName;
  /** Parameters of the whole model. */
  size: number;
  /** Blocks of the step's batch, and their deal to the workers, as the step message has them. */
  blocks: number;
  workers: Uint32Array;
  cuts: Uint32Array;
  from: number;
  params: Floats;
}

/** Slice server → worker: its slice of a step's parameters, values [from, from + params.length). */
export interface SliceParams {
  type: 'params';
  step: number;
  round: number;
  from: number;
  params: Floats;
}

/** Worker → slice server: the slice of each of its canonical pieces, piece after piece. */
export interface Part {
  type: 'part';
  step: number;
  round: number;
  workerId: number;
  grad: Floats;
}

/** Slice server → coordinator: its slice of the step's gradient sum (the root of the tree over every worker's pieces). */
export interface SliceSum {
  type: 'sum';
  step: number;
  round: number;
  grad: Floats;
}

/** Slice server → coordinator: a worker's part failed its checks (the coordinator decides: the worker goes, or the run diverged). */
export interface Faulty {
  type: 'faulty';
  step: number;
  round: number;
  workerId: number;
  code: ErrorCode;
  reason: string;
}

export interface Done {
  type: 'done';
  reason?: string;
}

export type ToCoordinator = Hello | Gradient | SliceSum | Faulty;
/**
 * "Still here", to a browser tab every few seconds: a page cannot see the WebSocket's pings, so this is
 * how a tab tells a coordinator that is gone without closing (its host down) from one that waits.
 */
export interface Alive {
  type: 'alive';
}

/** How often a coordinator says it is alive to browser tabs, and how long a tab waits for a word before it takes the coordinator for gone (ms). */
export const ALIVE_EVERY_MS = 5_000;
export const ALIVE_SILENCE_MS = 20_000;

export type ToWorker = Welcome | Refused | Step | Done | Alive;
export type ToSliceServer = SliceStep | Refused | Done | Hello | Part;
