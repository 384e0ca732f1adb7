/**
 * Predictions as text: CSV with a header (class and score_j per class, or output_j),
 * or JSON lines ({"class", "scores"} or {"outputs"}), written a block of rows at a time.
 * Numbers are the shortest decimals that read back to the same value in the model's
 * dtype, so a float32 score prints as 0.9762 rather than its float64 expansion.
 */
import type { DataPredictions } from '@shardprop/coordinator';

/** Rows per piece handed to `write`. */
const ROWS_PER_PIECE = 1024;

export function writePredictions(p: DataPredictions, json: boolean, write: (text: string) => void): void {
  const format = p.outputs instanceof Float32Array ? float32Text : float64Text;
  const classify = p.task === 'classification' && p.classes !== undefined;
  if (!json) {
    const columns = Array.from({ length: p.width }, (_, j) => (classify ? `score_${j}` : `output_${j}`));
    write(`${classify ? 'class,' : ''}${columns.join(',')}\n`);
  }
  for (let start = 0; start < p.samples; start += ROWS_PER_PIECE) {
    const lines: string[] = [];
    for (let r = start; r < Math.min(start + ROWS_PER_PIECE, p.samples); r++) {
      const values: string[] = [];
      for (let j = 0; j < p.width; j++) values.push(format(p.outputs[r * p.width + j]));
      if (json) lines.push(classify ? `{"class":${p.classes![r]},"scores":[${values.join(',')}]}` : `{"outputs":[${values.join(',')}]}`);
      else lines.push(classify ? `${p.classes![r]},${values.join(',')}` : values.join(','));
    }
    write(lines.join('\n') + '\n');
  }
}

function float64Text(v: number): string {
  return String(v);
}

/** The shortest of 1..9 significant digits that is the same float32 again (9 always is). */
function float32Text(v: number): string {
  for (let digits = 1; digits < 9; digits++) {
    const text = v.toPrecision(digits);
    if (Math.fround(Number(text)) === v) return String(Number(text));
  }
  return String(Number(v.toPrecision(9)));
}
