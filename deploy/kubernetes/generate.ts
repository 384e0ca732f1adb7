/**
 * Writes the manifests (manifests.ts) as YAML beside this file: pnpm deploy:kubernetes.
 * With --check, writes nothing and exits 1 naming the files that differ.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { MANIFESTS } from './manifests.js';

const here = new URL('..', import.meta.url);
const check = process.argv.includes('--check');
const stale: string[] = [];
for (const [file, object] of Object.entries(MANIFESTS)) {
  const text = `# generated from manifests.ts by pnpm deploy:kubernetes: edit that file, not this one\n${stringify(object)}`;
  const path = new URL(file, here);
  if (!check) writeFileSync(path, text);
  else if (readFileSync(path, 'utf8') !== text) stale.push(file);
}
if (stale.length) {
  console.error(`deploy/kubernetes: ${stale.join(', ')} differ from manifests.ts; run pnpm deploy:kubernetes`);
  process.exit(1);
}
