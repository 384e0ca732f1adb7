import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { BlockBackprop, Model, Rng, blockStart, createKernels, makeDataset, prepareWasmKernels, type Dataset, type Kernels } from '@shardprop/core';
import { PROTOCOL_VERSION, TOKEN_HEADER, decodeToWorker, encode, encodeGradient, type Receiving } from '@shardprop/protocol';
import { collect, killAll, startCli, tempDir } from '../helpers/cli.js';
import { UNBOUNDED_STEPS, checkpointAt, inProcessParams, lastCheckpoint, stopWithCheckpoint } from '../helpers/runs.js';

/**
 * Hostile input while a coordinator trains with honest workers: thousands of
 * connections that send random bytes, truncated or mistyped msgpack, absurd
 * declared lengths and text frames before any hello (half of them without the
 * token, which the upgrade itself turns away); and rogue workers that
 * join with the token and then answer steps with wrong steps and rounds, wrong
 * counts and lengths, NaN and infinite values, the wrong array type, repeated
 * gradients (its true gradient sent twice: the first copy counts, the second
 * gets it dropped) and truncated frames. The coordinator must drop every one of them
 * (each rogue worker for its invalid message, not for the silence after it), keep its memory bounded, and train the model of a clean run: exactly, since
 * with --gradient-form factors the sum does not depend on who computed what.
 *
 * The run is unbounded: every attack is made while it trains, however fast it goes, and the
 * test stops it (SIGTERM) once the coordinator has closed every hostile connection; its
 * checkpoint is compared with a clean in-process run of as many steps. No wait here has a
 * deadline: a connection the coordinator never closes fails the test by its timeout.
 */
const tmp = tempDir();
afterAll(() => {
  killAll();
  tmp.remove();
});

const TOKEN = '0123456789abcdef0123456789abcdef';
const SPEC = { layers: [2, 12, 2], activation: 'sigmoid' as const, loss: 'quadratic' as const, dtype: 'float64' as const };
const RUN = ['--data', 'spirals', '--seed', '4', '--layers', '2,12,2', '--batch', '9', '--lr', '0.3', '--dtype', 'float64', '--gradient-form', 'factors'];

/** The test's bound, and its processes': a bound on a hang, never a wait. */
const LIMIT_MS = 240_000;

function rssKiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1] ?? NaN);
}

/** One connection that misbehaves before saying hello; resolves when the coordinator has closed it. */
function preHelloAttack(url: string, rng: Rng): Promise<void> {
  const validHello = encode({ type: 'hello', version: PROTOCOL_VERSION, name: 'rogue', token: TOKEN });
  const attacks: (() => Buffer | string)[] = [
    () => Buffer.from(Array.from({ length: 1 + rng.int(3000) }, () => rng.int(256))),
    () => validHello.subarray(0, rng.int(validHello.length)),
    () => Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]), // an array of 4 billion entries
    () => Buffer.from([0xc6, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3]), // 2 GB of binary, 3 bytes given
    () => Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff]), // a map of 4 billion entries
    () => encode({ type: 'hello', version: 'three', name: 42 } as never),
    () => encode({ type: 'gradient', step: 1, grad: new Float64Array(3) } as never),
    () => encode([1, 2, 3] as never),
    () => 'a text frame',
    () => {
      const b = Buffer.from(validHello);
      b[rng.int(b.length)] ^= 1 << rng.int(8);
      return b;
    },
  ];
  return new Promise((resolve) => {
    // half of them carry the token in the upgrade, so their garbage reaches the message checks
    const ws = new WebSocket(url, { headers: rng.int(2) ? { [TOKEN_HEADER]: TOKEN } : {} });
    ws.on('open', () => ws.send(attacks[rng.int(attacks.length)]()));
    // a mutated hello may still be a valid one: the coordinator welcomes it, and drops it at --step-timeout
    ws.on('message', () => {});
    ws.on('error', () => {});
    ws.on('close', () => resolve());
  });
}

interface Rogue {
  /** The kind of wrong answer it sent. */
  what: string;
  workerId?: number;
  /** The reason the coordinator must give for dropping it. */
  reason?: RegExp;
}

