/**
 * A worker's side of sliced steps (docs/scaling.md): its connections to the
 * slice servers a step names (kept from step to step), each server's slice of
 * the parameters decoded straight into the model's parameters, and the
 * worker's pieces cut into one part per server once it has computed them.
 */
import { WebSocket } from 'ws';
import { layoutOf, type Floats } from '@shardprop/core';
import {
  PROTOCOL_VERSION, decodeSliceValues, type SocketTraffic, encode, encodeSliceValues, sendFragments, type Receiving, type SliceExpectation, type SliceParams, type Step,
} from '@shardprop/protocol';
import type { WorkerLog } from './log.js';
import { peerSocket } from './peer-socket.js';

export interface SlicePeersOptions {
  token?: string;
  ca?: Buffer;
  name: string;
  log: WorkerLog;
  /** Counts the bytes of every connection to a slice server. */
  traffic?: SocketTraffic;
  /** Times the parameters' arrival (kept across connections, like traffic). */
  arrival?: ParamArrival;
  /** Every slice of a step's parameters is in the model: compute it. */
  onReady(step: Step): void;
}

interface Peer {
  ws: WebSocket;
  /** The newest message that came before the step that makes sense of it (the step message may come after the parameters). */
  early: Buffer[] | null;
  /** When `early` came (performance.now()). */
  earlyAt: number;
}

/** The step waiting for its parameters: which slices are in. */
interface Wanted {
  step: Step;
  receiving: Receiving;
  have: Uint8Array;
  missing: number;
  /** Slices 0 .. layerOne − 1 hold layer 1's parameters (W^1, b^1): a forward pass could start once they are in. */
  layerOne: number;
  /** When the first slice came, when the last of layer 1's, when the last (performance.now()). */
  firstAt: number;
  layerOneAt: number;
  lastAt: number;
}

/**
 * When the parameters of sliced steps came in (docs/scaling.md, "Overlap"): on average, how long before the
 * last slice layer 1's slices were all in (the most a forward pass started on layer 1 could gain), and how
 * long from the first slice to the last.
 */
export class ParamArrival {
  private steps = 0;
  private earlyMs = 0;
  private spreadMs = 0;

  add(firstAt: number, layerOneAt: number, lastAt: number): void {
    this.steps++;
    this.earlyMs += lastAt - layerOneAt;
    this.spreadMs += lastAt - firstAt;
  }

  totals(): { steps: number; layerOneEarlyMs: number; spreadMs: number } {
    const mean = (ms: number): number => (this.steps ? Math.round((ms / this.steps) * 1000) / 1000 : 0);
    return { steps: this.steps, layerOneEarlyMs: mean(this.earlyMs), spreadMs: mean(this.spreadMs) };
  }
}

export class SlicePeers {
  private readonly peers = new Map<string, Peer>();
  private wanted: Wanted | null = null;
  private workerId = 0;
  private partsOf: Step | null = null;
  private sent = new Uint8Array(0);
  /** The parameters are not checked for finite values here: their slice server checked them as the coordinator sent them (and a star step's are not checked either). */
  private readonly expectation: SliceExpectation = { type: 'params', dtype: 'float32', step: 0, round: 0, length: 0, from: 0, allFinite: null };

  constructor(private readonly options: SlicePeersOptions) {}

  /** A sliced step arrived: its parameters come from the servers it names (those already here count at once). */
  expect(step: Step, receiving: Receiving, workerId: number): void {
    const { addresses, bounds } = step.slices!;
    this.workerId = workerId;
    const layerOneEnd = layoutOf(receiving.spec.layers).wOffset[1] ?? bounds[bounds.length - 1];
    let layerOne = 0;
    while (layerOne < addresses.length && bounds[layerOne] < layerOneEnd) layerOne++;
    this.wanted = { step, receiving, have: new Uint8Array(addresses.length), missing: addresses.length, layerOne, firstAt: Infinity, layerOneAt: 0, lastAt: 0 };
    for (const address of addresses) {
      const peer = this.peers.get(address) ?? this.connect(address, receiving);
      const early = peer.early;
      peer.early = null;
      if (early) this.take(address, early, peer.earlyAt);
    }
  }

  /** Closes every connection (the worker's session is over). */
  close(): void {
    for (const peer of this.peers.values()) peer.ws.terminate();
    this.peers.clear();
    this.wanted = null;
  }

