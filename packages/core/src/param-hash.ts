/**
 * The hash of a parameter buffer, for the trace and the run's summary: XXH64 (seed
 * 0) of the values' bytes in little-endian order, as 16 lowercase hex digits. Two
 * runs whose parameters agree bit for bit print the same hash; one bit apart (a
 * -0 for a +0 too), different ones. A check of equality, not a defence against
 * forgery: data fingerprints and checkpoints use SHA-256 (dataset.ts).
 *
 * The hash is xxhash-wasm's XXH64, run in WebAssembly: about 10 GB/s, where the
 * best hand-written JavaScript we measured (MurmurHash3 x86_128 with Math.imul)
 * reached 2.2 GB/s and XXH64 over 32-bit halves 0.13 GB/s. Its module compiles
 * asynchronously, once per process; the hashing itself is synchronous.
 */
import xxhash from 'xxhash-wasm';
import type { Floats } from './numbers.js';

/** What the hashes are: the name an output can carry beside them. */
export const PARAM_HASH = 'xxh64';

export interface ParamHash {
  /** XXH64 of the values' bytes (little-endian), 16 lowercase hex digits. */
  of(x: Floats): string;
  /** XXH64 of any bytes with a 64-bit seed (0 by default): what published test vectors are given for. */
  ofBytes(bytes: Uint8Array, seed?: bigint): string;
}

let loaded: Promise<ParamHash> | undefined;

/** The hash functions, once their WebAssembly module is compiled (the first call compiles it; later ones share it). */
export function loadParamHash(): Promise<ParamHash> {
  loaded ??= xxhash().then(({ h64Raw }) => {
    // h64Raw copies the bytes into its own memory (grown once to the largest buffer) and hashes them there
    const ofBytes = (bytes: Uint8Array, seed = 0n): string => h64Raw(bytes, seed).toString(16).padStart(16, '0');
    return { ofBytes, of: (x: Floats) => ofBytes(littleEndianBytes(x)) };
  });
  return loaded;
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/**
 * The values' bytes as a little-endian machine holds them: a view of the buffer
 * itself (no copy) on every such machine; a copy on a big-endian one, so that the
 * hash names the values, not the machine.
 */
function littleEndianBytes(x: Floats): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  const out = new Uint8Array(x.byteLength);
  const view = new DataView(out.buffer);
  if (x instanceof Float64Array) for (let i = 0; i < x.length; i++) view.setFloat64(i * 8, x[i], true);
  else for (let i = 0; i < x.length; i++) view.setFloat32(i * 4, x[i], true);
  return out;
}
