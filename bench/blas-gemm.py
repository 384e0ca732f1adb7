# Probe: OpenBLAS's sgemm through numpy, C = A @ B.T in float32, single thread, the shape of
# bench/ours-gemm.mjs. Prints one JSON line; {"skipped": why} where numpy does not use OpenBLAS
# (Debian's numpy falls back to the reference BLAS until libopenblas0-pthread is installed).
# Usage: OPENBLAS_NUM_THREADS=1 python3 bench/blas-gemm.py m k n warmMs windowMs
import json, sys, time

m, k, n = (int(v) for v in sys.argv[1:4])
warm_ms, window_ms = (float(v) for v in sys.argv[4:6]) if len(sys.argv) >= 6 else (1500.0, 2000.0)
try:
    import numpy as np
except ImportError as e:
    print(json.dumps({"skipped": f"numpy is not importable ({e})"}))
    sys.exit(0)
rng = np.random.default_rng(4)
A = rng.random((m, k), dtype=np.float32)
B = rng.random((n, k), dtype=np.float32)
C = np.empty((m, n), dtype=np.float32)
np.matmul(A, B.T, out=C)
with open("/proc/self/maps") as f:
    libs = {line.split()[-1].rsplit("/", 1)[-1] for line in f if ".so" in line}
blas = sorted(l for l in libs if "blas" in l.lower())
if not any("openblas" in l for l in blas):
    print(json.dumps({"skipped": f"numpy's BLAS here is not OpenBLAS ({', '.join(blas) or 'none found'}); install libopenblas0-pthread"}))
    sys.exit(0)

def rate(seconds):
    calls, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        np.matmul(A, B.T, out=C)
        calls += 1
    return calls / (time.perf_counter() - t0)

rate(warm_ms / 1000)
windows = sorted(rate(window_ms / 1000) for _ in range(3))
flops = 2 * m * n * k
print(json.dumps({"kernel": "openblas.sgemm (numpy)", "blas": blas, "numpy": np.__version__, "gflops": round(windows[1] * flops / 1e9, 2),
                  "windowsGflops": [round(w * flops / 1e9, 2) for w in windows]}))
