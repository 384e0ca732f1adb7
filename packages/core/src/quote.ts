/**
 * How a message quotes what came from outside (a file's value, a flag, a model's
 * layers): on one line, and bounded, so an error stays one readable line however
 * large the input that caused it.
 */

/** A value as JSON on one line, cut short past `max` characters ('nothing' for undefined; numbers as they are). */
export function shown(value: unknown, max = 60): string {
  if (value === undefined) return 'nothing';
  // JSON.stringify would print Infinity (from 1e999) as null
  const text = typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value));
  return oneLine(text.length > max ? `${text.slice(0, max - 3)}...` : text);
}

/** A list of numbers: all of them when few, else the first `first`, and how many there are. */
export function shortList(values: readonly number[], first = 8): string {
  return values.length <= first ? values.join(',') : `${values.slice(0, first).join(',')},… (${values.length} in all)`;
}

/** A size for a message: bytes below a MiB, MiB with a decimal below a GiB, whole MiB above. */
export function bytesShown(bytes: number): string {
  return bytes < 2 ** 20 ? `${bytes} bytes` : `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 30 ? 1 : 0)} MiB`;
}

/** Text on one line: runs of white space (newlines too) become one space. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
