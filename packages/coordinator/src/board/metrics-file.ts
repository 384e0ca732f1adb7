/**
 * A run's metrics lines (model.metrics.jsonl, see run-folder.ts) read back as
 * columns for the board's curves. Forgiving by design: a line that is not JSON
 * or not a metrics line is counted and skipped, a last line cut short (the run is
 * writing it) is left for the next read, and nothing here throws on bad content.
 */

/** Step lines: [step, epoch, samples, seconds, risk]. Epoch lines: [step, epoch, samples, seconds, train risk, test risk, test accuracy]. */
export interface MetricsColumns {
  steps: (number | null)[][];
  epochs: (number | null)[][];
  /** Lines that were not metrics lines (skipped). */
  skipped: number;
  /** Why there are no curves although there may be lines. */
  note?: string;
}

/** Points kept per series, at most: a longer run is thinned evenly (the last point stays). */
export const MAX_BOARD_POINTS = 4000;

const STEP_FIELDS = ['step', 'epoch', 'samples', 'seconds', 'risk'] as const;
const EPOCH_FIELDS = ['step', 'epoch', 'samples', 'seconds', 'risk', 'testRisk', 'testAccuracy'] as const;

/** Parses the text of a metrics file; lines of a resumed run replace those of the first try from the step it resumed at. */
export function parseMetrics(text: string, max = MAX_BOARD_POINTS): MetricsColumns {
  const steps: (number | null)[][] = [];
  const epochs: (number | null)[][] = [];
  let skipped = 0;
  // the text after the last newline is a line still being written
  const end = text.lastIndexOf('\n');
  for (const line of text.slice(0, end + 1).split('\n')) {
    if (line.trim() === '') continue;
    const row = metricsRow(line);
    if (row === undefined) {
      skipped++;
      continue;
    }
    const rows = row.kind === 'step' ? steps : epochs;
    // a resumed run starts again after its checkpoint: the lines it redoes replace the first try's
    while (rows.length > 0 && (rows[rows.length - 1][0] as number) >= row.values[0]!) rows.pop();
    rows.push(row.values);
  }
  return { steps: toColumns(thin(steps, max), STEP_FIELDS.length), epochs: toColumns(thin(epochs, max), EPOCH_FIELDS.length), skipped };
}

/** A line's values in column order, or undefined when it is not a metrics line (its step must be a positive integer). */
function metricsRow(line: string): { kind: 'step' | 'epoch'; values: (number | null)[] } | undefined {
  let r: unknown;
  try {
    r = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return undefined;
  const o = r as Record<string, unknown>;
  if (!Number.isSafeInteger(o.step) || (o.step as number) < 1) return undefined;
  // lines from before the kind field (the --metrics of older runs) are epoch lines
  const kind = o.kind === 'step' ? 'step' : o.kind === undefined || o.kind === 'epoch' ? 'epoch' : undefined;
  if (kind === undefined) return undefined;
  const fields = kind === 'step' ? STEP_FIELDS : EPOCH_FIELDS;
  return { kind, values: fields.map((f) => (typeof o[f] === 'number' && Number.isFinite(o[f]) ? (o[f] as number) : null)) };
}

/** At most `max` rows, evenly spread, the first and the last kept. */
function thin<T>(rows: T[], max: number): T[] {
  if (rows.length <= max) return rows;
  const stride = (rows.length - 1) / (max - 1);
  return Array.from({ length: max }, (_, i) => rows[Math.round(i * stride)]);
}

function toColumns(rows: (number | null)[][], width: number): (number | null)[][] {
  return Array.from({ length: width }, (_, c) => rows.map((row) => row[c]));
}
