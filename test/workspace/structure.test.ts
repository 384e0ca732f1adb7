import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/cli.js';

/**
 * scripts/check-structure.mjs, which `pnpm test` runs before the suite: it must
 * pass on this workspace and catch an import circle and a dependency that points
 * the wrong way in one made to break both rules.
 */
const SCRIPT = fileURLToPath(new URL('../../scripts/check-structure.mjs', import.meta.url));
const tmp = tempDir('shardprop-structure-');
afterAll(() => tmp.remove());

const check = (root?: string) => spawnSync(process.execPath, [SCRIPT, ...(root ? [root] : [])], { encoding: 'utf8' });

describe('the structure check', () => {
  it('passes on this workspace', () => {
    const r = check();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('no import circles; dependencies point one way (core <- protocol <- worker <- coordinator <- cli)');
  });

  it('names an import circle, an import against the order, and such a dependency in package.json', () => {
    const tsconfig = JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext' }, include: ['src'] });
    for (const name of ['core', 'protocol', 'worker', 'coordinator', 'cli']) {
      tmp.write(`packages/${name}/tsconfig.json`, tsconfig);
      tmp.write(`packages/${name}/package.json`, JSON.stringify({ name: `@shardprop/${name}` }));
      tmp.write(`packages/${name}/src/index.ts`, 'export const x = 1;\n');
    }
    tmp.write('packages/core/src/a.ts', "import { b } from './b.js';\nexport const a = () => b;\n");
    tmp.write('packages/core/src/b.ts', "import { a } from './a.js';\nexport const b = () => a;\n");
    tmp.write('packages/protocol/src/index.ts', "import type { Step } from '@shardprop/worker';\nexport type S = Step;\n");
    tmp.write('packages/worker/package.json', JSON.stringify({ name: '@shardprop/worker', dependencies: { '@shardprop/cli': 'workspace:*' } }));
    const r = check(tmp.dir);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/packages\/core: an import circle: a\.ts -> b\.ts -> a\.ts/);
    expect(r.stderr).toMatch(/packages\/protocol\/src\/index\.ts imports @shardprop\/worker: protocol may use only core/);
    expect(r.stderr).toMatch(/packages\/worker\/package\.json depends on @shardprop\/cli: worker may depend only on core, protocol/);
  });
});
