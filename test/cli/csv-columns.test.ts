import { afterAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from '../helpers/cli.js';

/**
 * A CSV file trained on as a real process: the run says at its start which columns
 * are inputs and which targets, and a file that surely wants --label-column (a column
 * named like a label, or words where the target goes) is refused in one line, exit 2.
 */
const tmp = tempDir();
afterAll(() => tmp.remove());

const XOR = 'x1,x2,label\n0,0,0\n0,1,1\n1,0,1\n1,1,0\n';
const train = (data: string, ...flags: string[]) =>
  runCli(['train', '--data', data, '--workers', '0', '--steps', '2', '--batch', 'full', '--out', tmp.path(`${data.split('/').pop()}.model.json`), ...flags], { env: { SHARDPROP_LOG_LEVEL: 'info', SHARDPROP_LOG_FORMAT: 'json' } });
const columnLines = (stderr: string): string[] => stderr.split('\n').filter((l) => l.includes('"msg":"inputs: '));

describe('training on a CSV file', () => {
  it('with --label-column: one log line names the inputs and the one-hot target', async () => {
    const r = await train(tmp.write('xor.csv', XOR), '--label-column', 'label');
    expect(r.code, r.stderr).toBe(0);
    const lines = columnLines(r.stderr);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({ inputs: 2, outputs: 2, msg: 'inputs: 2 columns ("x1", "x2"); target: "label", class indices one-hot (2 classes)' });
  });

  it('without it, a regression on the last column says so, and how to ask for classes', async () => {
    const r = await train(tmp.write('regression.csv', 'x1,x2,y\n0,0,0.5\n1,1,1.5\n'));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(columnLines(r.stderr)[0]).msg).toBe('inputs: 2 columns ("x1", "x2"); target: "y", regressed on as a number (--label-column NAME for classes)');
  });

  const refused: [string, string, string, RegExp][] = [
    ['a label column as the regression target', 'label-last.csv', XOR, /^shardprop: .*label-last\.csv: column 3 \("label"\) looks like class labels but would be the target, regressed on as a number: give --label-column label to learn its classes, or --targets N to say the last N columns are the targets\n$/],
    ['a label column as an input', 'label-first.csv', 'class,p1,p2\n3,0.1,0.2\n1,0.3,0.4\n', /^shardprop: .*label-first\.csv: column 1 \("class"\) looks like class labels but would be an input: give --label-column class/],
    ['words as targets', 'words.csv', 'a,b,species\n1,2,setosa\n3,4,virginica\n', /^shardprop: .*words\.csv: row 1 \(line 2\), column 3 \("species"\): "setosa" is not a finite number: the last column is the target by default and targets must be numbers; for classes give --label-column .*--targets N\n$/],
  ];
  it.each(refused)('refuses %s in one line, exit 2, before training', async (_, name, content, line) => {
    const r = await train(tmp.write(name, content));
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n').filter((l) => !l.startsWith('{')).join('\n')).toMatch(line);
    expect(r.stderr).not.toContain('"msg":"training"');
  });

  it('--targets says the columns are meant: a label-named column is then taken as given', async () => {
    const r = await train(tmp.write('told.csv', XOR), '--targets', '1');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(columnLines(r.stderr)[0]).msg).toContain('target: "label", regressed on as a number');
  });
});
