import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

/**
 * The command's own help, run as a real process: --version, --help with grouped flags
 * and examples, coordinator --help with only the coordinator's flags, and a mistyped
 * command or flag refused in one line naming the nearest one, exit 2.
 */
const version = (JSON.parse(readFileSync(new URL('../../packages/cli/package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** The flags a --help text lists, in order. */
const flagsIn = (help: string): string[] => [...help.matchAll(/^ {2}(?:-\w, )?--([\w-]+)/gm)].map((m) => m[1]);
/** The headings of a --help text ("Data:", "Model:", ...). */
const headingsIn = (help: string): string[] => [...help.matchAll(/^([A-Z][\w ]*):$/gm)].map((m) => m[1]);

describe('shardprop --version and --help', () => {
  it('--version prints the package version', async () => {
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(version);
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('train --help groups its flags under headings and shows examples', async () => {
    const r = await runCli(['train', '--help']);
    expect(r.code).toBe(0);
    expect(headingsIn(r.stdout)).toEqual(['Data', 'Model', 'Training', 'Workers', 'Output', 'Checkpoints', 'Options', 'Examples']);
    // each flag under its heading
    const section = (heading: string): string[] => flagsIn(r.stdout.split(`\n${heading}:\n`)[1].split('\n\n')[0]);
    expect(section('Data')).toEqual(['data', 'test-data', 'targets', 'label-column', 'classes']);
    expect(section('Workers')).toContain('workers');
    expect(section('Checkpoints')).toEqual(['checkpoint-dir', 'checkpoint-every', 'resume', 'resume-if-present']);
    expect(r.stdout.split('\nExamples:\n')[1].match(/^ {2}shardprop train /gm)?.length).toBeGreaterThanOrEqual(2);
  });

  it.each(['train', 'coordinator', 'worker', 'eval', 'predict', 'export', 'plot', 'sweep', 'trace-diff', 'certs'])('%s --help shows two or three examples of itself', async (command) => {
    const r = await runCli([command, '--help']);
    expect(r.code).toBe(0);
    const examples = r.stdout.split('\nExamples:\n')[1] ?? '';
    const count = examples.match(new RegExp(`^ {2}shardprop ${command} `, 'gm'))?.length ?? 0;
    expect(count).toBeGreaterThanOrEqual(2);
    expect(count).toBeLessThanOrEqual(3);
  });

  it('coordinator --help lists the serving flags first and not --workers, which it does not take', async () => {
    const r = await runCli(['coordinator', '--help']);
    expect(r.code).toBe(0);
    expect(headingsIn(r.stdout)[0]).toBe('Serving');
    const flags = flagsIn(r.stdout);
    expect(flags).toEqual(expect.arrayContaining(['port', 'host', 'expect', 'token-file', 'tls-cert', 'tls-key', 'data', 'checkpoint-dir']));
    expect(flags).not.toContain('workers');
    // and every flag it lists, it takes: none is refused as unknown
    const train = flagsIn((await runCli(['train', '--help'])).stdout);
    expect(train.filter((f) => !flags.includes(f))).toEqual(['workers']);
  });
});

describe('a mistyped command or flag', () => {
  const refused: [string, string[], string][] = [
    ['a command', ['trian', '--data', 'xor'], 'shardprop: unknown command "trian"; did you mean train? (see shardprop --help)'],
    ['a flag', ['train', '--data', 'xor', '--lrr', '3'], 'shardprop: unknown flag --lrr for shardprop train; did you mean --lr? (see shardprop train --help)'],
    ['a required flag (not reported as missing)', ['train', '--dtaa', 'xor'], 'shardprop: unknown flag --dtaa for shardprop train; did you mean --data? (see shardprop train --help)'],
    ['a negated switch', ['train', '--data', 'xor', '--no-dashbord'], 'shardprop: unknown flag --no-dashbord for shardprop train; did you mean --no-dashboard? (see shardprop train --help)'],
    ['a worker flag', ['worker', '--conect', 'ws://127.0.0.1:1'], 'shardprop: unknown flag --conect for shardprop worker; did you mean --connect? (see shardprop worker --help)'],
    ['a short flag (no long flag is one or two letters away)', ['train', '--data', 'xor', '-x'], 'shardprop: unknown flag -x for shardprop train (see shardprop train --help)'],
    ['a flag with nothing near', ['eval', '--model', 'm.json', '--data', 'xor', '--zzzzzzzz'], 'shardprop: unknown flag --zzzzzzzz for shardprop eval (see shardprop eval --help)'],
    ['train\'s flag given to the coordinator', ['coordinator', '--port', '0', '--expect', '1', '--data', 'xor', '--workers', '2'],
      'shardprop: --workers: the coordinator waits for --expect workers that join by themselves; --workers is for shardprop train (see shardprop coordinator --help)'],
    ['a value not among the choices', ['train', '--data', 'xor', '--optimizer', 'adm'], 'shardprop: --optimizer "adm" is not one of sgd, momentum, adam; did you mean adam? (see shardprop train --help)'],
    ['a word where flags go', ['train', '--data', 'xor', 'extra'], 'shardprop: unexpected word "extra" (shardprop train takes flags only) (see shardprop train --help)'],
    ['a word where a number goes, quoted as typed', ['train', '--data', 'xor', '--lr', 'fast'], 'shardprop: --lr must be a number, got "fast"'],
    ['a word where a number goes, as --flag=value', ['board', '--port=x'], 'shardprop: --port must be a number, got "x"'],
    ['no command', [], 'shardprop: name a command: train, coordinator, worker, eval, predict, export, plot, sweep, board, trace-diff, certs or launch (see shardprop --help)'],
  ];
  it.each(refused)('%s: one line with the nearest name, exit 2', async (_, args, line) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`${line}\n`);
    expect(r.stdout).toBe('');
  });
});
