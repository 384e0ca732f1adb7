/**
 * One line for a usage mistake yargs found (an unknown command or flag, a missing
 * or wrong value), with the nearest known name when one is close, e.g.
 * `unknown flag --lrr for shardprop train; did you mean --lr?`. The caller exits 2 with it.
 * yargs suggests commands (recommendCommands) but not flags: the flags are matched here.
 */

/** Edits (insert, delete, substitute, swap two neighbours) turning a into b: optimal string alignment distance. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The known name closest to `word`: within a third of its length in edits (at least 2; 1 for a word of one or two letters), or one it begins. */
export function closest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const limit = word.length <= 2 ? 1 : Math.max(2, Math.floor(word.length / 3));
  for (const name of known) {
    const distance = editDistance(word.toLowerCase(), name);
    if (distance < bestDistance && (distance <= limit || (word.length >= 3 && name.startsWith(word)))) {
      best = name;
      bestDistance = distance;
    }
  }
  return best;
}

/** What a command line said before the mistake: the command (when one was named) and its flags. */
export interface UsageContext {
  /** The command named, e.g. "train"; undefined at the top level. */
  command?: string;
  /** The words typed after `shardprop`. */
  argv: readonly string[];
  commands: readonly string[];
  /** The flags of `command` (or the top level's), kebab-case, without dashes. */
  flags: readonly string[];
}

/** Flags that are not mistyped but belong to another command: what to use instead. */
const ELSEWHERE: Record<string, Record<string, string>> = {
  coordinator: { workers: 'the coordinator waits for --expect workers that join by themselves; --workers is for shardprop train' },
};

/** The flags typed that the command does not know, without dashes (yargs also takes --no-FLAG and camelCase). */
function unknownFlags(context: UsageContext): string[] {
  const known = (name: string): boolean => context.flags.includes(name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));
  return context.argv
    .filter((a) => a.startsWith('--') && a.length > 2)
    .map((a) => a.slice(2).split('=')[0])
    .filter((name) => !known(name) && !(name.startsWith('no-') && known(name.slice(3))));
}

/** yargs' message (one or more lines) as one line that says what to do. */
export function usageLine(message: string, context: UsageContext): string {
  const where = context.command === undefined ? 'shardprop' : `shardprop ${context.command}`;
  const help = `(see ${where} --help)`;
  const text = message.split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
  const recommended = /^Did you mean (.+)\?$/.exec(text);
  if (recommended) {
    const typed = context.argv.find((a) => !a.startsWith('-')) ?? '';
    return `unknown command "${typed}"; did you mean ${recommended[1]}? ${help}`;
  }
  const invalid = [...message.matchAll(/Argument: (\S+), Given: "([^"]*)", Choices: (.+)/g)];
  if (invalid.length > 0) {
    const parts = invalid.map(([, flag, given, list]) => {
      const choices = [...list.matchAll(/"([^"]*)"/g)].map((m) => m[1]);
      const near = closest(given, choices);
      return `--${flag} "${given}" is not one of ${choices.join(', ')}${near ? `; did you mean ${near}?` : ''}`;
    });
    return `${parts.join('; ')} ${help}`;
  }
  // a mistyped required flag (--dtaa) is reported as the flag it should have been, not as a missing --data
  const unknown = /^Unknown arguments?: (.+)$/.exec(text);
  const names = unknown ? unknown[1].split(', ') : unknownFlags(context);
  if (names.length === 0) return `${text} ${help}`;
  const parts = names.map((name) => {
    const typedAsFlag = context.argv.some((a) => a === `--${name}` || a.startsWith(`--${name}=`) || a === `-${name}` || a === `--no-${name}`);
    if (!typedAsFlag) {
      if (context.command !== undefined) return `unexpected word "${name}" (${where} takes flags only)`;
      const command = closest(name, context.commands);
      return `unknown command "${name}"${command ? `; did you mean ${command}?` : `: name one of ${context.commands.join(', ')}`}`;
    }
    const instead = context.command === undefined ? undefined : ELSEWHERE[context.command]?.[name];
    if (instead) return `--${name}: ${instead}`;
    const flag = closest(name, context.flags);
    const no = context.argv.includes(`--no-${name}`) ? 'no-' : '';
    const dashes = context.argv.includes(`-${name}`) ? '-' : '--';
    return `unknown flag ${dashes}${no}${name} for ${where}${flag ? `; did you mean --${no}${flag}?` : ''}`;
  });
  return `${parts.join('; ')} ${help}`;
}
