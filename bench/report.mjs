// Plain-text output of the sections: aligned tables and readable numbers.

/** 12,345 for large numbers, three significant digits for small ones. */
export function num(x) {
  if (x === undefined || x === null || !Number.isFinite(x)) return '-';
  return Math.abs(x) >= 100 ? Math.round(x).toLocaleString('en-US') : x.toPrecision(3);
}

/** "1.23x", or "-" when either side is missing. */
export function ratio(a, b) {
  return Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : '-';
}

/** A markdown table whose columns line up in a terminal too. */
export function table(header, rows) {
  const all = [header, ...rows].map((r) => r.map(String));
  const width = header.map((_, c) => Math.max(...all.map((r) => r[c].length)));
  const line = (r) => `| ${r.map((cell, c) => (c === 0 ? cell.padEnd(width[c]) : cell.padStart(width[c]))).join(' | ')} |`;
  return [line(all[0]), `|${width.map((w, c) => (c === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|')}|`, ...all.slice(1).map(line)].join('\n');
}
