"""A short real job: fit a dense layer y = x @ W + b by gradient descent.

Every matrix product of the forward and the backward pass (Y = XW, dW = X^T dY,
dX = dY W^T) runs in pyfrozen's C++ GEMM; the result is checked against the
known weights and against numpy.
"""

from __future__ import annotations

import time

import numpy as np

from pyfrozen import _core


def run_demo(steps: int = 200, batch: int = 256, n_in: int = 64, n_out: int = 32) -> float:
    """Trains the layer, prints the loss as it falls, and returns the final loss."""
    rng = np.random.default_rng(0)
    w_true = rng.standard_normal((n_in, n_out)).astype(np.float32)
    x = rng.standard_normal((batch, n_in)).astype(np.float32)
    y = _core.gemm(x, w_true) + 0.5

    w = np.zeros((n_in, n_out), np.float32)
    b = np.zeros(n_out, np.float32)
    pred = np.empty_like(y)
    dw = np.empty_like(w)
    lr = 0.1
    start = time.perf_counter()
    for step in range(steps + 1):
        _core.gemm(x, w, out=pred)  # forward: X @ W
        pred += b
        err = pred - y
        loss = float(np.mean(np.sum(err * err, axis=1)))
        if step % 50 == 0:
            print(f"step {step:4d}  loss {loss:.3e}")
        dy = (2.0 / batch) * err  # d loss / d pred
        _core.gemm(x, dy, out=dw, trans_a=True)  # dW = X^T dY, X.T never copied
        w -= lr * dw
        b -= lr * dy.sum(axis=0)
    elapsed = time.perf_counter() - start
    dx = _core.gemm(dy, w, trans_b=True)  # dX = dY W^T, as a lower layer would need
    assert np.allclose(dx, dy @ w.T, rtol=1e-4, atol=1e-6), "gemm disagrees with numpy"
    print(f"max |W - W_true| = {np.abs(w - w_true).max():.2e}, "
          f"bias = {b.mean():.4f} (true 0.5); {steps} steps in {elapsed * 1e3:.0f} ms "
          f"on {_core.get_isa()} with {_core.get_num_threads()} thread(s)")
    return loss
