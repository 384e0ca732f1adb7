import { execFile } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '@shardprop/core';
import { runCli, tempDir } from '../helpers/cli.js';
import { ip, makeNamespaces, removeNamespaces } from '../helpers/netns.js';
import { inProcessParams } from '../helpers/runs.js';
// plain scripts: the image's build (what a user runs) and podman on this machine
import { buildContext, buildImage } from '../../deploy/container/build.mjs';
import { CONTAINERS_CONF, TEST_BASE, ensureTestBase, inNamespace, missingContainerTools, podman, podmanLogs, removeContainers, removeImage } from '../../scripts/container-testbed.mjs';
import { TRAINING, podsForPodman } from '../../deploy/kubernetes/manifests.js';
import { stringify } from 'yaml';

/**
 * The image (deploy/container) built and run for real: podman with the project's
 * containers.conf, every podman command inside a network namespace made here (no
 * rule on the machine's firewall), the base made from Debian's nodejs (no registry
 * here). A coordinator and two workers as containers on a podman network train the
 * in-process model bit for bit; the health check answers; the image is small, runs
 * as a user of its own and holds no dev dependency or compiler. The Kubernetes pod
 * templates (deploy/kubernetes) run under podman kube play and train the in-process
 * model too. Root only; skipped with the reason elsewhere.
 */
const tmp = tempDir();
const ns = `ct${process.pid % 100000}`;
const IMAGE = 'localhost/shardprop:test';
const NETWORK = `shardprop-test-${ns}`;
const CONTAINERS = ['shardprop-test-coordinator', 'shardprop-test-w1', 'shardprop-test-w2'];
const PODS = ['shardprop-coordinator', 'shardprop-worker-0', 'shardprop-worker-1', 'shardprop-worker-2'];
const TOKEN = 'container-test-token-0123456789abcdef';
// --kernel wasm: the image's kernels are the binary the package build assembled (wabt is trimmed), and must load
const MODEL = ['--data', 'spirals', '--seed', '5', '--layers', '2,16,2', '--batch', '40', '--block', '8', '--lr', '0.3', '--dtype', 'float64', '--kernel', 'wasm'];
/** The image's user (deploy/container/Containerfile). */
const USER = 1000;

let skipped: string | null = null;
let imageBytes = 0;
beforeAll(async () => {
  const missing = missingContainerTools();
  skipped = process.getuid?.() !== 0 ? 'not root' : missing.length ? `missing ${missing.join(', ')} (scripts/system-deps.sh installs them)` : null;
  skipped ??= makeNamespaces(() => {
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  });
  if (skipped) {
    console.warn(`container test skipped: ${skipped}`);
    return;
  }
  removeContainers(ns, { pods: PODS, containers: CONTAINERS });
  const made = ensureTestBase(ns);
  const context = tmp.path('context');
  mkdirSync(context);
  const appBytes = buildContext(context);
  buildImage({ context, tag: IMAGE, base: TEST_BASE, prefix: inNamespace(ns), env: { ...process.env, CONTAINERS_CONF } });
  imageBytes = Number(podman(ns, ['image', 'inspect', IMAGE, '--format', '{{.Size}}']).trim());
  console.log(`container test: base ${made ? 'made with mmdebstrap' : 'kept from an earlier run'}; the app ${(appBytes / 1e6).toFixed(1)} MB; image ${(imageBytes / 1e6).toFixed(1)} MB`);
  podman(ns, ['network', 'create', NETWORK]);
}, 900_000);
afterAll(() => {
  if (!skipped) {
    removeContainers(ns, { pods: PODS, containers: CONTAINERS, networks: [NETWORK] });
    // the image and its build's layers (about 60 MB a run); the base stays for the next run
    removeImage(ns, IMAGE);
  }
  removeNamespaces([ns]);
  tmp.remove();
}, 120_000);

/** `podman wait NAME`: its exit code, once it has exited. */
async function exitOf(name: string): Promise<number> {
  const { stdout } = await promisify(execFile)('nsenter', [`--net=/run/netns/${ns}`, 'podman', 'wait', name], { env: { ...process.env, CONTAINERS_CONF }, timeout: 300_000 });
  return Number(stdout.trim());
}

