/**
 * `shardprop plot`: the learning curves of one or more runs, from their `--metrics`
 * files (a JSON line per epoch, and every --metrics-every steps), overlaid and
 * labelled. Two panels side by side: training risk (of the step lines when there
 * are any, else of the epochs) and test accuracy, against the step, the epoch, the
 * samples seen or the wall time. Drawn by vega-lite (compiled to
 * a vega view rendered server-side to SVG); resvg turns the SVG into a PNG.
 */
import { extname } from 'node:path';
import { Resvg } from '@resvg/resvg-js';
import { writeFileAtomically } from '@shardprop/core';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { readInputFile } from './input-file.js';
import { PLOT_X, type PlotX } from './plot-axes.js';
import { UsageError } from '@shardprop/coordinator';

const X_TITLE: Record<PlotX, string> = { step: 'step', epoch: 'epoch', samples: 'samples seen', seconds: 'wall time (s)' };

/** One `--metrics` line, reduced to what the plot shows. */
interface MetricsPoint {
  run: string;
  kind: 'step' | 'epoch';
  x: number;
  /** Mean loss over the epoch's batches; null when the epoch had none (JSON has no NaN). */
  risk: number | null;
  testAccuracy?: number;
}

const FORMATS = ['.svg', '.png'] as const;
type Format = (typeof FORMATS)[number];

/**
 * Draws the curves of the metrics `files` into `out` (.svg or .png), one line per
 * file, labelled `labels[i]` (default: the file's name without its extension).
 * Throws a UsageError (exit code 2) for a missing, empty or malformed file (naming it and the line),
 * an unknown extension or an output that cannot be written.
 */
export async function plotMetrics(files: string[], out: string, labels?: string[], x: PlotX = 'step'): Promise<void> {
  const format = formatOf(out);
  if (!PLOT_X.includes(x)) throw new UsageError(`plot: --x must be ${PLOT_X.join(', ')}; got ${JSON.stringify(x)}`);
  if (files.length === 0) throw new UsageError('plot: name at least one metrics file (written by shardprop train --metrics FILE)');
  const runs = runLabels(files, labels);
  const points = files.flatMap((file, i) => riskFromSteps(readMetrics(file, runs[i], x)));
  await writeChart(chartSpec(points, runs, x), out, format);
}

/** Draws a vega-lite chart into `out` (.svg or .png), the way every shardprop plot is drawn (the scaling figure of docs/scaling.md too). */
export async function writeChart(spec: vl.TopLevelSpec, out: string, format: Format = formatOf(out)): Promise<void> {
  const svg = await renderSvg(spec);
  const bytes = format === '.svg' ? Buffer.from(svg) : svgToPng(svg);
  try {
    writeFileAtomically(out, (put) => put(bytes));
  } catch (err) {
    throw new UsageError(`${out}: cannot write the plot (${(err as Error).message})`);
  }
}

function formatOf(out: string): Format {
  const ext = extname(out).toLowerCase();
  const format = FORMATS.find((f) => f === ext);
  if (!format) throw new UsageError(`${out}: unknown plot format "${ext || '(no extension)'}": expected a .svg or .png file`);
  return format;
}

/** The given labels (one per file, distinct), or the files' names without extension. */
function runLabels(files: string[], labels: string[] | undefined): string[] {
  if (labels === undefined || labels.length === 0) return defaultLabels(files);
  if (labels.length !== files.length) throw new UsageError(`plot: ${labels.length} labels for ${files.length} metrics files; give one --label per file, in order`);
  const twice = labels.find((l, i) => labels.indexOf(l) !== i);
  if (twice !== undefined) throw new UsageError(`plot: the label "${twice}" is given twice; each run needs its own`);
  return labels;
}

