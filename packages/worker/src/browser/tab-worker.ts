/**
 * A browser tab's worker, in a Web Worker of the join page: the same session
 * (session.ts), core and WebAssembly kernels as a Node worker, over the
 * browser's own WebSocket. It holds no files: the coordinator sends the rows in
 * the welcome. It reconnects with backoff when the coordinator goes away (a
 * coordinator restarted with --resume gets it back), and tells the page what
 * it does (tab-messages.ts).
 */
import { installWasmPlatform, type WasmModule } from '@shardprop/core';
import { ALIVE_SILENCE_MS, OFFER_HEADER, PROTOCOL_VERSION, TOKEN_PROTOCOL, WS_PROTOCOL, decodeToWorker, encode, type ErrorCode, type Step } from '@shardprop/protocol';
import { WorkerSession, type SessionAction, type WorkerExit } from '../session.js';
import { HelperPool } from './helper-pool.js';
import type { FromTabWorker, TabProgress, TabState, ToTabWorker } from './tab-messages.js';

declare const self: { onmessage: ((e: MessageEvent<ToTabWorker>) => void) | null; postMessage(m: FromTabWorker): void };
declare const WebAssembly: { compile(bytes: ArrayBuffer): Promise<WasmModule> };

/**
 * The most a welcome may make this tab allocate (the model, its gradient and
 * backprop's scratch, in the kernels' memory), and that memory's size where it
 * cannot grow (an unshared memory, in a page without cross-origin isolation).
 */
export const TAB_MODEL_BYTES = 768 * 2 ** 20;
const FIXED_MEMORY_BYTES = 2 ** 30;
/** How long the tab keeps trying to reach a coordinator that went away (backoff 100 ms to 5 s). */
const RECONNECT_FOR_MS = 10 * 60_000;
/** The page hears of progress at most this often. */
const PROGRESS_MS = 250;

const tell = (m: FromTabWorker): void => self.postMessage(m);
const say = (state: TabState, line: string): void => tell({ type: 'state', state, line });

let stopRequested = false;
let current: WebSocket | null = null;
/** Ends the backoff's wait at once (Stop). */
let wake: (() => void) | null = null;

self.onmessage = (e) => {
  const m = e.data;
  if (m.type === 'stop') {
    stopRequested = true;
    current?.close(1000, 'stopped in the browser');
    wake?.();
    return;
  }
  void run(m).catch((err: Error) => say('failed', `stopped: ${err.message}`));
};

async function run(start: Extract<ToTabWorker, { type: 'start' }>): Promise<void> {
  say('starting', 'loading the kernels');
  const threads = start.isolated ? start.threads : 1;
  const binary = await fetch(start.isolated ? 'kernels.wasm' : 'kernels-unshared.wasm');
  if (!binary.ok) throw new Error(`the kernels could not be loaded (HTTP ${binary.status})`);
  const module = await WebAssembly.compile(await binary.arrayBuffer());
  const pool = new HelperPool();
  installWasmPlatform(start.isolated ? { module, shared: true, spawnHelper: pool.spawn } : { module, shared: false, spawnHelper: null, fixedBytes: FIXED_MEMORY_BYTES });
  try {
    await reconnecting(start, threads, pool);
  } finally {
    pool.close();
  }
}

/** Connections one after another, with backoff, until the run is over, the tab is refused or stopped, or the coordinator stays away. */
async function reconnecting(start: Extract<ToTabWorker, { type: 'start' }>, threads: number, pool: HelperPool): Promise<void> {
  const totals = new Totals(threads);
  let delay = 100;
  let lostSince: number | null = null;
  for (;;) {
    if (!stopRequested) await pool.fill(threads - 1);
    // Stop pressed while the kernels loaded or the threads started: no connection at all
    const exit = stopRequested ? null : await connectOnce(start, threads, totals, () => {
      lostSince = null;
      delay = 100;
    });
    totals.flush();
    if (stopRequested || exit === null) return say('stopped', `stopped by you. ${totals.summary()}`);
    if (exit.reason === 'done') return say('done', `the run is over. ${totals.summary()}`);
    if (exit.reason === 'refused' || exit.reason === 'invalid') return say(exit.reason === 'refused' ? 'refused' : 'failed', `${exit.reason === 'refused' ? 'refused' : 'stopped'}: ${exit.message}`);
    lostSince ??= performance.now();
    const waited = performance.now() - lostSince;
    if (waited + delay > RECONNECT_FOR_MS) return say('failed', `${exit.message}; gave up after trying for ${Math.round(waited / 1000)} s. ${totals.summary()}`);
    say('reconnecting', `${exit.message}; trying again in ${(delay / 1000).toFixed(1)} s`);
    await new Promise<void>((r) => {
      wake = r;
      setTimeout(r, delay);
    });
    wake = null;
    delay = Math.min(delay * 2, 5000);
    if (stopRequested) return say('stopped', `stopped by you. ${totals.summary()}`);
  }
}

