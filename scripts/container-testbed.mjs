/**
 * Containers on this machine (root only), for test/integration/container.test.ts:
 * podman with the project's settings (deploy/container/containers.conf: runc,
 * cgroupfs, netavark), every podman command run inside a network namespace the
 * caller made (nsenter --net), so that no rule touches the machine's own
 * firewall (../shared/TESTBED.md). No registry is reachable here: the base image
 * is made from Debian's nodejs with mmdebstrap, once (kept between runs).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CONTAINERS_CONF = fileURLToPath(new URL('../deploy/container/containers.conf', import.meta.url));
/** The base the tests build on: Debian trixie's nodejs (20.19), nothing else but what it needs. */
export const TEST_BASE = 'localhost/shardprop-test-base';

/** The programs the testbed runs; those missing, by path. */
export function missingContainerTools() {
  const wanted = ['/usr/bin/podman', '/usr/sbin/runc', '/usr/bin/mmdebstrap', '/usr/bin/nsenter', '/usr/bin/catatonit', '/usr/lib/podman/netavark', '/usr/lib/podman/aardvark-dns'];
  return wanted.filter((p) => !existsSync(p));
}

/** `podman ARGS` inside the namespace `ns`, with the project's settings; its stdout (throws with its stderr's end). */
export function podman(ns, args, options = {}) {
  try {
    return execFileSync('nsenter', [`--net=/run/netns/${ns}`, 'podman', ...args], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CONTAINERS_CONF }, timeout: options.timeoutMs ?? 300_000,
    });
  } catch (err) {
    const said = (err.stderr ?? '').toString().split('\n').filter((l) => l.trim() && !l.includes('systemd')).slice(-3).join(' | ');
    throw new Error(`podman ${args.slice(0, 3).join(' ')}: ${said || err.message}`);
  }
}

/** What container `name` wrote, stdout and stderr together (podman logs gives them back on its own two). */
export function podmanLogs(ns, name) {
  const r = spawnSync('nsenter', [`--net=/run/netns/${ns}`, 'podman', 'logs', name], { encoding: 'utf8', env: { ...process.env, CONTAINERS_CONF } });
  return `${r.stdout}${r.stderr}`;
}

/** The command prefix buildImage (deploy/container/build.mjs) runs podman under. */
export function inNamespace(ns) {
  return ['nsenter', `--net=/run/netns/${ns}`];
}

/** Makes TEST_BASE with mmdebstrap (about a minute) unless podman has it already. */
export function ensureTestBase(ns) {
  try {
    podman(ns, ['image', 'exists', TEST_BASE]);
    return false;
  } catch {
    // not made yet
  }
  const dir = mkdtempSync(join(tmpdir(), 'shardprop-base-'));
  try {
    const tar = join(dir, 'base.tar');
    // the docs, manuals and translations left out (the licences kept): the image's size is the target's
    const excluded = ['/usr/share/man/*', '/usr/share/locale/*', '/usr/share/doc/*', '/usr/share/info/*'].map((p) => `--dpkgopt=path-exclude=${p}`);
    execFileSync('mmdebstrap', ['--variant=essential', '--include=nodejs,ca-certificates', '--mode=root', ...excluded, '--dpkgopt=path-include=/usr/share/doc/*/copyright', 'trixie', tar], {
      stdio: ['ignore', 'ignore', 'pipe'], timeout: 600_000,
    });
    podman(ns, ['import', tar, TEST_BASE]);
    return true;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Removes containers, pods and networks by name (those not there skipped). */
export function removeContainers(ns, { containers = [], pods = [], networks = [] }) {
  for (const [what, names] of [['pod', pods], ['container', containers], ['network', networks]]) {
    for (const name of names) {
      try {
        podman(ns, [what, 'rm', '-f', name]);
      } catch {
        // not there
      }
    }
  }
}

/** Removes image `name` and the layers only it used (a base it was built on stays). */
export function removeImage(ns, name) {
  try {
    podman(ns, ['rmi', '-f', name]);
  } catch {
    // not there
  }
}
