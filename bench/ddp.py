"""PyTorch DDP (gloo, 2 processes x 1 thread, 127.0.0.1) on a bench workload, for bench/sections/distributed.mjs.

The model, data, step and measurement of ../shared/peers/torch/bench.py (ddp mode), with one
change: the warm-up ends when both ranks agree (a flag all-reduced every 5 steps, as the
measured windows already do). The peer script ends it by each rank's own clock, so the ranks
can run different numbers of warm-up steps; the one ahead then waits in DDP's all-reduce while
the other waits in the barrier, for ever (seen on this kind of machine).

Each rank computes on one thread: torch.set_num_threads(1) does not reach OpenBLAS in Debian's
torch (its BLAS is libblas.so.3 -> OpenBLAS with its own pthreads, all cores by default), so two
ranks would each run OpenBLAS on both cores of a 2-core machine and understate DDP. OpenBLAS and
OpenMP are pinned to 1 thread in the environment before torch loads, and every rank reports the
thread pools threadpoolctl sees (the JSON line's "pools").

python3 bench/ddp.py seed|large [secs]     prints one JSON line (rank 0)
MASTER_ADDR / MASTER_PORT / GLOO_SOCKET_IFNAME come from the environment (the bench sets them)."""
import json, os, sys, time
os.environ['OPENBLAS_NUM_THREADS'] = '1'
os.environ['OMP_NUM_THREADS'] = '1'
import torch, torch.nn as nn
import torch.distributed as dist, torch.multiprocessing as mp

W = {'seed': ([784, 30, 10], 10, 3.0), 'large': ([784, 512, 256, 10], 256, 0.5)}


def model(layers):
    mods = []
    for i in range(1, len(layers)):
        mods += [nn.Linear(layers[i - 1], layers[i]), nn.Sigmoid()]
    return nn.Sequential(*mods)


def thread_pools():
    """[(api, threads)] of this process's native thread pools (OpenBLAS, OpenMP), or why not known."""
    try:
        from threadpoolctl import threadpool_info
        return [(d['internal_api'], d['num_threads']) for d in threadpool_info()]
    except Exception as e:
        return f'threadpoolctl: {e}'


def run(rank, world, workload, secs):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    layers, batch, lr = W[workload]
    os.environ.setdefault('MASTER_ADDR', '127.0.0.1')
    os.environ.setdefault('MASTER_PORT', '29533')
    dist.init_process_group('gloo', rank=rank, world_size=world)
    net = nn.parallel.DistributedDataParallel(model(layers))
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    local = batch // world
    X = torch.rand(4096, layers[0])
    Y = torch.nn.functional.one_hot(torch.randint(0, layers[-1], (4096,)), layers[-1]).float()
    pos = 0

    def step():
        nonlocal pos
        if pos + local > 4096:
            pos = 0
        xb, yb = X[pos:pos + local], Y[pos:pos + local]
        pos += local
        opt.zero_grad(set_to_none=True)
        loss = 0.5 * ((net(xb) - yb) ** 2).sum(1).mean()
        loss.backward()
        opt.step()

    def steps_for(seconds):
        """Steps until both ranks have seen `seconds` pass; returns (steps, elapsed)."""
        n, t0 = 0, time.perf_counter()
        while True:
            step()
            n += 1
            if n % 5 == 0:
                flag = torch.tensor([1.0 if time.perf_counter() - t0 > seconds else 0.0])
                dist.all_reduce(flag)
                if flag.item() > 0:
                    return n, time.perf_counter() - t0

    steps_for(1.5)
    rates = []
    for _ in range(3):
        n, elapsed = steps_for(secs / 3)
        rates.append(n * local * world / elapsed)
    rates.sort()
    # the thread pools of every rank, as threadpoolctl sees them (gathered to rank 0)
    pools = [None] * world
    dist.all_gather_object(pools, thread_pools())
    if rank == 0:
        weights = sum(layers[i] * layers[i - 1] for i in range(1, len(layers)))
        print(json.dumps({'peer': 'torch-ddp-gloo-2', 'version': torch.__version__, 'workload': workload,
                          'samplesPerSec': round(rates[1]), 'gflops': round(rates[1] * 6 * weights / 1e9, 2),
                          'windows': [round(r) for r in rates], 'torchThreads': torch.get_num_threads(), 'pools': pools}), flush=True)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == '__main__':
    workload = sys.argv[1]
    secs = float(sys.argv[2]) if len(sys.argv) > 2 else 6
    mp.spawn(run, args=(2, workload, secs), nprocs=2)