/** A rogue worker: joins with the token, then answers a step wrongly; resolves once it has been dropped. */
function rogueWorker(url: string, rng: Rng, which: number): Promise<Rogue> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers: { [TOKEN_HEADER]: TOKEN } });
    ws.binaryType = 'fragments';
    let rows: Dataset | null = null;
    let block = 1;
    let receiving: Receiving | undefined;
    let factorWidth = 0;
    let kernels: Kernels | undefined;
    let what = 'never got a step';
    let workerId: number | undefined;
    let reason: RegExp | undefined;
    // a message as an honest worker sends it: its fragments as the frames of one message
    const send = (fragments: Buffer[]): void => fragments.forEach((f, i) => ws.send(f, { binary: true, fin: i === fragments.length - 1 }));
    ws.on('open', () => ws.send(encode({ type: 'hello', version: PROTOCOL_VERSION, name: 'rogue-worker', token: TOKEN })));
    ws.on('message', (data: Buffer[]) => {
      const checked = decodeToWorker(Buffer.concat(data), receiving);
      if (!checked.ok) return;
      const m = checked.message;
      if (m.type === 'welcome') {
        // the whole training set, as every worker holds it
        rows = m.shard.x && m.shard.y ? makeDataset('rogue', m.shard.x, m.shard.y, 2, 2) : null;
        workerId = m.workerId;
        block = m.block;
        receiving = { params: new Float64Array(2 * 12 + 12 + 12 * 2 + 2), spec: SPEC, total: m.total, block };
        factorWidth = 12 + 2 + 12;
        // the coordinator's kernels, as an honest worker computes with: the clean run's bits
        kernels = createKernels(m.kernel);
        return;
      }
      if (m.type !== 'step') return;
      // the blocks dealt to it, and their samples
      const slot = m.workers.indexOf(workerId!);
      const first = m.cuts[slot];
      const end = m.cuts[slot + 1];
      const count = blockStart(end, m.batch.length, block) - blockStart(first, m.batch.length, block);
      const blockLoss = new Float64Array(end - first).fill(0.5);
      const head = { type: 'gradient' as const, step: m.step, round: m.round, count, blockLoss, correct: 0, computeMs: 1, receivedAt: 0, previousSentAt: 0 };
      const grad = new Float64Array(count * factorWidth);
      // a zero-length gradient (no block dealt to it) cannot be shorter, nor hold a NaN
      const wrongLength = /^invalid message: gradient: grad has \d+ values, expected \d+ \(factors of \d+ samples\)$/;
      const wrongStep = /^invalid message: gradient for step \d+, expected step \d+$/;
      const wrongRound = /^invalid message: gradient for round \d+ of step \d+, expected round \d+$/;
      const nonFinite = grad.length ? /^invalid message: gradient: grad holds NaN or infinite values$/ : wrongLength;
      // each answer: its messages (each as fragments), and the reason it must be dropped for
      const attacks: [string, () => Buffer[][], RegExp][] = [
        ['a future step', () => [encodeGradient({ ...head, step: m.step + 1 }, grad)], wrongStep],
        ['a past step', () => [encodeGradient({ ...head, step: m.step - 1 }, grad)], wrongStep],
        ['a future round', () => [encodeGradient({ ...head, round: m.round + 1 }, grad)], wrongRound],
        ['another count', () => [encodeGradient({ ...head, count: count + 1 }, grad)], /^invalid message: gradient over \d+ samples, expected \d+$/],
        ['a short array', () => [encodeGradient(head, new Float64Array(grad.length ? grad.length - 1 : 1))], wrongLength],
        ['a long array', () => [encodeGradient(head, new Float64Array(grad.length + 5))], wrongLength],
        ['NaN', () => [encodeGradient(head, grad.length ? grad.map((_, i) => (i === 0 ? NaN : 0)) : Float64Array.of(NaN))], nonFinite],
        ['Infinity', () => [encodeGradient(head, grad.length ? grad.map((_, i) => (i === grad.length - 1 ? -Infinity : 0)) : Float64Array.of(Infinity))], nonFinite],
        ['float32 values', () => [[encode({ ...head, grad: new Float32Array(grad.length) })]], /^invalid message: gradient: grad must be a float64 array$/],
        [
          'its true gradient, twice',
          () => {
            // what an honest worker sends (so the first copy counts), then the same again
            const model = new Model(SPEC);
            model.params.set(m.params);
            const factors = new Float64Array(count * factorWidth);
            const losses = new Float64Array(end - first);
            const r = rows ? new BlockBackprop(SPEC, block, kernels!).factors(model, rows, m.batch, first, end, factors, losses) : { correct: 0 };
            const honest = encodeGradient({ ...head, blockLoss: losses, correct: r.correct }, factors);
            return [honest, honest];
          },
          // the second copy comes while the step waits for others, or once the next one began
          /^invalid message: (a gradient nobody asked for|gradient for step \d+, expected step \d+)$/,
        ],
        // with no block dealt to it, any loss at all is one too many
        ['a negative loss', () => [encodeGradient({ ...head, blockLoss: new Float64Array(Math.max(1, end - first)).fill(-1) }, grad)],
          /^invalid message: gradient: (a block's loss sum is negative|blockLoss must be \d+ float64 loss sums, one per block)$/],
        ['truncated bytes', () => [[Buffer.concat(encodeGradient(head, grad)).subarray(0, 10)]], /^invalid message: undecodable message: /],
        ['random bytes', () => [[Buffer.from(Array.from({ length: 50 }, () => rng.int(256)))]], /^invalid message: /],
        ['twice a future round', () => [encodeGradient({ ...head, round: m.round + 1 }, grad), encodeGradient({ ...head, round: m.round + 1 }, grad)], wrongRound],
      ];
      const [name, make, why] = attacks[which % attacks.length]; // each kind in turn
      what = name;
      reason = why;
      for (const message of make()) send(message);
    });
    ws.on('error', () => {});
    ws.on('close', () => resolve({ what, workerId, reason }));
  });
}

