/**
 * What the join page and its Web Worker (the tab's worker) say to each other.
 * The page only shows; everything that talks to the coordinator and computes
 * runs in the Web Worker, so a busy or hidden tab's page never holds up a step.
 */

/** page → Web Worker */
export type ToTabWorker =
  | {
      type: 'start';
      /** ws(s)://HOST:PORT of the coordinator: the page's own origin. */
      url: string;
      token?: string;
      name: string;
      /** Threads to compute on (1 when the page is not cross-origin isolated). */
      threads: number;
      /** The page is cross-origin isolated: a shared memory (threads possible). */
      isolated: boolean;
      /** Silence (ms) after which a joined tab takes its coordinator for gone (#silence=SECONDS; default ALIVE_SILENCE_MS). */
      silenceMs?: number;
    }
  | { type: 'stop' };

/** Where the tab stands, as the page shows it. */
export type TabState = 'starting' | 'connecting' | 'joined' | 'training' | 'waiting' | 'reconnecting' | 'done' | 'refused' | 'failed' | 'stopped';

/** What the tab has computed so far (this connection's session and before: the whole tab's life). */
export interface TabProgress {
  workerId: number;
  /** The run's step this tab computed last. */
  runStep: number;
  /** Steps this tab computed a range of. */
  steps: number;
  /** Samples it computed backprop on. */
  samples: number;
  /** Samples per second over the last few seconds (0 before two steps). */
  samplesPerSecond: number;
  /** Its share of the last step's batch, and of every batch it took part in (0..1). */
  lastShare: number;
  share: number;
  /** The samples of the data set it holds, and the bytes they and the model take here. */
  held: number;
  dataBytes: number;
  modelBytes: number;
  /** The model: layers and number type. */
  layers: number[];
  dtype: string;
  kernel: string;
  threads: number;
}

/** Web Worker → page */
export type FromTabWorker =
  | { type: 'state'; state: TabState; line: string }
  | { type: 'progress'; progress: TabProgress };
