// The image's health check (Containerfile's HEALTHCHECK): a coordinator (PID 1 runs `shardprop coordinator`)
// is healthy when GET /healthz on its --port answers 200; any other command (a worker) while it runs.
import { readFileSync } from 'node:fs';

const args = readFileSync('/proc/1/cmdline', 'utf8').split('\0');
if (!args.includes('coordinator')) process.exit(0);
const at = args.findIndex((a) => a === '--port' || a.startsWith('--port='));
const port = at < 0 ? NaN : Number(args[at].includes('=') ? args[at].split('=')[1] : args[at + 1]);
if (!(port > 0)) process.exit(0);
fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2500) }).then(
  (res) => process.exit(res.ok ? 0 : 1),
  () => process.exit(1),
);
