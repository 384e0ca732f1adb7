"""PyTorch as installed, threads untouched: torch's OpenMP pool and OpenBLAS each on every core
(Debian's torch sets neither; together they oversubscribe the cores, see the peers' pitfalls).
Runs ../shared/peers/torch/torch_bench.py after torch is loaded, so the thread settings that
script writes to the environment come too late to take effect; its JSON line's "pools" shows
the thread pools threadpoolctl sees, which is what ran.

/usr/bin/python3 bench/torch-unpinned.py single seed|large [secs_per_window] [windows]"""
import os, runpy, sys
import torch  # first: its libraries read their thread settings when they load

script = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'peers', 'torch', 'torch_bench.py')
sys.argv = [script] + sys.argv[1:]
runpy.run_path(script, run_name='__main__')