/** The subprotocols a browser offers: the one the coordinator selects, and the token (base64url of its UTF-8). */
function protocols(token: string | undefined): string[] {
  if (token === undefined) return [WS_PROTOCOL];
  let binary = '';
  for (const byte of new TextEncoder().encode(token)) binary += String.fromCharCode(byte);
  return [WS_PROTOCOL, TOKEN_PROTOCOL + btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')];
}

/** What a refusal means for a tab, where it differs from a Node worker's line. */
const TAB_REASONS: Partial<Record<ErrorCode, string>> = {
  SP_ERR_TOKEN_MISSING: 'this coordinator needs a token: open the link it printed, which ends in #token=… (the content of its --token-file)',
  SP_ERR_TOKEN_WRONG: 'wrong token: the link must end in #token= and the content of the coordinator\'s --token-file',
};

/** Why an upgrade failed, asked of the coordinator itself (a browser hides the upgrade's HTTP status). */
async function whyRefused(token: string | undefined): Promise<WorkerExit> {
  try {
    // the offer as the WebSocket made it: a header holds only Latin-1, a token any character
    const answer = await fetch('check', { headers: { [OFFER_HEADER]: protocols(token).join(', ') }, cache: 'no-store' });
    if (answer.status === 401 || answer.status === 403) {
      const { reason, code } = (await answer.json()) as { reason: string; code: ErrorCode };
      return { reason: 'refused', message: TAB_REASONS[code] ?? reason, code };
    }
    return { reason: 'closed', message: 'the coordinator did not take the connection', code: 'SP_ERR_UNREACHABLE' };
  } catch {
    return { reason: 'error', message: 'the coordinator cannot be reached', code: 'SP_ERR_UNREACHABLE' };
  }
}

/** One connection: hello, then the session's messages, until it finishes or the connection ends. */
function connectOnce(start: Extract<ToTabWorker, { type: 'start' }>, threads: number, totals: Totals, onJoined: () => void): Promise<WorkerExit> {
  say('connecting', `connecting to ${start.url}`);
  return new Promise((resolve) => {
    const session = new WorkerSession(undefined, () => performance.now(), TAB_MODEL_BYTES, threads);
    const ws = new WebSocket(start.url, protocols(start.token));
    current = ws;
    ws.binaryType = 'arraybuffer';
    let opened = false;
    let settled = false;
    let latest: Step | null = null;
    /**
     * A step is computed in a task of its own, after the messages already queued: a browser runs
     * microtasks after each message, so a step sent again meanwhile would otherwise be computed in full.
     */
    const later = new MessageChannel();
    /** When the coordinator was last heard from (or this tab last finished computing): it says 'alive' every few seconds. */
    let heardAt = performance.now();
    const silence = setInterval(() => {
      // before the welcome, a long wait is no silence: the welcome (the whole data set) may take long to come in,
      // and a page sees a message only once all of it is there
      const limit = session.receiving ? (start.silenceMs ?? ALIVE_SILENCE_MS) : 6 * ALIVE_SILENCE_MS;
      if (opened && performance.now() - heardAt > limit) {
        finish({ reason: 'closed', message: `the coordinator has been silent for ${limit / 1000} s: taken for gone`, code: 'SP_ERR_COORDINATOR_SILENT' });
      }
    }, 1000);
    const finish = (exit: WorkerExit): void => {
      if (settled) return;
      settled = true;
      clearInterval(silence);
      later.port1.close();
      session.close();
      current = null;
      resolve(exit);
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000);
    };
    const act = (actions: SessionAction[], step?: Step): void => {
      for (const a of actions) {
        if (settled) return;
        if (a.type === 'send') {
          // one copy out of the kernels' memory: a browser sends no view of a shared memory
          ws.send(Buffer.concat(a.fragments));
          if (step) totals.computed(step, a.count);
        } else if (a.type === 'joined') {
          onJoined();
          totals.joined(a.workerId, a.kernel, session);
          if (a.aggregation === 'slices') {
            finish({ reason: 'refused', message: 'this coordinator slices its steps (--aggregation slices), which needs a slice server beside each worker: a browser tab joins coordinators that run --aggregation star', code: 'SP_ERR_NOT_SLICED' });
            return;
          }
          say('joined', `joined as worker ${a.workerId}; waiting for the first step`);
        } else if (a.type === 'finish') finish(a.exit);
      }
    };
    const handle = (event: Parameters<WorkerSession['handle']>[0], step?: Step): void => {
      let actions: SessionAction[];
      try {
        actions = session.handle(event);
      } catch (err) {
        actions = session.handle({ type: 'invalid', code: 'SP_ERR_UNEXPECTED', reason: (err as Error).message });
      }
      act(actions, step);
    };
    ws.onopen = () => {
      opened = true;
      ws.send(encode({ type: 'hello', version: PROTOCOL_VERSION, name: start.name, threads }));
    };
    ws.onmessage = (e: MessageEvent<ArrayBuffer | string>) => {
      if (settled) return;
      heardAt = performance.now();
      if (typeof e.data === 'string') return handle({ type: 'invalid', code: 'SP_ERR_TEXT_FRAME', reason: 'text frame' });
      const checked = decodeToWorker(Buffer.from(e.data), session.receiving);
      if (!checked.ok) return handle({ type: 'invalid', code: checked.code, reason: checked.reason });
      const m = checked.message;
      if (m.type !== 'step') return handle({ type: 'message', message: m });
      // the coordinator may send a step again meanwhile (workers came or went): only the newest counts
      const first = latest === null;
      latest = m;
      if (first) later.port2.postMessage(null);
    };
    later.port1.onmessage = () => {
      const next = latest;
      latest = null;
      if (settled || next === null) return;
      const now = performance.timeOrigin + performance.now();
      handle({ type: 'step', step: next, receivedAt: now, previousSentAt: totals.sentAt }, next);
      totals.sentAt = performance.timeOrigin + performance.now();
      heardAt = performance.now(); // busy until now: the silence is counted from here
    };
    ws.onerror = () => {
      // before the upgrade: refused (token, origin) or unreachable; the page is told which
      if (!opened) void whyRefused(start.token).then(finish);
    };
    ws.onclose = (e) => {
      if (!opened) return; // onerror explains it
      finish({ reason: 'closed', message: `the coordinator closed the connection (${e.code}${e.reason ? `: ${e.reason}` : ''})`, code: 'SP_ERR_CONNECTION_CLOSED' });
    };
  });
}