  /**
   * The worker's pieces of `step`, cut into one part per slice server (each piece's slice, piece after
   * piece: views, no copy), starting with the server after the worker's own position so that the servers
   * are not all sent to in the same order at once. Parts sent already (sendFinal) do not go again.
   */
  sendParts(step: Step, workerId: number, pieces: Floats, size: number): void {
    this.begin(step);
    const k = step.slices!.addresses.length;
    const first = Math.max(0, step.workers.indexOf(workerId)) % k;
    for (let i = 0; i < k; i++) this.sendPart(step, workerId, pieces, size, (first + i) % k);
  }

  /**
   * Values [from, size) of the worker's one piece are final while backprop goes on (the gradients of the
   * top layers come first): the parts of the slices that lie within them go now, while it computes the rest.
   */
  sendFinal(step: Step, workerId: number, piece: Floats, from: number): void {
    this.begin(step);
    const { bounds } = step.slices!;
    for (let j = bounds.length - 2; j >= 0 && bounds[j] >= from; j--) this.sendPart(step, workerId, piece, piece.length, j);
  }

  /** Parts of `step` sent so far, by server (made anew for each sending). */
  private begin(step: Step): void {
    if (this.partsOf === step) return;
    this.partsOf = step;
    this.sent = new Uint8Array(step.slices!.addresses.length);
  }

  private sendPart(step: Step, workerId: number, pieces: Floats, size: number, j: number): void {
    if (this.sent[j] === 1) return;
    this.sent[j] = 1;
    const { addresses, bounds } = step.slices!;
    const ws = this.peers.get(addresses[j])?.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    // no pieces (dealt no block): an empty part, of the run's number type
    const part: Floats[] = [pieces.subarray(0, 0)];
    for (let p = 0; p < pieces.length / size; p++) part.push(pieces.subarray(p * size + bounds[j], p * size + bounds[j + 1]));
    sendFragments(ws, encodeSliceValues({ type: 'part', step: step.step, round: step.round, workerId }, part));
  }

  /** A connection to a slice server, whose messages are at most all the parameters (in any slice of them). */
  private connect(address: string, receiving: Receiving): Peer {
    const { token, ca, name, log } = this.options;
    const ws = peerSocket(address, { token, ca, maxPayload: receiving.params.byteLength + 64 * 1024 });
    const peer: Peer = { ws, early: null, earlyAt: 0 };
    this.peers.set(address, peer);
    ws.on('upgrade', (res) => this.options.traffic?.count(res.socket));
    ws.on('open', () => ws.send(encode({ type: 'hello', version: PROTOCOL_VERSION, name, workerId: this.workerId })));
    ws.on('message', (data: Buffer[]) => this.take(address, data, performance.now()));
    ws.on('error', (err) => log('warn', 'lost a slice server', { serves: address, reason: err.message }));
    ws.on('close', () => {
      if (this.peers.get(address) === peer) this.peers.delete(address);
    });
    return peer;
  }

  /** A server's slice of the parameters: into the model when it is the wanted step's, kept for later when it came first. */
  private take(address: string, data: Buffer[], at: number): void {
    const w = this.wanted;
    const j = w ? w.step.slices!.addresses.indexOf(address) : -1;
    const peer = this.peers.get(address);
    const keep = (): void => {
      if (!peer) return;
      peer.early = data;
      peer.earlyAt = at;
    };
    // no step for it yet, or this step's slice is in already (a later sending's, whose step message is on its way)
    if (!w || j < 0 || w.have[j] === 1) {
      keep();
      return;
    }
    const { bounds } = w.step.slices!;
    const e = this.expectation;
    e.dtype = w.receiving.spec.dtype;
    e.step = w.step.step;
    e.round = w.step.round;
    e.from = bounds[j];
    e.length = bounds[j + 1] - bounds[j];
    const params = decodeSliceValues<SliceParams>(data, e, w.receiving.params.subarray(bounds[j], bounds[j + 1]));
    if (!params.ok) {
      if (params.code === 'SP_ERR_STALE_ROUND') return;
      // a later step or round than the one known here: its step message is on its way
      if (params.code === 'SP_ERR_WRONG_STEP' || params.code === 'SP_ERR_WRONG_ROUND') {
        keep();
        return;
      }
      this.options.log('error', 'invalid parameters from a slice server', { serves: address, code: params.code, reason: params.reason });
      peer?.ws.terminate();
      return;
    }
    w.have[j] = 1;
    // slices kept from before the step message came in at the times they came
    w.firstAt = Math.min(w.firstAt, at);
    w.lastAt = Math.max(w.lastAt, at);
    if (j < w.layerOne) w.layerOneAt = Math.max(w.layerOneAt, at);
    if (--w.missing > 0) return;
    this.wanted = null;
    this.options.arrival?.add(w.firstAt, w.layerOneAt, w.lastAt);
    this.options.onReady(w.step);
  }
}

