import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Job } from 'kubernetes-models/batch/v1';
import { PersistentVolumeClaim, Secret, Service } from 'kubernetes-models/v1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { tempDir } from '../helpers/cli.js';

/**
 * deploy/kubernetes, checked offline (no cluster runs here: ../shared/TESTBED.md):
 * the YAML files are the typed objects of manifests.ts (tsc with kubernetes-types
 * refuses an unknown field, as a manifest made to break shows), `kubectl kustomize`
 * renders the base, and every document it renders is valid by Kubernetes' schemas
 * (kubernetes-models, which refuses a wrong type, as another shows). Pods from the
 * same templates train under podman kube play in test/integration/container.test.ts.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BASE = join(ROOT, 'deploy/kubernetes');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const tmp = tempDir('shardprop-kubernetes-');
afterAll(() => tmp.remove());

const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'batch/v1 Job': Job,
  'v1 Service': Service,
  'v1 PersistentVolumeClaim': PersistentVolumeClaim,
  'v1 Secret': Secret,
};

/** Each document checked by the schema of its kind; a kind the base should not have fails. */
function validate(doc: { apiVersion?: string; kind?: string }): void {
  const Model = MODELS[`${doc.apiVersion} ${doc.kind}`];
  if (!Model) throw new Error(`unexpected kind ${doc.apiVersion} ${doc.kind}`);
  new Model(doc as never).validate();
}

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
const noKubectl = kubectl.status === 0 ? null : 'kubectl is not on the PATH (it renders the kustomize base)';

let built = false;
beforeAll(() => {
  // the typed objects compiled: an unknown field or a wrong type in manifests.ts fails here
  execFileSync(process.execPath, [TSC, '-p', BASE], { stdio: 'pipe' });
  built = true;
}, 120_000);

describe('deploy/kubernetes', () => {
  it('holds the YAML of manifests.ts\'s typed objects, as pnpm deploy:kubernetes writes it', () => {
    expect(built).toBe(true);
    const r = spawnSync(process.execPath, [join(BASE, 'dist/generate.js'), '--check'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });

  it('has every file valid by Kubernetes\' schemas, and the schemas refuse a wrong type', () => {
    const files = ['coordinator-job.yaml', 'coordinator-service.yaml', 'workers-job.yaml', 'checkpoints-pvc.yaml'];
    for (const file of files) for (const doc of parseAllDocuments(readFileSync(join(BASE, file), 'utf8'))) validate(doc.toJS());
    const job = parseAllDocuments(readFileSync(join(BASE, 'coordinator-job.yaml'), 'utf8'))[0].toJS();
    job.spec.template.spec.containers[0].ports[0].containerPort = '7070';
    expect(() => validate(job)).toThrow(/containerPort must be integer/);
  });

  it('is typed: tsc refuses a manifest with a field Kubernetes does not have', () => {
    const broken = tmp.write('broken/manifest.ts', [
      "import type { Container } from 'kubernetes-types/core/v1.js';",
      "export const c: Container = { name: 'x', image: 'y', argz: ['coordinator'] };",
    ].join('\n'));
    writeFileSync(join(tmp.dir, 'broken/tsconfig.json'), JSON.stringify({ extends: join(ROOT, 'tsconfig.base.json'), compilerOptions: { noEmit: true, composite: false, typeRoots: [join(ROOT, 'node_modules/@types')], baseUrl: ROOT, paths: { 'kubernetes-types/*': [join(ROOT, 'node_modules/kubernetes-types/*')] } }, files: [broken] }));
    const r = spawnSync(process.execPath, [TSC, '-p', join(tmp.dir, 'broken')], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stdout).toMatch(/'argz' does not exist in type 'Container'/);
  });

  it('renders with kubectl kustomize: the token a Secret of its own name in both Jobs, the image named, every document valid', (ctx) => {
    if (noKubectl) return ctx.skip();
    // the user's copy: the base with the token file the README says to make (never committed)
    const copy = join(tmp.dir, 'base');
    cpSync(BASE, copy, { recursive: true, filter: (src) => !src.includes('/dist') });
    expect(existsSync(join(BASE, 'token'))).toBe(false);
    writeFileSync(join(copy, 'token'), 'k8s-test-token-0123456789abcdef\n');
    const docs = parseAllDocuments(execFileSync('kubectl', ['kustomize', copy], { encoding: 'utf8' })).map((d) => d.toJS());
    for (const doc of docs) validate(doc);
    expect(docs.map((d) => d.kind).sort()).toEqual(['Job', 'Job', 'PersistentVolumeClaim', 'Secret', 'Service']);
    const secret = docs.find((d) => d.kind === 'Secret');
    expect(Buffer.from(secret.data.token, 'base64').toString()).toBe('k8s-test-token-0123456789abcdef\n');
    for (const job of docs.filter((d) => d.kind === 'Job')) {
      const pod = job.spec.template.spec;
      expect(pod.volumes.find((v: { name: string }) => v.name === 'token').secret.secretName).toBe(secret.metadata.name);
      expect(pod.containers[0].image).toBe('localhost/shardprop:latest');
    }
  });
});