/** File names without extension; names that clash take on folders until they differ (a/metrics, b/metrics); the same file twice gets #n. */
function defaultLabels(files: string[]): string[] {
  const parts = files.map((f) => f.slice(0, f.length - extname(f).length).split(/[\\/]+/).filter(Boolean));
  const labels = parts.map((p) => p[p.length - 1] ?? '');
  const clashes = (i: number): boolean => labels.some((l, j) => l === labels[i] && files[j] !== files[i]);
  for (let depth = 2; labels.some((_, i) => clashes(i)); depth++) {
    const longer = labels.map((l, i) => (clashes(i) && parts[i].length >= depth ? parts[i].slice(-depth).join('/') : l));
    if (longer.every((l, i) => l === labels[i])) break;
    longer.forEach((l, i) => (labels[i] = l));
  }
  return labels.map((l, i) => (labels.indexOf(l) === i ? l : `${l} #${i + 1}`));
}

/** A run with step lines draws its risk from them (finer than the epochs'); its epoch lines keep the test accuracy only. */
function riskFromSteps(points: MetricsPoint[]): MetricsPoint[] {
  if (!points.some((p) => p.kind === 'step')) return points;
  return points.map((p) => (p.kind === 'epoch' ? { ...p, risk: null } : p));
}

/** The lines of a `--metrics` file; each must be JSON with a numeric `step`, the x field and a `risk` (a number, or null for NaN). */
function readMetrics(file: string, run: string, x: PlotX): MetricsPoint[] {
  const text = readInputFile(file).toString('utf8');
  const points: MetricsPoint[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const where = `${file}, line ${i + 1}`;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      throw new UsageError(`${where}: not JSON: ${JSON.stringify(line.length > 60 ? `${line.slice(0, 60)}...` : line)}`);
    }
    const r = record as Record<string, unknown>;
    if (typeof r !== 'object' || r === null || !Number.isFinite(r.step) || !(r.risk === null || Number.isFinite(r.risk))) {
      throw new UsageError(`${where}: not a metrics line: expected an object with a numeric "step" and "risk" (as shardprop train --metrics writes)`);
    }
    if (r.testAccuracy !== undefined && !Number.isFinite(r.testAccuracy)) throw new UsageError(`${where}: "testAccuracy" is ${JSON.stringify(r.testAccuracy)}, expected a number`);
    if (!Number.isFinite(r[x])) throw new UsageError(`${where}: no "${x}" for the x axis (metrics files from before shardprop wrote it have only step and epoch); use --x step`);
    const kind = r.kind === 'step' ? 'step' : 'epoch';
    points.push({ run, kind, x: r[x] as number, risk: r.risk as number | null, testAccuracy: r.testAccuracy as number | undefined });
  }
  if (points.length === 0) throw new UsageError(`${file}: empty file, expected one JSON line per epoch (from shardprop train --metrics)`);
  return points;
}

type ConcatSpec = Extract<vl.TopLevelSpec, { hconcat: unknown }>;
type Panel = ConcatSpec['hconcat'][number];

/** Risk on the left, test accuracy on the right (left out when no run has test data); one colour per run, one legend. */
function chartSpec(points: MetricsPoint[], runs: string[], x: PlotX): vl.TopLevelSpec {
  const steps = points.some((p) => p.kind === 'step');
  const panel = (field: 'risk' | 'testAccuracy', title: string, zero: boolean): Panel => ({
    title,
    width: 360,
    height: 240,
    transform: [{ filter: `isValid(datum.${field})` }],
    // step lines are many: a dot on each would hide the line
    mark: { type: 'line', point: !(steps && field === 'risk') },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: X_TITLE[x] },
      y: { field, type: 'quantitative', title, scale: { zero } },
      color: { field: 'run', type: 'nominal', title: 'run', scale: { domain: runs }, sort: runs },
    },
  });
  const panels = [panel('risk', steps ? 'training risk (metrics lines)' : 'training risk (epoch mean)', true)];
  if (points.some((p) => p.testAccuracy !== undefined)) panels.push(panel('testAccuracy', 'test accuracy', false));
  const spec: ConcatSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    data: { values: points },
    hconcat: panels,
    config: { font: 'DejaVu Sans, sans-serif', legend: { labelLimit: 400 } },
  };
  return spec;
}

async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Twice the SVG's size, so lines and text stay sharp. Text needs a system font (DejaVu on Debian). */
function svgToPng(svg: string): Buffer {
  const resvg = new Resvg(svg, { fitTo: { mode: 'zoom', value: 2 }, font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' } });
  return resvg.render().asPng();
}
