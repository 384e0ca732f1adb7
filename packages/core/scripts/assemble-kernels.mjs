// Part of the package build (after tsc): assembles the kernels' WAT into
// dist/kernels/kernels.wasm, with the SHA-256 of that WAT beside it, so a process
// compiles the binary instead of loading wabt and assembling at every start
// (wasm-node.ts falls back to assembling when the binary is missing or stale);
// and the same kernels over an unshared memory, for browser pages without
// cross-origin isolation (kernels-unshared.wasm).
import { writeFileSync } from 'node:fs';
import { BUILT_MODULE, BUILT_MODULE_SOURCE, BUILT_UNSHARED_MODULE, assembleKernels, watDigest } from '../dist/kernels/wasm-node.js';
import { kernelsWat } from '../dist/kernels/wasm-text.js';

const wat = kernelsWat();
const binary = await assembleKernels(wat);
writeFileSync(new URL(`../dist/kernels/${BUILT_MODULE}`, import.meta.url), binary);
writeFileSync(new URL(`../dist/kernels/${BUILT_MODULE_SOURCE}`, import.meta.url), `${watDigest(wat)}\n`);
writeFileSync(new URL(`../dist/kernels/${BUILT_UNSHARED_MODULE}`, import.meta.url), await assembleKernels(kernelsWat(false)));
