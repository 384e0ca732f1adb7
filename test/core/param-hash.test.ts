import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng, loadParamHash, type ParamHash } from '@shardprop/core';

/**
 * The parameters' hash is XXH64: checked against vectors published with xxHash and
 * LLVM, and against a naive XXH64 written here from the spec in BigInt arithmetic
 * (itself checked against the same vectors) on float32 and float64 buffers.
 */
const MASK = (1n << 64n) - 1n;
const P1 = 0x9e3779b185ebca87n;
const P2 = 0xc2b2ae3d27d4eb4fn;
const P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n;
const P5 = 0x27d4eb2f165667c5n;
const PRIME32 = 0x9e3779b1n;

const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & MASK;
const round = (acc: bigint, lane: bigint): bigint => (rotl((acc + lane * P2) & MASK, 31n) * P1) & MASK;
const merge = (acc: bigint, v: bigint): bigint => (((acc ^ round(0n, v)) * P1) + P4) & MASK;

/** XXH64 as the spec (xxHash's doc/xxhash_spec.md) writes it, one BigInt at a time: slow and plain. */
function naiveXxh64(bytes: Uint8Array, seed = 0n): string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length;
  let p = 0;
  let h: bigint;
  if (n >= 32) {
    const v = [(seed + P1 + P2) & MASK, (seed + P2) & MASK, seed, (seed - P1) & MASK];
    for (; p + 32 <= n; p += 32) for (let i = 0; i < 4; i++) v[i] = round(v[i], view.getBigUint64(p + 8 * i, true));
    h = (rotl(v[0], 1n) + rotl(v[1], 7n) + rotl(v[2], 12n) + rotl(v[3], 18n)) & MASK;
    for (const lane of v) h = merge(h, lane);
  } else {
    h = (seed + P5) & MASK;
  }
  h = (h + BigInt(n)) & MASK;
  for (; p + 8 <= n; p += 8) h = ((rotl(h ^ round(0n, view.getBigUint64(p, true)), 27n) * P1) + P4) & MASK;
  if (p + 4 <= n) {
    h = ((rotl(h ^ ((BigInt(view.getUint32(p, true)) * P1) & MASK), 23n) * P2) + P3) & MASK;
    p += 4;
  }
  for (; p < n; p++) h = (rotl(h ^ ((BigInt(bytes[p]) * P5) & MASK), 11n) * P1) & MASK;
  h = ((h ^ (h >> 33n)) * P2) & MASK;
  h = ((h ^ (h >> 29n)) * P3) & MASK;
  h ^= h >> 32n;
  return h.toString(16).padStart(16, '0');
}

/** xxHash's sanity buffer (xsum_sanity_check.c): byte i is the top byte of PRIME32 · PRIME64^i mod 2^64. */
function sanityBuffer(length: number): Uint8Array {
  const out = new Uint8Array(length);
  let gen = PRIME32;
  for (let i = 0; i < length; i++) {
    out[i] = Number(gen >> 56n);
    gen = (gen * 11400714785074694797n) & MASK;
  }
  return out;
}

/** XSUM_XXH64_testdata: [length of the sanity buffer, seed, XXH64]. */
const SANITY: [number, bigint, string][] = [
  [0, 0n, 'ef46db3751d8e999'], [0, PRIME32, 'ac75fda2929b17ef'],
  [1, 0n, 'e934a84adb052768'], [1, PRIME32, '5014607643a9b4c3'],
  [4, 0n, '9136a0dca57457ee'],
  [14, 0n, '8282dcc4994e35c8'], [14, PRIME32, 'c3bd6bf63deb6df0'],
  [222, 0n, 'b641ae8cb691c174'], [222, PRIME32, '20cb8ab7ae10c14a'],
];

/** LLVM's unittests/Support/xxhashTest.cpp, seed 0. */
const STRINGS: [string, string][] = [
  ['', 'ef46db3751d8e999'],
  ['foo', '33bf00a859c4ba3f'],
  ['bar', '48a37c90ad27a659'],
  ['0123456789abcdefghijklmnopqrstuvwxyz', '69196c1b3af0bff9'],
];

function randomFloats(kind: 'float32' | 'float64', length: number, seed: number): Float32Array | Float64Array {
  const rng = new Rng(seed);
  const x = kind === 'float64' ? new Float64Array(length) : new Float32Array(length);
  for (let i = 0; i < length; i++) x[i] = (rng.nextUint32() / 2 ** 32 - 0.5) * 10;
  return x;
}

let hash: ParamHash;
beforeAll(async () => {
  hash = await loadParamHash();
});

describe('loadParamHash', () => {
  it.each(SANITY)('matches xxHash\'s published XXH64 of the sanity buffer: %i bytes, seed %s', (length, seed, expected) => {
    expect(hash.ofBytes(sanityBuffer(length), seed)).toBe(expected);
    expect(naiveXxh64(sanityBuffer(length), seed)).toBe(expected);
  });

  it.each(STRINGS)('matches LLVM\'s published XXH64 of %j', (text, expected) => {
    const bytes = new TextEncoder().encode(text);
    expect(hash.ofBytes(bytes)).toBe(expected);
    expect(naiveXxh64(bytes)).toBe(expected);
  });

  it('hashes a float buffer\'s bytes as the naive XXH64 does, for float32 and float64 of any length', () => {
    fc.assert(
      fc.property(fc.constantFrom('float32' as const, 'float64' as const), fc.integer({ min: 0, max: 300 }), fc.integer(), (kind, length, seed) => {
        const x = randomFloats(kind, length, seed);
        expect(hash.of(x)).toBe(naiveXxh64(new Uint8Array(x.buffer)));
      }),
      { numRuns: 100 },
    );
  });

  it('hashes only the view it is given: a subarray hashes as a copy of it', () => {
    for (const kind of ['float32', 'float64'] as const) {
      const whole = randomFloats(kind, 100, 7);
      const part = whole.subarray(13, 77);
      expect(hash.of(part)).toBe(hash.of(part.slice()));
      expect(hash.of(part)).not.toBe(hash.of(whole));
    }
  });

  it('tells apart buffers one bit apart, and -0 from +0', () => {
    const x = randomFloats('float32', 1000, 1);
    const before = hash.of(x);
    new Uint32Array(x.buffer)[500] ^= 1;
    expect(hash.of(x)).not.toBe(before);
    expect(hash.of(Float64Array.of(0, 1))).not.toBe(hash.of(Float64Array.of(-0, 1)));
  });

  it('is always 16 lowercase hex digits, leading zeros kept', () => {
    const hashes = Array.from({ length: 200 }, (_, i) => hash.of(Float32Array.of(i)));
    for (const h of hashes) expect(h).toMatch(/^[0-9a-f]{16}$/);
    // about one in 16 starts with a 0: it is kept, not dropped
    expect(hashes.some((h) => h.startsWith('0'))).toBe(true);
  });
});
