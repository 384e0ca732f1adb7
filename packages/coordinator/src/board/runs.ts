/**
 * The runs under a folder, as `shardprop board` lists them: every run record
 * (*.run.json, see run-record.ts) a few levels down, with its metrics lines
 * beside it. A record that is damaged, half-written or missing makes a run listed
 * as damaged with the reason; nothing in a run folder makes the listing throw.
 */
import { readFileSync, readdirSync, statSync, type Dirent } from 'node:fs';
import { hostname } from 'node:os';
import { join, relative, sep } from 'node:path';
import { RUN_RECORD_FORMAT, type RunRecord } from '../run-record.js';
import { parseMetrics, type MetricsColumns } from './metrics-file.js';

const RECORD = '.run.json';
const METRICS = '.metrics.jsonl';
/** Folder levels searched below the board's folder: runs/<time>/ and sweeps/<time>/<run>/ both fit. */
const MAX_DEPTH = 4;
/** Runs listed at most (the newest by folder name first). */
export const MAX_RUNS = 2000;
/** A record larger than this is not a run record; a metrics file larger than this is not read. */
const MAX_RECORD_BYTES = 4 << 20;
const MAX_METRICS_BYTES = 256 << 20;

/**
 * live: the record says running and its process is alive on this machine. died:
 * it says running and its process is gone. elsewhere: running on another machine
 * (this one cannot tell). damaged: no readable record.
 */
export type BoardStatus = 'live' | 'died' | 'elsewhere' | 'finished' | 'stopped' | 'failed' | 'damaged';

export interface BoardRun {
  /** The record's path under the folder, without .run.json (runs/<time>/model: "<time>/model"). */
  id: string;
  status: BoardStatus;
  /** Why it stopped, failed or is listed as damaged. */
  reason?: string;
  startedAt?: string;
  endedAt?: string;
  /** The live dashboard (status live only). */
  dashboard?: string;
  /** Changes whenever the metrics file does: the page fetches a run's curves again only then. */
  version: string;
  /** The record as written (absent when damaged). */
  record?: RunRecord;
}

/** A run's curves as the page gets them. */
export interface BoardCurves extends MetricsColumns {
  id: string;
  version: string;
}

/** Lists and reads the runs under `dir`; each metrics file is parsed again only when it changed. */
export class RunFolders {
  private readonly cache = new Map<string, { version: string; curves: MetricsColumns }>();

  constructor(readonly dir: string, private readonly isAlive: (pid: number) => boolean = processAlive) {}

  /** Every run under the folder, newest first (by its path: runs/<UTC time>/ sorts by time). */
  list(): BoardRun[] {
    const stems = new Set<string>();
    this.walk(this.dir, 0, stems);
    return [...stems].sort().reverse().slice(0, MAX_RUNS).map((stem) => this.read(stem));
  }

  /** The curves of the run `id` (one that list() gives), or undefined for an unknown id. */
  curves(id: string): BoardCurves | undefined {
    // the id is looked up, never joined into a path: nothing outside the listing can be named
    const run = this.list().find((r) => r.id === id);
    if (!run) return undefined;
    const path = this.stemPath(id) + METRICS;
    const cached = this.cache.get(path);
    if (cached?.version === run.version) return { id, version: run.version, ...cached.curves };
    const curves = readCurves(path, run.version);
    this.cache.set(path, { version: run.version, curves });
    return { id, version: run.version, ...curves };
  }

  private stemPath(id: string): string {
    return join(this.dir, ...id.split('/'));
  }

  /** Collects the stems (paths without the suffix) of records and metrics files; an unreadable folder is passed over. */
  private walk(dir: string, depth: number, stems: Set<string>): void {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory() && depth < MAX_DEPTH && !e.name.startsWith('.') && e.name !== 'node_modules') this.walk(path, depth + 1, stems);
      else if (e.isFile() && (e.name.endsWith(RECORD) || e.name.endsWith(METRICS))) {
        const stem = path.slice(0, -(e.name.endsWith(RECORD) ? RECORD : METRICS).length);
        stems.add(relative(this.dir, stem).split(sep).join('/'));
      }
    }
  }

  private read(id: string): BoardRun {
    const stem = this.stemPath(id);
    const version = fileVersion(stem + METRICS);
    const damaged = (reason: string): BoardRun => ({ id, status: 'damaged', reason, version });
    let text: string;
    try {
      if (statSync(stem + RECORD).size > MAX_RECORD_BYTES) return damaged('its run record is too large to be one');
      text = readFileSync(stem + RECORD, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return damaged(code === 'ENOENT' ? 'metrics without a run record (deleted, or written by hand)' : `its run record cannot be read (${code})`);
    }
    let record: RunRecord;
    try {
      record = JSON.parse(text) as RunRecord;
    } catch {
      return damaged('its run record is not JSON (cut short?)');
    }
    const problem = recordProblem(record);
    if (problem) return damaged(problem);
    const status = this.statusOf(record);
    return {
      id, status, version, record, reason: record.reason, startedAt: record.startedAt, endedAt: record.endedAt,
      dashboard: status === 'live' ? record.dashboard : undefined,
    };
  }

  private statusOf(record: RunRecord): BoardStatus {
    // records from before the status field were written only when a run had finished
    const status = record.status ?? 'finished';
    if (status !== 'running') return status;
    if (record.process?.host !== hostname()) return 'elsewhere';
    return this.isAlive(record.process.pid) ? 'live' : 'died';
  }
}

/** What makes a parsed record unusable, or undefined when it is a run record. */
function recordProblem(r: unknown): string | undefined {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return 'its run record is not a JSON object';
  const o = r as Record<string, unknown>;
  if (o.format !== RUN_RECORD_FORMAT) return `its run record's format is ${JSON.stringify(o.format)}, not ${RUN_RECORD_FORMAT}`;
  if (o.status !== undefined && !['running', 'finished', 'stopped', 'failed'].includes(o.status as string)) return `its run record's status ${JSON.stringify(o.status)} is unknown`;
  if (typeof o.startedAt !== 'string') return 'its run record has no start time';
  if (typeof o.config !== 'object' || o.config === null) return 'its run record has no configuration';
  if (o.status === 'running') {
    const p = o.process as Record<string, unknown> | undefined;
    if (typeof p !== 'object' || p === null || !Number.isSafeInteger(p.pid) || typeof p.host !== 'string') return 'its run record says running but names no process';
  }
  if (o.reason !== undefined && typeof o.reason !== 'string') return 'its run record\'s reason is not text';
  if (o.dashboard !== undefined && (typeof o.dashboard !== 'string' || !/^https?:\/\//.test(o.dashboard))) return 'its run record\'s dashboard is not an http(s) address';
  return undefined;
}

/** Size and modification time: a new line changes it. */
function fileVersion(path: string): string {
  try {
    const s = statSync(path);
    return `${s.size}-${s.mtimeMs}`;
  } catch {
    return 'none';
  }
}

function readCurves(path: string, version: string): MetricsColumns {
  const none = parseMetrics('');
  if (version === 'none') return none;
  try {
    if (statSync(path).size > MAX_METRICS_BYTES) return { ...none, note: `its metrics file is over ${MAX_METRICS_BYTES >> 20} MiB: not read` };
    return parseMetrics(readFileSync(path, 'utf8'));
  } catch {
    return none;
  }
}

/** Signal 0 checks a process exists without touching it; EPERM: it exists, owned by another user. */
function processAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
