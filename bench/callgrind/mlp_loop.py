"""N of bench_autograd's MLP train steps (batch 1, 64-64-10), for instruction counts.

``valgrind --tool=callgrind python mlp_loop.py N`` minus the same with N = 0, divided by N.
"""

import sys

import numpy as np

import pyfrozen
from pyfrozen import _core, ops

n = int(sys.argv[1])
rng = np.random.default_rng(0)
shapes = [(64, 64), (64,), (64, 10), (10,)]
params = [pyfrozen.Parameter(rng.standard_normal(s).astype(np.float32) * 0.1) for s in shapes]
x = pyfrozen.tensor(rng.standard_normal((1, 64)).astype(np.float32))
label = np.array([3], dtype=np.int64)
for _ in range(n):
    w1, b1, w2, b2 = params
    h = ops.dense(x, w1, b1, activation="relu")
    loss = ops.softmax_cross_entropy(ops.dense(h, w2, b2), label)
    loss.backward()
    with pyfrozen.no_grad():
        for p in params:
            _core.sgd_update(p.data, p.grad.data, learning_rate=0.01)
            p._bump_version()
            p.grad = None
