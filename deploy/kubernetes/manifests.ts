/**
 * The Kubernetes manifests of deploy/kubernetes, as typed objects (kubernetes-types:
 * tsc refuses a field Kubernetes does not have). `node dist/generate.js` writes them
 * as the YAML files kustomization.yaml lists (pnpm deploy:kubernetes); the test
 * checks that the files are these objects, valid by Kubernetes' schemas, and runs
 * the pod templates under podman kube play.
 *
 * The coordinator is a Job whose pod a headless Service names (workers connect
 * to ws://shardprop-coordinator:7070); its checkpoints live on a
 * PersistentVolumeClaim and it starts with --resume-if-present, so a rescheduled
 * coordinator continues where it stopped. The workers are an Indexed Job of
 * WORKERS pods; the token is a Secret (kustomization.yaml makes it from the file
 * `token`). The health check is GET /healthz on the coordinator's port.
 */
import type { Job } from 'kubernetes-types/batch/v1.js';
import type { Container, PersistentVolumeClaim, Pod, PodSecurityContext, PodSpec, Service, Volume } from 'kubernetes-types/core/v1.js';

export const PORT = 7070;
export const WORKERS = 3;
/** The image (deploy/container/Containerfile); kustomization.yaml's `images` names the one to use. */
export const IMAGE = 'shardprop';
/** The image's user and group (deploy/container/Containerfile). */
export const USER_ID = 1000;
export const TOKEN_DIR = '/var/run/shardprop';
export const STATE_DIR = '/var/lib/shardprop';
/** The training the coordinator runs: edit here (or patch the Job's args in an overlay). */
export const TRAINING = ['--data', 'mnist', '--layers', '784,30,10', '--epochs', '1', '--batch', '100', '--lr', '3'];

const name = 'shardprop';
const labels = (component: string): Record<string, string> => ({ 'app.kubernetes.io/name': name, 'app.kubernetes.io/component': component });

const security: PodSecurityContext = { runAsNonRoot: true, runAsUser: USER_ID, runAsGroup: USER_ID, fsGroup: USER_ID };
const tokenVolume: Volume = { name: 'token', secret: { secretName: 'shardprop-token', defaultMode: 0o440 } };
const tokenMount = { name: 'token', mountPath: TOKEN_DIR, readOnly: true };

export const coordinatorContainer: Container = {
  name: 'coordinator',
  image: IMAGE,
  args: [
    'coordinator', '--host', '0.0.0.0', '--port', String(PORT), '--expect', String(WORKERS), '--token-file', `${TOKEN_DIR}/token`,
    '--checkpoint-dir', STATE_DIR, '--checkpoint-every', '100', '--resume-if-present', '--out', `${STATE_DIR}/model.json`, ...TRAINING,
  ],
  ports: [{ name: 'shardprop', containerPort: PORT }],
  resources: { requests: { cpu: '1', memory: '512Mi' }, limits: { memory: '1Gi' } },
  readinessProbe: { httpGet: { path: '/healthz', port: 'shardprop' }, periodSeconds: 5 },
  livenessProbe: { httpGet: { path: '/healthz', port: 'shardprop' }, initialDelaySeconds: 10, periodSeconds: 10, failureThreshold: 6 },
  volumeMounts: [tokenMount, { name: 'state', mountPath: STATE_DIR }],
};

export const workerContainer: Container = {
  name: 'worker',
  image: IMAGE,
  args: ['worker', '--connect', `ws://${name}-coordinator:${PORT}`, '--token-file', `${TOKEN_DIR}/token`, '--reconnect-for', '300', '--threads', '1'],
  resources: { requests: { cpu: '1', memory: '512Mi' }, limits: { memory: '1Gi' } },
  volumeMounts: [tokenMount],
};

export const coordinatorPod: PodSpec = {
  restartPolicy: 'OnFailure',
  securityContext: security,
  containers: [coordinatorContainer],
  volumes: [tokenVolume, { name: 'state', persistentVolumeClaim: { claimName: 'shardprop-checkpoints' } }],
};

export const workerPod: PodSpec = {
  restartPolicy: 'OnFailure',
  securityContext: security,
  containers: [workerContainer],
  volumes: [tokenVolume],
};

const coordinatorJob: Job = {
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name: `${name}-coordinator`, labels: labels('coordinator') },
  spec: {
    backoffLimit: 6,
    template: { metadata: { labels: labels('coordinator') }, spec: coordinatorPod },
  },
};

const service: Service = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: `${name}-coordinator`, labels: labels('coordinator') },
  spec: {
    clusterIP: 'None',
    selector: labels('coordinator'),
    ports: [{ name: 'shardprop', port: PORT, targetPort: 'shardprop' }],
  },
};

const workersJob: Job = {
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name: `${name}-workers`, labels: labels('worker') },
  spec: {
    completionMode: 'Indexed',
    completions: WORKERS,
    parallelism: WORKERS,
    backoffLimit: 6,
    template: { metadata: { labels: labels('worker') }, spec: workerPod },
  },
};

const checkpoints: PersistentVolumeClaim = {
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name: `${name}-checkpoints`, labels: labels('coordinator') },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
};

/** The files kustomization.yaml lists, and the object each holds. */
export const MANIFESTS: Record<string, Job | Service | PersistentVolumeClaim> = {
  'coordinator-job.yaml': coordinatorJob,
  'coordinator-service.yaml': service,
  'workers-job.yaml': workersJob,
  'checkpoints-pvc.yaml': checkpoints,
};

/**
 * The pods of the two Jobs, as `podman kube play` runs them (it runs Pods, not Jobs or Services, and a secret
 * volume crashes podman 4.3): the same pod specs, with the token's folder (a file `token` in it) and the checkpoint folder as host paths, the
 * coordinator's pod named as the Service names it, and `workers` worker pods.
 */
export function podsForPodman(options: { tokenDir: string; stateDir: string; workers?: number }): Pod[] {
  const hostToken: Volume = { name: 'token', hostPath: { path: options.tokenDir, type: 'Directory' } };
  const pod = (podName: string, spec: PodSpec, component: string): Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: podName, labels: labels(component) },
    spec: {
      ...spec,
      restartPolicy: 'Never',
      volumes: spec.volumes!.map((v) => (v.name === 'token' ? hostToken : v.name === 'state' ? { name: 'state', hostPath: { path: options.stateDir, type: 'Directory' } } : v)),
    },
  });
  const count = options.workers ?? WORKERS;
  return [
    pod(`${name}-coordinator`, coordinatorPod, 'coordinator'),
    ...Array.from({ length: count }, (_, i) => pod(`${name}-worker-${i}`, workerPod, 'worker')),
  ];
}
