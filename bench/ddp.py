"""PyTorch DDP (gloo, 2 processes x 1 thread, 127.0.0.1) on a bench workload, for bench/sections/distributed.mjs.

The model, data, step and measurement of ../shared/peers/torch/bench.py (ddp mode), with one
change: the warm-up ends when both ranks agree (a flag all-reduced every 5 steps, as the
measured windows already do). The peer script ends it by each rank's own clock, so the ranks
can run different numbers of warm-up steps; the one ahead then waits in DDP's all-reduce while
the other waits in the barrier, for ever (seen on this kind of machine).

python3 bench/ddp.py seed|large [secs]     prints one JSON line (rank 0)
MASTER_ADDR / MASTER_PORT / GLOO_SOCKET_IFNAME come from the environment (the bench sets them)."""
import json, os, sys, time
import torch, torch.nn as nn
import torch.distributed as dist, torch.multiprocessing as mp

W = {'seed': ([784, 30, 10], 10, 3.0), 'large': ([784, 512, 256, 10], 256, 0.5)}


def model(layers):
    mods = []
    for i in range(1, len(layers)):
        mods += [nn.Linear(layers[i - 1], layers[i]), nn.Sigmoid()]
    return nn.Sequential(*mods)


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
    if rank == 0:
        weights = sum(layers[i] * layers[i - 1] for i in range(1, len(layers)))
        print(json.dumps({'peer': 'torch-ddp-gloo-2', 'version': torch.__version__, 'workload': workload,
                          'samplesPerSec': round(rates[1]), 'gflops': round(rates[1] * 6 * weights / 1e9, 2),
                          'windows': [round(r) for r in rates]}), flush=True)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == '__main__':
    workload = sys.argv[1]
    secs = float(sys.argv[2]) if len(sys.argv) > 2 else 6
    mp.spawn(run, args=(2, workload, secs), nprocs=2)