/** What the tab computed, for the page: counted per step, sent at most every PROGRESS_MS. */
class Totals {
  sentAt = 0;
  private readonly p: TabProgress;
  private dealt = 0;
  private batches = 0;
  private lastSent = 0;
  /** The page was told 'training' on this connection. */
  private announced = false;
  /** (time, samples) of recent steps, for samples/s. */
  private readonly recent: [number, number][] = [];

  constructor(threads: number) {
    this.p = { workerId: 0, runStep: 0, steps: 0, samples: 0, samplesPerSecond: 0, lastShare: 0, share: 0, held: 0, dataBytes: 0, modelBytes: 0, layers: [], dtype: '', kernel: '', threads };
  }

  joined(workerId: number, kernel: string, session: WorkerSession): void {
    const r = session.receiving!;
    const width = r.spec.dtype === 'float64' ? 8 : 4;
    const inputs = r.spec.layers[0];
    const outputs = r.spec.layers[r.spec.layers.length - 1];
    this.announced = false;
    Object.assign(this.p, { workerId, kernel, held: r.total, dataBytes: r.total * (inputs + outputs) * width, modelBytes: r.params.byteLength, layers: r.spec.layers, dtype: r.spec.dtype });
    this.flush();
  }

  computed(step: Step, count: number): void {
    if (!this.announced) say('training', 'training');
    this.announced = true;
    this.p.runStep = step.step;
    this.p.steps++;
    this.p.samples += count;
    this.dealt += count;
    this.batches += step.batch.length;
    this.p.lastShare = count / step.batch.length;
    this.p.share = this.dealt / this.batches;
    const now = performance.now();
    this.recent.push([now, this.p.samples]);
    while (this.recent.length > 2 && now - this.recent[0][0] > 3000) this.recent.shift();
    const [t0, s0] = this.recent[0];
    this.p.samplesPerSecond = now > t0 ? ((this.p.samples - s0) * 1000) / (now - t0) : 0;
    if (now - this.lastSent >= PROGRESS_MS) this.flush();
  }

  flush(): void {
    this.lastSent = performance.now();
    tell({ type: 'progress', progress: { ...this.p } });
  }

  summary(): string {
    if (this.p.steps === 0) return 'This tab computed nothing.';
    return `This tab computed ${this.p.samples.toLocaleString('en')} samples in ${this.p.steps.toLocaleString('en')} steps (${(100 * this.p.share).toFixed(1)} % of the batches it took part in).`;
  }
}