/** Waits (polling its log) until container `name` has logged `text`; fails when it exits first. */
async function logged(name: string, text: string): Promise<void> {
  for (;;) {
    const running = podman(ns, ['inspect', name, '--format', '{{.State.Running}}']).trim() === 'true';
    const log = podmanLogs(ns, name);
    if (log.includes(text)) return;
    if (!running) throw new Error(`${name} exited without logging "${text}":\n${log.slice(-1500)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A folder the image's user owns (bind-mounted into its containers). */
function userFolder(name: string): string {
  const dir = tmp.path(name);
  mkdirSync(dir, { recursive: true });
  chownSync(dir, USER, USER);
  chmodSync(dir, 0o700);
  return dir;
}

/** The token, readable by the image's user alone, in a folder of its own. */
function tokenFolder(name: string): string {
  const dir = userFolder(name);
  writeFileSync(`${dir}/token`, `${TOKEN}\n`, { mode: 0o600 });
  chownSync(`${dir}/token`, USER, USER);
  return dir;
}

function bitsOf(params: Float32Array | Float64Array): Buffer {
  return Buffer.from(params.buffer, params.byteOffset, params.byteLength);
}

describe('the container image', () => {
  it('is a production deploy under 250 MB that runs as its own user, without dev dependencies or compilers', (ctx) => {
    if (skipped) return ctx.skip();
    expect(imageBytes).toBeLessThan(250e6);
    const shell = (command: string): string => podman(ns, ['run', '--rm', '--network', 'none', '--entrypoint', 'sh', IMAGE, '-c', command]).trim();
    expect(shell('id -u')).toBe(String(USER));
    expect(shell('ls /opt/shardprop/node_modules/.pnpm')).not.toMatch(/^(typescript|vitest|fast-check|playwright-core|@tensorflow|onnxruntime|madge|kubernetes-models)@/m);
    expect(shell('command -v cc gcc g++ make || echo none')).toBe('none');
    // nor the WAT assembler: the kernels come assembled (build.mjs)
    expect(shell('ls /opt/shardprop/node_modules/.pnpm')).not.toMatch(/^wabt@/m);
    // the browser worker's files, which the coordinator serves at /join (built, not bundled at run time)
    expect(shell('find /opt/shardprop -path "*/dist/browser/*" -type f | sed "s|.*/||" | sort | tr "\\n" " "').split(' ')).toEqual(
      expect.arrayContaining(['join.css', 'join.html', 'kernels-unshared.wasm', 'kernels.wasm', 'page.js', 'tab-worker.js']),
    );
    // the command itself, as its users call it
    expect(podman(ns, ['run', '--rm', '--network', 'none', IMAGE, '--version']).trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('runs a coordinator and two workers as containers to the in-process model, bit for bit, with a health check', async (ctx) => {
    if (skipped) return ctx.skip();
    const tokens = tokenFolder('run-token');
    const out = userFolder('run-out');
    podman(ns, [
      'run', '-d', '--name', CONTAINERS[0], '--network', NETWORK, '-v', `${tokens}:/run/shardprop:ro`, '-v', `${out}:/var/lib/shardprop/out`, IMAGE,
      'coordinator', '--host', '0.0.0.0', '--port', '7070', '--expect', '2', '--token-file', '/run/shardprop/token', ...MODEL, '--steps', '60', '--out', '/var/lib/shardprop/out/model.json',
    ]);
    await logged(CONTAINERS[0], 'coordinator listening');
    // the image's health check, as the engine runs it: the coordinator answers GET /healthz
    expect(podman(ns, ['healthcheck', 'run', CONTAINERS[0]]).trim()).toBe('');
    for (const name of CONTAINERS.slice(1)) {
      podman(ns, ['run', '-d', '--name', name, '--network', NETWORK, '-v', `${tokens}:/run/shardprop:ro`, IMAGE, 'worker', '--connect', `ws://${CONTAINERS[0]}:7070`, '--token-file', '/run/shardprop/token']);
    }
    const codes = await Promise.all(CONTAINERS.map(exitOf));
    expect(codes, podmanLogs(ns, CONTAINERS[0]).slice(-2000)).toEqual([0, 0, 0]);
    const reference = await inProcessParams(MODEL, 60, tmp.path('run-reference.json'));
    expect(bitsOf(loadModel(`${out}/model.json`, 'float64').params).equals(bitsOf(reference))).toBe(true);
  }, 300_000);

  it('runs the Kubernetes pod templates under podman kube play to the in-process model', async (ctx) => {
    if (skipped) return ctx.skip();
    const state = userFolder('kube-state');
    const pods = podsForPodman({ tokenDir: tokenFolder('kube-token'), stateDir: state });
    for (const pod of pods) pod.spec!.containers[0].image = IMAGE;
    const file = tmp.write('pods.yaml', pods.map((p) => stringify(p)).join('---\n'));
    podman(ns, ['kube', 'play', '--network', NETWORK, file]);
    const codes = await Promise.all(pods.map((p) => exitOf(`${p.metadata!.name}-${p.spec!.containers[0].name}`)));
    expect(codes, podmanLogs(ns, 'shardprop-coordinator-coordinator').slice(-2000)).toEqual(pods.map(() => 0));
    // the manifests' training, in one process
    const reference = await runCli(['train', ...TRAINING, '--workers', '0', '--out', tmp.path('kube-reference.json')]);
    expect(reference.code, reference.stderr).toBe(0);
    expect(bitsOf(loadModel(`${state}/model.json`, 'float32').params).equals(bitsOf(loadModel(tmp.path('kube-reference.json'), 'float32').params))).toBe(true);
  }, 300_000);
});
