// Part of the package build (after tsc and the kernels' assembly): the browser
// worker's files in dist/browser/, which the coordinator serves at /join. The
// page's script and the tab's Web Worker are bundled by esbuild from the
// TypeScript sources, with the core and the protocol taken from their browser
// entries (nothing that reads files); the kernels' binaries are the ones the core's build
// assembled (no assembler goes to a browser). Type-checked first (src/browser/tsconfig.json).
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const src = here('../src/browser/');
const out = here('../dist/browser/');
const coreDist = here('../../core/dist/kernels/');

/**
 * Node's built-in modules a bundled file imports only for what a tab never calls
 * (session.ts's default memory bound from os.totalmem, the data set's fingerprint
 * by node:crypto): empty here. Any other node: import fails the build.
 */
const STUBBED = new Set(['node:os', 'node:crypto']);
const stubNodeBuiltins = {
  name: 'stub-node-builtins',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => {
      if (!STUBBED.has(args.path)) return { errors: [{ text: `${args.path} (imported by ${args.importer}) cannot run in a browser` }] };
      return { path: args.path, namespace: 'node-stub' };
    });
    b.onLoad({ filter: /.*/, namespace: 'node-stub' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
  },
};

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
try {
  execFileSync(process.execPath, [tsc, '-p', `${src}tsconfig.json`], { stdio: 'inherit' });
} catch {
  console.error('bundle-browser: the browser sources do not type-check (above)');
  process.exit(1);
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const common = {
  bundle: true,
  minify: true,
  sourcemap: 'linked',
  target: 'es2022',
  platform: 'browser',
  alias: { '@shardprop/core': here('../../core/src/browser.ts'), '@shardprop/protocol': here('../../protocol/src/browser.ts') },
  plugins: [stubNodeBuiltins],
  logLevel: 'warning',
  legalComments: 'linked',
};
// the page is a module script; the tab's worker a classic worker script (every browser starts those)
await build({ ...common, entryPoints: [`${src}page.ts`], outfile: `${out}page.js`, format: 'esm' });
await build({ ...common, entryPoints: [`${src}tab-worker.ts`], outfile: `${out}tab-worker.js`, format: 'iife', inject: [`${src}buffer-shim.ts`] });
for (const file of ['join.html', 'join.css']) copyFileSync(`${src}${file}`, `${out}${file}`);
for (const file of ['kernels.wasm', 'kernels-unshared.wasm']) copyFileSync(`${coreDist}${file}`, `${out}${file}`);
