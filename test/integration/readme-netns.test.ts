import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '@shardprop/core';
import { tempDir } from '../helpers/cli.js';
import { ip, makeNamespaces, removeNamespaces } from '../helpers/netns.js';

/**
 * The README's multi-machine commands, as written, on three "machines": network
 * namespaces with their own addresses on one bridge (itself in a namespace of
 * its own). The commands come from the README's block marked `multi-machine`;
 * only the coordinator's example address and the files' paths are replaced, so
 * the README and this test cannot drift apart. Needs root and `ip netns`;
 * skipped with the reason otherwise. Traffic stays in the namespaces made here.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const README_ADDRESS = '192.168.1.10';
const tmp = tempDir();
const tag = `sr${process.pid % 100000}`;
const subnet = `10.202.${process.pid % 250}`;
const SWITCH = `${tag}-sw`;
const HOSTS = [`${tag}-coord`, `${tag}-w1`, `${tag}-w2`];
const COORD_IP = `${subnet}.1`;

/** A switch (a bridge in its own namespace) and three hosts on it, 10.202.x.1–3. */
function switchAndHosts(): void {
  ip('netns', 'add', SWITCH);
  ip('-n', SWITCH, 'link', 'add', 'br0', 'type', 'bridge');
  ip('-n', SWITCH, 'link', 'set', 'br0', 'up');
  HOSTS.forEach((ns, i) => {
    ip('netns', 'add', ns);
    ip('link', 'add', `${tag}h${i}`, 'type', 'veth', 'peer', 'name', `${tag}p${i}`);
    ip('link', 'set', `${tag}h${i}`, 'netns', ns);
    ip('link', 'set', `${tag}p${i}`, 'netns', SWITCH);
    ip('-n', SWITCH, 'link', 'set', `${tag}p${i}`, 'master', 'br0');
    ip('-n', SWITCH, 'link', 'set', `${tag}p${i}`, 'up');
    ip('-n', ns, 'addr', 'add', `${subnet}.${i + 1}/24`, 'dev', `${tag}h${i}`);
    ip('-n', ns, 'link', 'set', `${tag}h${i}`, 'up');
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  });
}

/** The README's tested block: each command with the machine it runs on. */
function readmeCommands(readme: string): { on: 'coordinator' | 'worker'; command: string }[] {
  const marker = readme.indexOf('<!-- multi-machine:');
  expect(marker, 'README has no block marked multi-machine').toBeGreaterThan(-1);
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(marker))![1];
  let on: 'coordinator' | 'worker' | null = null;
  const commands: { on: 'coordinator' | 'worker'; command: string }[] = [];
  for (const line of block.split('\n').map((l) => l.trim()).filter(Boolean)) {
    if (line.startsWith('# on the coordinator')) on = 'coordinator';
    else if (line.startsWith('# on each worker')) on = 'worker';
    else if (!line.startsWith('#')) commands.push({ on: on!, command: line });
  }
  return commands;
}

/** The placeholders replaced: the example address, and the files' paths (relative to the repository root in the README). */
function localize(command: string): string {
  return command
    .replaceAll(README_ADDRESS, COORD_IP)
    .replace(/(?<=\s)token(?=\s|$)/g, tmp.path('token'))
    .replace(/(?<=\s)tls(?=\/|\s|$)/g, tmp.path('tls'))
    .replace(/(?<=\s)runs\//g, `${tmp.path('runs')}/`);
}

const started: ChildProcess[] = [];
/** Runs `command` with bash on host `ns`, from the repository root, in a process group of its own (npx starts children). */
function startOn(ns: string, command: string) {
  const child = spawn('ip', ['netns', 'exec', ns, 'bash', '-c', command], {
    cwd: ROOT,
    detached: true,
    env: { ...process.env, npm_config_update_notifier: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(child);
  let stderr = '';
  let stdout = '';
  const waiters: { match: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => {
    stderr += d;
    for (const w of [...waiters]) {
      const line = stderr.split('\n').find(w.match);
      if (line !== undefined) w.resolve(line);
    }
  });
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => resolve({ code, stdout, stderr })));
  const line = (match: (l: string) => boolean) => new Promise<string>((resolve, reject) => {
    waiters.push({ match, resolve });
    void exited.then((e) => reject(new Error(`ended (exit ${e.code}) without the line looked for:\n${e.stderr.slice(-2000)}`)));
  });
  return { exited, line };
}

let skipped: string | null = null;
beforeAll(() => {
  skipped = makeNamespaces(switchAndHosts);
  if (skipped) {
    removeNamespaces([...HOSTS, SWITCH]);
    console.warn(`README netns test skipped: ${skipped}`);
  }
});
afterAll(() => {
  for (const child of started) {
    try {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  removeNamespaces([...HOSTS, SWITCH]);
  tmp.remove();
});

describe('the README\'s multi-machine commands', () => {
  it('run as written on three hosts, TLS by IP: token, certs, coordinator, two workers; the run trains to the end', async (ctx) => {
    if (skipped) return ctx.skip();
    const commands = readmeCommands(readFileSync(new URL('../../README.md', import.meta.url), 'utf8'));
    expect(commands.map((c) => c.on)).toEqual(['coordinator', 'coordinator', 'coordinator', 'worker']);
    const [token, certs, coordinatorCmd, workerCmd] = commands.map((c) => localize(c.command));
    for (const setup of [token, certs]) {
      const r = spawnSync('ip', ['netns', 'exec', HOSTS[0], 'bash', '-c', setup], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, `${setup}\n${r.stderr}`).toBe(0);
    }
    expect(existsSync(tmp.path('tls/key.pem'))).toBe(true);
    const coordinator = startOn(HOSTS[0], coordinatorCmd);
    // the join command it prints is the README's worker command for this address
    const hint = JSON.parse(await coordinator.line((l) => l.includes('workers join with'))).msg as string;
    expect(hint).toBe(`workers join with: ${workerCmd}`);
    const workers = HOSTS.slice(1).map((ns) => startOn(ns, workerCmd));
    const [done, ...ended] = await Promise.all([coordinator.exited, ...workers.map((w) => w.exited)]);
    expect(done.code, done.stderr.slice(-2000)).toBe(0);
    for (const w of ended) expect(w.code, w.stderr.slice(-2000)).toBe(0);
    expect(done.stdout).toMatch(/^trained \d+ steps \(1\.00 epochs\)/);
    // both workers came from their own addresses
    for (const i of [2, 3]) expect(done.stderr).toContain(`"address":"${subnet}.${i}:`);
    expect(loadModel(tmp.path('runs/multi/model.json'), 'float64').spec.layers).toEqual([784, 30, 10]);
  }, 300_000);
});
