"""N calls of conv2d_backward_weight on bench_conv_bn's changed layers, 1 thread.

``valgrind --tool=callgrind python conv_weight_loop.py LAYER N`` minus the same with
N = 0, divided by N: the kernel's instructions per call, unaffected by load (the
deterministic reduction slots of issue 10 add work that wall-clock A/Bs on a shared host
cannot resolve).
"""

import sys

import numpy as np

import pyfrozen
from pyfrozen import _core

# name: (input H=W, channels in, out, kernel, stride, groups, padding)
LAYERS = {
    "stem": (96, 3, 32, 3, 2, 1, (0, 1, 0, 1)),
    "dw32": (48, 32, 32, 3, 1, 32, (1, 1, 1, 1)),
    "dw256": (12, 256, 256, 3, 1, 256, (1, 1, 1, 1)),
}

pyfrozen.set_num_threads(1)
size, cin, cout, k, stride, groups, pad = LAYERS[sys.argv[1]]
n = int(sys.argv[2])
rng = np.random.default_rng(0)
x = rng.standard_normal((32, size, size, cin), dtype=np.float32)
w = rng.standard_normal((k, k, cin // groups, cout), dtype=np.float32)
opts = dict(stride=stride, padding=pad, groups=groups)
dy = rng.standard_normal(_core.conv2d_forward(x, w, **opts).shape, dtype=np.float32)
dw = np.empty_like(w)
for _ in range(n):
    _core.conv2d_backward_weight(x, dy, dw, kernel_size=k, **opts)
