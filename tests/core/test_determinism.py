"""Every kernel of the core gives the same bits on every call for a given thread count.

Each case runs one kernel 10 times on 2 threads, on inputs large enough to open a parallel
region (conv / GEMM above 1 MFLOP, element-wise kernels above 32768 elements), and asserts
exactly one distinct result. The reductions that used to depend on dynamic scheduling
(conv2d_backward_weight on its GEMM, small-input-channel and depthwise paths,
conv2d_backward_bias, GEMM's split-K path) are covered, and so is everything else, so a
later change that brings run-to-run noise back fails here. Without OpenMP the kernels
run on one thread and are trivially deterministic: the tests skip (and say so).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import pyfrozen
from pyfrozen import _core

REPEATS = 10
F32 = np.float32

pytestmark = pytest.mark.skipif(
    not _core.has_openmp(), reason="core built without OpenMP: kernels run on one thread")


def normal(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(F32)


# ---- convolutions ----------------------------------------------------------------------
# (n, h, w, c, kh, kw, c_out, groups, stride, padding): which path each one takes.
CONVS = {
    "gemm": (4, 20, 20, 24, 3, 3, 32, 1, 1, "same"),  # im2col tiles + GEMM
    "gemm_s2": (4, 21, 21, 16, 3, 3, 24, 1, 2, "same"),
    "small_cin": (4, 48, 48, 3, 3, 3, 16, 1, 2, "same"),  # K = 27 <= 64
    "pointwise": (4, 24, 24, 32, 1, 1, 48, 1, 1, "valid"),  # 1x1: x read in place
    "depthwise": (4, 32, 32, 32, 3, 3, 32, 32, 1, "same"),
    "depthwise_m2": (4, 24, 24, 16, 3, 3, 32, 16, 2, "same"),  # channel multiplier 2
}


def conv_case(pass_: str, path: str, channels: bool = False) -> Callable[[np.random.Generator],
                                                                         Callable[[], object]]:
    n, h, w, c, kh, kw, co, groups, stride, padding = CONVS[path]

    def make(rng: np.random.Generator) -> Callable[[], object]:
        x = normal(rng, n, h, w, c)
        wt = normal(rng, kh, kw, c // groups, co)
        opts = dict(stride=stride, padding=padding, groups=groups)
        y = _core.conv2d_forward(x, wt, **opts)
        dy = normal(rng, *y.shape)
        if pass_ == "forward":
            b = normal(rng, co)
            return lambda: _core.conv2d_forward(x, wt, b, activation="relu", **opts)
        if pass_ == "backward_input":
            return lambda: _core.conv2d_backward_input(dy, wt, input_shape=x.shape, **opts)
        subset = np.arange(1, co, 3, dtype=np.int64) if channels else None
        return lambda: _core.conv2d_backward_weight(x, dy, kernel_size=(kh, kw),
                                                    channels=subset, **opts)

    return make


def conv_bias(rng):
    dy = normal(rng, 8, 64, 64, 32)  # 1M elements: above the 1e6 threshold
    return lambda: _core.conv2d_backward_bias(dy)


# ---- GEMM ------------------------------------------------------------------------------
def gemm_case(m: int, n: int, k: int, trans_a: bool = False, trans_b: bool = False):
    def make(rng):
        a = normal(rng, k, m) if trans_a else normal(rng, m, k)
        b = normal(rng, n, k) if trans_b else normal(rng, k, n)
        return lambda: _core.gemm(a, b, trans_a=trans_a, trans_b=trans_b)

    return make


# ---- BatchNorm -------------------------------------------------------------------------
def bn_case(kind: str):
    def make(rng):
        x = normal(rng, 8, 24, 24, 40)
        dy = normal(rng, *x.shape)
        gamma, beta = normal(rng, 40), normal(rng, 40)
        rm, rv = normal(rng, 40), np.abs(normal(rng, 40)) + 0.5
        _, mean, inv_std = _core.batchnorm_forward_training(x, gamma, beta)
        if kind == "forward_training":
            def run():
                m, v = rm.copy(), rv.copy()
                out = _core.batchnorm_forward_training(x, gamma, beta, running_mean=m,
                                                       running_var=v)
                return (*out, m, v)
            return run
        if kind == "forward_inference":
            return lambda: _core.batchnorm_forward_inference(x, gamma, beta, rm, rv)
        if kind == "backward_training":
            return lambda: _core.batchnorm_backward_training(dy, x, gamma, mean, inv_std)
        return lambda: _core.batchnorm_backward_inference(dy, x, gamma, rm, rv)

    return make


# ---- element-wise, losses, pooling ------------------------------------------------------
def bias_act(rng):
    x, b = normal(rng, 512, 160), normal(rng, 160)
    return lambda: _core.bias_act_forward(x, b, activation="tanh")


def bias_act_backward(rng):
    y = np.tanh(normal(rng, 512, 160))
    dy = normal(rng, 512, 160)
    return lambda: _core.bias_act_backward(dy, y, activation="tanh")


def softmax_case(name: str):
    def make(rng):
        x = normal(rng, 256, 300)
        if not name.endswith("_backward"):
            return lambda: getattr(_core, name)(x)
        y = _core.softmax(x) if name == "softmax_backward" else _core.log_softmax(x)
        dy = normal(rng, 256, 300)
        return lambda: getattr(_core, name)(dy, y)

    return make


def softmax_cross_entropy(rng):
    logits = normal(rng, 512, 100)
    labels = rng.integers(0, 100, 512)
    return lambda: _core.softmax_cross_entropy(logits, labels)


def binary_cross_entropy(rng):
    z, t = normal(rng, 256, 300), rng.uniform(size=(256, 300)).astype(F32)
    return lambda: _core.binary_cross_entropy(z, t, from_logits=True)


def mse(rng):
    p, t = normal(rng, 256, 300), normal(rng, 256, 300)
    return lambda: _core.mse(p, t)


def pool_case(name: str):
    def make(rng):
        x = normal(rng, 8, 32, 32, 40)
        opts = dict(pool_size=3, strides=2, padding="same")
        if name == "max_pool2d_forward":
            return lambda: _core.max_pool2d_forward(x, **opts)
        if name == "avg_pool2d_forward":
            return lambda: _core.avg_pool2d_forward(x, **opts)
        dy = normal(rng, *_core.max_pool2d_forward(x, **opts).shape)
        if name == "max_pool2d_backward":
            return lambda: _core.max_pool2d_backward(dy, x, **opts)
        return lambda: _core.avg_pool2d_backward(dy, x.shape, **opts)

    return make


def global_pool(backward: bool):
    def make(rng):
        x = normal(rng, 16, 24, 24, 64)
        if not backward:
            return lambda: _core.global_avg_pool_forward(x)
        dy = normal(rng, 16, 64)
        return lambda: _core.global_avg_pool_backward(dy, x.shape)

    return make


# ---- optimizers (in place: each call starts from fresh copies) --------------------------
def optimizer_case(kind: str):
    def make(rng):
        shape = (300, 200)
        p0, g = normal(rng, *shape), normal(rng, *shape)
        s0 = [np.abs(normal(rng, *shape)) * 1e-2 for _ in range(3)]
        mask = rng.uniform(size=shape) < 0.3

        def run():
            p, s = p0.copy(), [a.copy() for a in s0]
            if kind == "sgd":
                _core.sgd_update(p, g, s[0], learning_rate=0.1, momentum=0.9, nesterov=True,
                                 weight_decay=0.01, mask=mask)
            elif kind in ("adam", "adamw"):
                fn = _core.adam_update if kind == "adam" else _core.adamw_update
                fn(p, g, s[0], s[1], step=3, learning_rate=0.01, mask=mask)
            else:
                _core.rmsprop_update(p, g, s[0], learning_rate=0.01, momentum=0.5,
                                     momentum_buffer=s[1], centered=True, mean_grad=s[2])
            return (p, *s)

        return run

    return make


# ---- dense and embedding -----------------------------------------------------------------
def dense_case(which: str):
    def make(rng):
        x, dy = normal(rng, 2048, 96), normal(rng, 2048, 80)
        dw = np.zeros((96, 80), F32)
        index = {
            "all": {},
            "columns_runs": {"columns": np.arange(8, 72, dtype=np.int64)},
            "columns_packed": {"columns": np.arange(0, 80, 3, dtype=np.int64)},
            "rows_runs": {"rows": np.arange(0, 40, dtype=np.int64)},
            "rows_packed": {"rows": np.arange(1, 96, 4, dtype=np.int64)},
        }[which]

        def run():
            out = dw.copy()
            _core.dense_backward_weight(x, dy, out, **index)
            return out

        return run

    return make


def gather(rng):
    table = normal(rng, 500, 128)
    idx = rng.integers(0, 500, 1000)
    return lambda: _core.gather_rows(table, idx)


def scatter(width: int):
    def make(rng):
        grad = normal(rng, 4000, width)
        idx = rng.integers(0, 300, 4000)
        frozen = rng.uniform(size=300) < 0.2
        return lambda: _core.scatter_add_rows(grad, idx, np.zeros((300, width), F32),
                                              frozen_rows=frozen)

    return make


CASES: dict[str, Callable] = {
    **{f"conv2d_forward[{p}]": conv_case("forward", p) for p in CONVS},
    **{f"conv2d_backward_input[{p}]": conv_case("backward_input", p)
       for p in CONVS if p != "small_cin"},
    **{f"conv2d_backward_weight[{p}]": conv_case("backward_weight", p) for p in CONVS},
    **{f"conv2d_backward_weight[{p},subset]": conv_case("backward_weight", p, channels=True)
       for p in ("gemm", "depthwise", "pointwise")},
    "conv2d_backward_bias": conv_bias,
    "gemm[packed]": gemm_case(300, 200, 150),
    "gemm[small_m]": gemm_case(40, 1000, 300),
    "gemm[small_m,trans_b]": gemm_case(40, 500, 300, trans_b=True),
    "gemm[split_k]": gemm_case(64, 64, 4096, trans_a=True),
    **{f"batchnorm_{k}": bn_case(k) for k in ("forward_training", "forward_inference",
                                              "backward_training", "backward_inference")},
    "bias_act_forward": bias_act,
    "bias_act_backward": bias_act_backward,
    **{n: softmax_case(n) for n in ("softmax", "log_softmax", "softmax_backward",
                                    "log_softmax_backward")},
    "softmax_cross_entropy": softmax_cross_entropy,
    "binary_cross_entropy": binary_cross_entropy,
    "mse": mse,
    **{n: pool_case(n) for n in ("max_pool2d_forward", "max_pool2d_backward",
                                 "avg_pool2d_forward", "avg_pool2d_backward")},
    "global_avg_pool_forward": global_pool(False),
    "global_avg_pool_backward": global_pool(True),
    **{f"{k}_update": optimizer_case(k) for k in ("sgd", "adam", "adamw", "rmsprop")},
    **{f"dense_backward_weight[{w}]": dense_case(w)
       for w in ("all", "columns_runs", "columns_packed", "rows_runs", "rows_packed")},
    "gather_rows": gather,
    "scatter_add_rows[narrow]": scatter(16),
    "scatter_add_rows[wide]": scatter(512),
}


def fingerprint(result: object) -> bytes:
    """The exact bits of a kernel's result (arrays, floats, tuples of them; None kept)."""
    parts = result if isinstance(result, tuple | list) else (result,)
    out = []
    for part in parts:
        if part is None:
            out.append(b"None")
        else:
            a = np.ascontiguousarray(np.asarray(part))
            out.append(str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
    return b"|".join(out)


@pytest.fixture
def two_threads():
    before = pyfrozen.get_num_threads()
    pyfrozen.set_num_threads(2)
    yield
    pyfrozen.set_num_threads(before)


@pytest.mark.parametrize("case", list(CASES))
def test_kernel_is_bit_identical_run_to_run(case, isa, two_threads):
    run = CASES[case](np.random.default_rng(7))
    results = {fingerprint(run()) for _ in range(REPEATS)}
    assert len(results) == 1, f"{case}: {len(results)} distinct results in {REPEATS} calls"
