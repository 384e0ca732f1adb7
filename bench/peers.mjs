// The PyTorch peer (../shared/peers/torch/bench.py), run where python3 can import torch.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const TORCH_SCRIPT = fileURLToPath(new URL('../../shared/peers/torch/bench.py', import.meta.url));
/**
 * The python that runs the peers: $PYTHON when set, else the first of `python3` and Debian's
 * `/usr/bin/python3` that can import torch (a pyenv or venv python3 first in PATH cannot see
 * Debian's python3-torch, and the PyTorch rows were silently skipped), else `python3`.
 */
export const PYTHON = process.env.PYTHON ?? (['python3', '/usr/bin/python3'].find((py) => spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) ?? 'python3');

/** null when the peers' PyTorch script can run here, else why not. */
export function torchUnavailable() {
  if (!existsSync(TORCH_SCRIPT)) return `${TORCH_SCRIPT} is missing`;
  const r = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} did not start (${r.error.code ?? r.error.message})`;
  if (r.status !== 0) return `${PYTHON} cannot import torch (${r.stderr.trim().split('\n').pop()}); set PYTHON to a python3 that can`;
  return null;
}

/**
 * The environment of a DDP run: gloo on the loopback interface (it otherwise picks the
 * interface of the host name, which may be another address or hang) and a master port
 * of our choosing.
 */
export function ddpEnv(port) {
  return { ...process.env, GLOO_SOCKET_IFNAME: 'lo', MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) };
}
