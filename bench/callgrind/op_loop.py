"""N recorded ops (bench_autograd's "recorded op" case), for instruction counts.

``valgrind --tool=callgrind python op_loop.py N`` minus the same with N = 0 (imports and
setup), divided by N: the tape's cost per op, unaffected by load from other processes.
"""

import sys

import pyfrozen

n = int(sys.argv[1])
a = pyfrozen.tensor([1.0], requires_grad=True)
c = pyfrozen.tensor([1.0001])
y = a
for _ in range(n):
    y = y * c