describe('fuzz: hostile clients during training', () => {
  beforeAll(async () => {
    expect(await prepareWasmKernels()).toBe(true); // a rogue computes its true gradient with the coordinator's kernels
  });

  it('drops every rogue connection and worker, keeps its memory bounded, and trains exactly the clean model', async () => {
    writeFileSync(tmp.path('token'), TOKEN);
    const dir = tmp.path('ckpt');
    // --step-timeout: a welcomed mutated hello never answers and holds the step this long (the run takes
    // about 20 steps during the attacks); a rogue, answering from this process, takes milliseconds
    const c = collect(startCli(['coordinator', '--port', '0', '--expect', '2', ...RUN, '--steps', UNBOUNDED_STEPS, '--checkpoint-dir', dir, '--checkpoint-every', '100', '--token-file', tmp.path('token'), '--step-timeout', '3', '--out', tmp.path('fuzzed.json')], { SHARDPROP_LOG_LEVEL: 'info' }), LIMIT_MS);
    const url = JSON.parse(await c.stderrLines((l) => l.includes('coordinator listening'))).url as string;
    const honest = [1, 2].map(() => collect(startCli(['worker', '--connect', url], { SHARDPROP_TOKEN: TOKEN }), LIMIT_MS));
    await c.stderrLines((l) => l.includes('"msg":"workers send gradients"'));
    const startRss = rssKiB(c.child.pid!);

    const rng = new Rng(2026);
    let closed = 0;
    let sent = 0;
    const rogues: Rogue[] = [];
    // pre-hello garbage, 32 connections open at a time, and a rogue worker joining every 100 of them
    const pool = new Set<Promise<void>>();
    while (sent < 2000) {
      if (sent % 100 === 0) rogues.push(await rogueWorker(url, rng, rogues.length));
      sent++;
      const p: Promise<void> = preHelloAttack(url, rng).then(() => {
        closed++;
        pool.delete(p);
      });
      pool.add(p);
      if (pool.size >= 32) await Promise.race(pool);
    }
    await Promise.all(pool);
    const peakRss = rssKiB(c.child.pid!);
    expect(c.child.exitCode, 'the coordinator ended during the attacks').toBeNull();
    await c.stderrLines(checkpointAt(lastCheckpoint(c) + 1000)); // and it trains on, a thousand steps more
    const { exited: done, checkpoint } = await stopWithCheckpoint(c, dir);
    const [w1, w2] = await Promise.all([honest[0].exited, honest[1].exited]);

    expect([w1.code, w2.code]).toEqual([0, 0]);
    expect(closed).toBe(2000); // every garbage connection was closed by the coordinator while it trained
    expect(rogues).toHaveLength(20);
    expect(new Set(rogues.map((r) => r.what)).size).toBe(14); // every kind of rogue answer was tried
    // each rogue was dropped for what it sent: a wrong answer ignored would get it dropped too, later, by the step timeout
    const dropped = new Map<number, string>();
    for (const line of done.stderr.split('\n')) {
      if (!line.includes('"dropped a worker"')) continue;
      const { workerId, reason } = JSON.parse(line) as { workerId: number; reason: string };
      if (!dropped.has(workerId)) dropped.set(workerId, reason);
    }
    for (const r of rogues) expect(dropped.get(r.workerId!), `worker ${r.workerId}: ${r.what}`).toMatch(r.reason!);
    expect(peakRss - startRss).toBeLessThan(150 * 1024); // KiB
    const clean = await inProcessParams(RUN, checkpoint.step, tmp.path('clean.json'));
    expect(Array.from(checkpoint.params)).toEqual(Array.from(clean));
  }, LIMIT_MS);
});
