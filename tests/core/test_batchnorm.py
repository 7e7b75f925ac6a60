"""BatchNorm kernels through the binding: naive float64 numpy references for every kernel
and every combination of optional arguments and outputs, torch.nn.functional in float64
as an oracle, float64 finite differences for the training backward, both ISA paths,
1 and 2 threads, odd sizes, and the kernel counters (no work for unrequested outputs)."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pyfrozen
from pyfrozen import _core

EPS = 1e-3  # Keras defaults
MOMENTUM = 0.99

# (..., C) shapes: rows = product of the leading axes. Odd channel counts (1, 3, 13),
# a single row, 1x1 images, more than one 256-channel block (300), and two big enough
# (> 32768 elements) for 2 threads to run.
SHAPES = [(1, 3), (1, 1), (7, 3), (2, 5, 5, 13), (3, 1, 1, 13), (5, 2, 3, 1), (16, 20, 20, 13),
          (130, 300)]
GRAD_FLAGS = list(itertools.product([False, True], repeat=3))  # need_dx, need_dgamma, need_dbeta


def flag_id(need):
    names = [n for n, wanted in zip(["dx", "dg", "db"], need, strict=True) if wanted]
    return "".join(names) or "none"


# ---- references (float64, naive) -----------------------------------------------------


def as_rows(a):
    return np.asarray(a, np.float64).reshape(-1, a.shape[-1])


def ones_if_none(v, c):
    return np.ones(c) if v is None else np.asarray(v, np.float64)


def zeros_if_none(v, c):
    return np.zeros(c) if v is None else np.asarray(v, np.float64)


def ref_forward_training(x, gamma, beta, eps=EPS):
    x2 = as_rows(x)
    c = x2.shape[1]
    mean = x2.mean(axis=0)
    var = ((x2 - mean) ** 2).mean(axis=0)  # biased (Keras moving_variance uses it too)
    inv_std = 1.0 / np.sqrt(var + eps)
    y = (x2 - mean) * inv_std * ones_if_none(gamma, c) + zeros_if_none(beta, c)
    return y.reshape(x.shape), mean, inv_std, var


def ref_forward_inference(x, gamma, beta, rm, rv, eps=EPS):
    x2 = as_rows(x)
    c = x2.shape[1]
    y = (x2 - rm) / np.sqrt(np.asarray(rv, np.float64) + eps)
    return (y * ones_if_none(gamma, c) + zeros_if_none(beta, c)).reshape(x.shape)


def ref_backward_training(dy, x, gamma, mean, inv_std):
    d2, x2 = as_rows(dy), as_rows(x)
    n, c = d2.shape
    mean, inv_std = np.asarray(mean, np.float64), np.asarray(inv_std, np.float64)
    xhat = (x2 - mean) * inv_std
    dbeta = d2.sum(axis=0)
    dgamma = (d2 * xhat).sum(axis=0)
    dx = ones_if_none(gamma, c) * inv_std * (d2 - dbeta / n - xhat * dgamma / n)
    return dx.reshape(dy.shape), dgamma, dbeta


def ref_backward_inference(dy, x, gamma, rm, rv, eps=EPS):
    d2 = as_rows(dy)
    c = d2.shape[1]
    inv_std = 1.0 / np.sqrt(np.asarray(rv, np.float64) + eps)
    dx = d2 * ones_if_none(gamma, c) * inv_std
    dgamma = (d2 * (as_rows(x) - rm) * inv_std).sum(axis=0) if x is not None else None
    return dx.reshape(dy.shape), dgamma, d2.sum(axis=0)


def assert_close(got, want, dtype, n=1):
    """Rounding of T arithmetic; sums over n rows grow like sqrt(n)."""
    assert got.dtype == dtype
    tol = (2e-5 if dtype == np.float32 else 1e-12) * np.sqrt(max(n, 1))
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * scale)


# ---- inputs ----------------------------------------------------------------------------


def make_inputs(rng, shape, dtype, affine=True):
    c = shape[-1]
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    gamma = rng.uniform(0.5, 2.0, c).astype(dtype) if affine else None
    beta = rng.standard_normal(c).astype(dtype) if affine else None
    rm = rng.standard_normal(c).astype(dtype)
    rv = rng.uniform(0.5, 2.0, c).astype(dtype)
    return x, gamma, beta, rm, rv


def rows_of(shape):
    return int(np.prod(shape[:-1]))


# ---- forward -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "no_gamma_beta"])
def test_forward_training_matches_reference(rng, isa, threads, dtype, affine):
    for shape in SHAPES:
        x, gamma, beta, rm, rv = make_inputs(rng, shape, dtype, affine)
        rm0, rv0 = rm.copy(), rv.copy()
        y, mean, inv_std = _core.batchnorm_forward_training(
            x, gamma, beta, running_mean=rm, running_var=rv)
        want_y, want_mean, want_inv_std, var = ref_forward_training(x, gamma, beta)
        assert y.shape == x.shape and mean.shape == inv_std.shape == (shape[-1],)
        assert_close(y, want_y, dtype)
        assert_close(mean, want_mean, dtype)
        assert_close(inv_std, want_inv_std, dtype)
        # Keras rule, biased batch variance, updated in place.
        assert_close(rm, MOMENTUM * rm0.astype(np.float64) + (1 - MOMENTUM) * want_mean, dtype)
        assert_close(rv, MOMENTUM * rv0.astype(np.float64) + (1 - MOMENTUM) * var, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_training_options(rng, dtype):
    x, gamma, beta, rm, rv = make_inputs(rng, (4, 3, 3, 5), dtype)
    out = np.full(x.shape, np.nan, dtype)  # only written
    rm0, rv0 = rm.copy(), rv.copy()
    y, mean, _ = _core.batchnorm_forward_training(
        x, gamma, beta, epsilon=0.25, momentum=0.5, running_mean=rm, running_var=rv, out=out)
    assert y is out
    want_y, want_mean, _, var = ref_forward_training(x, gamma, beta, eps=0.25)
    assert_close(out, want_y, dtype)
    assert_close(rm, 0.5 * rm0 + 0.5 * want_mean, dtype)
    assert_close(rv, 0.5 * rv0 + 0.5 * var, dtype)
    # Without running statistics nothing else changes; momentum 1 keeps them as they are.
    rm1, rv1 = rm.copy(), rv.copy()
    _core.batchnorm_forward_training(x, gamma, beta, momentum=1.0, running_mean=rm, running_var=rv)
    np.testing.assert_array_equal(rm, rm1)
    np.testing.assert_array_equal(rv, rv1)


@pytest.mark.parametrize("affine", [True, False], ids=["affine", "no_gamma_beta"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_inference_matches_reference(rng, isa, threads, dtype, affine):
    for shape in SHAPES:
        x, gamma, beta, rm, rv = make_inputs(rng, shape, dtype, affine)
        y = _core.batchnorm_forward_inference(x, gamma, beta, rm, rv)
        assert_close(y, ref_forward_inference(x, gamma, beta, rm, rv), dtype)
    out = np.full(x.shape, np.nan, dtype)
    assert _core.batchnorm_forward_inference(x, gamma, beta, rm, rv, epsilon=0.5, out=out) is out
    assert_close(out, ref_forward_inference(x, gamma, beta, rm, rv, eps=0.5), dtype)


def test_statistics_are_stable_for_a_large_mean(rng, isa, threads):
    """mean 1e4, std 1 in float32: E[x^2] - E[x]^2 would lose every digit of the variance
    (float32 keeps ~7 digits of 1e8); two passes keep it to float32 rounding."""
    x = (rng.standard_normal((64, 24, 24, 13)) + 1e4).astype(np.float32)
    y, mean, inv_std = _core.batchnorm_forward_training(x, None, None)
    want_y, want_mean, want_inv_std, _ = ref_forward_training(x, None, None)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-7)  # rounding of the mean to float32
    np.testing.assert_allclose(inv_std, want_inv_std, rtol=1e-5)
    np.testing.assert_allclose(y, want_y, rtol=0, atol=1e-5)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    dx, dgamma, dbeta = _core.batchnorm_backward_training(dy, x, None, mean, inv_std)
    want = ref_backward_training(dy, x, None, mean, inv_std)
    np.testing.assert_allclose(dx, want[0], rtol=0, atol=1e-5)
    np.testing.assert_allclose(dgamma, want[1], rtol=0, atol=2e-3)  # sums of ~7000 terms
    np.testing.assert_allclose(dbeta, want[2], rtol=0, atol=2e-3)


def test_results_do_not_depend_on_the_thread_count(rng, isa):
    """The work grid is fixed by the sizes and partials merge in order: bit-identical."""
    x, gamma, beta, rm, rv = make_inputs(rng, (8, 30, 30, 21), np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    results = []
    before = pyfrozen.get_num_threads()
    try:
        for n in (1, 2):
            pyfrozen.set_num_threads(n)
            fwd = _core.batchnorm_forward_training(x, gamma, beta)
            bwd = _core.batchnorm_backward_training(dy, x, gamma, fwd[1], fwd[2])
            inf = _core.batchnorm_backward_inference(dy, x, gamma, rm, rv)
            results.append([*fwd, *bwd, *inf])
    finally:
        pyfrozen.set_num_threads(before)
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


def _all_kernels(x, dy, gamma, beta, rm, rv, activation):
    """Every kernel's outputs for one input, the training ones through ``activation``."""
    fwd = _core.batchnorm_forward_training(x, gamma, beta, activation=activation)
    y = None if activation == "none" else fwd[0]
    bwd = _core.batchnorm_backward_training(dy, x, gamma, fwd[1], fwd[2], y=y,
                                            activation=activation)
    part = _core.batchnorm_backward_training(dy, x, gamma, fwd[1], fwd[2], need_dx=False,
                                             y=y, activation=activation)
    inf = _core.batchnorm_forward_inference(x, gamma, beta, rm, rv)
    binf = _core.batchnorm_backward_inference(dy, x, gamma, rm, rv)
    only_dx = _core.batchnorm_backward_inference(dy, None, gamma, rm, rv, need_dgamma=False)
    return [*fwd, *bwd, *part, inf, *binf, *only_dx, *_through_affine(x, dy, gamma, beta,
                                                                       activation)]


def _through_affine(x, dy, gamma, beta, activation):
    """The forward's affine constants, and the backward taking act'(.) from them and x."""
    if activation == "none":
        return []
    affine = np.full((3, x.shape[-1]), np.nan, x.dtype)
    fwd = _core.batchnorm_forward_training(x, gamma, beta, activation=activation,
                                           affine_out=affine)
    bwd = _core.batchnorm_backward_training(dy, x, gamma, fwd[1], fwd[2],
                                            activation=activation, affine=affine)
    part = _core.batchnorm_backward_training(dy, x, gamma, fwd[1], fwd[2], need_dx=False,
                                             activation=activation, affine=affine)
    return [affine, *bwd, *part]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["relu", "relu6", "sigmoid", "tanh"])
@pytest.mark.parametrize("shape", [(70, 3), (3, 10, 64), (2, 9, 9, 45)], ids=str)
def test_the_backward_from_the_affine_constants_gives_the_bits_from_y(rng, dtype, activation,
                                                                      shape):
    """act'(.) from x and the forward's center / scale / shift is act'(y) exactly: the
    forward's output recomputed by its own operations (every path, vector tails too)."""
    x, gamma, beta, _, _ = make_inputs(rng, shape, dtype)
    x = (x * 3 + 1).astype(dtype)  # outputs on both sides of relu6's 0 and 6
    dy = rng.standard_normal(shape).astype(dtype)
    before = pyfrozen.get_isa()
    try:
        for isa in pyfrozen.supported_isas():
            pyfrozen.set_isa(isa)
            y, mean, inv_std = _core.batchnorm_forward_training(x, gamma, beta,
                                                                activation=activation)
            from_y = [*_core.batchnorm_backward_training(dy, x, gamma, mean, inv_std, y=y,
                                                         activation=activation),
                      *_core.batchnorm_backward_training(dy, x, gamma, mean, inv_std, y=y,
                                                         need_dx=False, activation=activation)]
            affine, *from_x = _through_affine(x, dy, gamma, beta, activation)
            assert np.isfinite(affine).all()
            for a, b in zip(from_x, from_y, strict=True):
                assert a is None and b is None or a.tobytes() == b.tobytes(), isa
    finally:
        pyfrozen.set_isa(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["none", "relu", "relu6", "sigmoid", "tanh"])
@pytest.mark.parametrize("shape", [(70, 3), (40, 8), (3, 10, 64), (3, 30, 45), (2, 9, 9, 300)],
                         ids=str)
def test_every_isa_path_gives_the_generic_bits(rng, dtype, activation, shape):
    """The AVX2 and AVX-512 loops keep accumulators in registers but add in the same order
    and never contract into an FMA: same bits as the portable loops, tails (AVX-512's go
    to the AVX2 loops, then the portable ones) and blocks included."""
    x, gamma, beta, rm, rv = make_inputs(rng, shape, dtype)
    x = (x * 3 + 1).astype(dtype)  # outputs on both sides of relu6's 0 and 6
    dy = rng.standard_normal(shape).astype(dtype)
    before = pyfrozen.get_isa()
    results = {}
    try:
        for isa in pyfrozen.supported_isas():
            pyfrozen.set_isa(isa)
            results[isa] = _all_kernels(x, dy, gamma, beta, rm, rv, activation)
    finally:
        pyfrozen.set_isa(before)
    for isa, got in results.items():
        for a, b in zip(got, results["generic"], strict=True):
            assert a is None and b is None or a.tobytes() == b.tobytes(), isa


# ---- backward ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("need", GRAD_FLAGS, ids=flag_id)
def test_backward_training_matches_reference(rng, isa, threads, dtype, need):
    need_dx, need_dgamma, need_dbeta = need
    for shape in SHAPES:
        for affine in (True, False):
            x, gamma, beta, _, _ = make_inputs(rng, shape, dtype, affine)
            _, mean, inv_std = _core.batchnorm_forward_training(x, gamma, beta)
            dy = rng.standard_normal(shape).astype(dtype)
            # x, mean and inv_std are only needed for dx and dgamma.
            stats = need_dx or need_dgamma
            args = (x, mean, inv_std) if stats or affine else (None, None, None)
            got = _core.batchnorm_backward_training(
                dy, args[0], gamma, args[1], args[2],
                need_dx=need_dx, need_dgamma=need_dgamma, need_dbeta=need_dbeta)
            want = ref_backward_training(dy, x, gamma, mean, inv_std)
            for g, w, wanted, n in zip(got, want, need, (1, rows_of(shape), rows_of(shape)),
                                          strict=True):
                if not wanted:
                    assert g is None
                else:
                    assert g.shape == w.shape
                    assert_close(g, w, dtype, n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("need", GRAD_FLAGS, ids=flag_id)
def test_backward_inference_matches_reference(rng, isa, threads, dtype, need):
    need_dx, need_dgamma, need_dbeta = need
    for shape in SHAPES:
        for affine in (True, False):
            x, gamma, _, rm, rv = make_inputs(rng, shape, dtype, affine)
            dy = rng.standard_normal(shape).astype(dtype)
            got = _core.batchnorm_backward_inference(
                dy, x if need_dgamma or affine else None, gamma, rm, rv, epsilon=0.01,
                need_dx=need_dx, need_dgamma=need_dgamma, need_dbeta=need_dbeta)
            want = ref_backward_inference(dy, x, gamma, rm, rv, eps=0.01)
            for g, w, wanted, n in zip(got, want, need, (1, rows_of(shape), rows_of(shape)),
                                          strict=True):
                if not wanted:
                    assert g is None
                else:
                    assert_close(g, w, dtype, n)


def numeric_grad(f, a, h=1e-6):
    """Central differences of the scalar f() with respect to every element of a (in place)."""
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + h
        up = f()
        a[i] = old - h
        down = f()
        a[i] = old
        g[i] = (up - down) / (2 * h)
    return g


@pytest.mark.parametrize("mode", ["training", "inference"])
def test_backward_matches_finite_differences(rng, mode):
    x, gamma, beta, rm, rv = make_inputs(rng, (3, 2, 1, 3), np.float64)
    w = rng.standard_normal(x.shape)  # loss = sum(w * y), so dy = w

    def loss():
        if mode == "training":
            y = _core.batchnorm_forward_training(x, gamma, beta)[0]
        else:
            y = _core.batchnorm_forward_inference(x, gamma, beta, rm, rv)
        return float((w * y).sum())

    if mode == "training":
        _, mean, inv_std = _core.batchnorm_forward_training(x, gamma, beta)
        dx, dgamma, dbeta = _core.batchnorm_backward_training(w, x, gamma, mean, inv_std)
    else:
        dx, dgamma, dbeta = _core.batchnorm_backward_inference(w, x, gamma, rm, rv)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dgamma, numeric_grad(loss, gamma), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(dbeta, numeric_grad(loss, beta), rtol=1e-6, atol=1e-8)


# ---- torch oracle (float64) ------------------------------------------------------------


def to_nchw(torch, a):
    return torch.from_numpy(np.moveaxis(a, -1, 1).copy())


@pytest.mark.parametrize("shape", [(4, 5, 6, 13), (1, 3, 3, 3), (9, 1, 1, 1)])
def test_training_matches_torch(rng, torch, shape):
    F = torch.nn.functional
    x, gamma, beta, rm, rv = make_inputs(rng, shape, np.float64)
    dy = rng.standard_normal(shape)
    rm_t, rv_t = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
    xt = to_nchw(torch, x).requires_grad_(True)
    gt = torch.from_numpy(gamma.copy()).requires_grad_(True)
    bt = torch.from_numpy(beta.copy()).requires_grad_(True)
    # torch's momentum is the weight of the NEW statistic (1 - Keras momentum).
    yt = F.batch_norm(xt, rm_t, rv_t, gt, bt, training=True, momentum=1 - MOMENTUM, eps=EPS)
    yt.backward(to_nchw(torch, dy))

    rm_ours, rv_ours = rm.copy(), rv.copy()
    y, mean, inv_std = _core.batchnorm_forward_training(
        x, gamma, beta, running_mean=rm_ours, running_var=rv_ours)
    np.testing.assert_allclose(y, np.moveaxis(yt.detach().numpy(), 1, -1), atol=1e-12)
    np.testing.assert_allclose(rm_ours, rm_t.numpy(), atol=1e-14)
    # torch updates running_var with the UNBIASED batch variance (n - 1); Keras and we use
    # the biased one. Recover torch's batch variance from its update and convert it.
    n = rows_of(shape)
    var_unbiased = (rv_t.numpy() - MOMENTUM * rv) / (1 - MOMENTUM)
    var_biased = var_unbiased * (n - 1) / n
    np.testing.assert_allclose(rv_ours, MOMENTUM * rv + (1 - MOMENTUM) * var_biased, atol=1e-12)

    dx, dgamma, dbeta = _core.batchnorm_backward_training(dy, x, gamma, mean, inv_std)
    np.testing.assert_allclose(dx, np.moveaxis(xt.grad.numpy(), 1, -1), atol=1e-11)
    np.testing.assert_allclose(dgamma, gt.grad.numpy(), atol=1e-11)
    np.testing.assert_allclose(dbeta, bt.grad.numpy(), atol=1e-11)


@pytest.mark.parametrize("shape", [(4, 5, 6, 13), (1, 1, 1, 3)])
def test_inference_matches_torch(rng, torch, shape):
    """Eval-mode batch_norm: the forward from running statistics and its backward, which is
    what a frozen BatchNormalization layer runs (no batch reduction in dx)."""
    F = torch.nn.functional
    x, gamma, beta, rm, rv = make_inputs(rng, shape, np.float64)
    dy = rng.standard_normal(shape)
    xt = to_nchw(torch, x).requires_grad_(True)
    gt = torch.from_numpy(gamma.copy()).requires_grad_(True)
    bt = torch.from_numpy(beta.copy()).requires_grad_(True)
    yt = F.batch_norm(xt, torch.from_numpy(rm), torch.from_numpy(rv), gt, bt, training=False,
                      eps=EPS)
    yt.backward(to_nchw(torch, dy))
    y = _core.batchnorm_forward_inference(x, gamma, beta, rm, rv)
    np.testing.assert_allclose(y, np.moveaxis(yt.detach().numpy(), 1, -1), atol=1e-12)
    dx, dgamma, dbeta = _core.batchnorm_backward_inference(dy, x, gamma, rm, rv)
    np.testing.assert_allclose(dx, np.moveaxis(xt.grad.numpy(), 1, -1), atol=1e-12)
    np.testing.assert_allclose(dgamma, gt.grad.numpy(), atol=1e-11)
    np.testing.assert_allclose(dbeta, bt.grad.numpy(), atol=1e-11)


# ---- counters, empty sizes ---------------------------------------------------------------


def batchnorm_counts():
    return {(p, calls, work) for k, p, calls, work in _core.kernel_counts() if k == "batchnorm"}


@pytest.mark.parametrize("need", GRAD_FLAGS, ids=flag_id)
@pytest.mark.parametrize("mode", ["training", "inference"])
def test_counters_show_only_requested_gradients(rng, need, mode):
    x, gamma, beta, rm, rv = make_inputs(rng, (2, 3, 4, 5), np.float32)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    _, mean, inv_std = _core.batchnorm_forward_training(x, gamma, beta)
    flags = dict(zip(["need_dx", "need_dgamma", "need_dbeta"], need, strict=True))
    _core.reset_kernel_counts()
    if mode == "training":
        _core.batchnorm_backward_training(dy, x, gamma, mean, inv_std, **flags)
    else:
        _core.batchnorm_backward_inference(dy, x, gamma, rm, rv, **flags)
    passes = ["backward_input", "backward_weight", "backward_bias"]
    want = {(p, 1, 120) for p, wanted in zip(passes, need, strict=True) if wanted}
    assert batchnorm_counts() == want


def test_counters_forward(rng):
    x, gamma, beta, rm, rv = make_inputs(rng, (2, 3, 4, 5), np.float64)
    _core.reset_kernel_counts()
    _core.batchnorm_forward_training(x, gamma, beta)
    _core.batchnorm_forward_inference(x, gamma, beta, rm, rv)
    assert batchnorm_counts() == {("forward", 2, 240)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_empty_sizes(dtype):
    x0c = np.zeros((4, 0), dtype)  # no channels: nothing to do
    y, mean, inv_std = _core.batchnorm_forward_training(x0c, None, None)
    assert y.shape == (4, 0) and mean.shape == inv_std.shape == (0,)
    e = np.zeros((0, 3), dtype)  # no rows: fine in inference, sums of nothing are 0
    assert _core.batchnorm_forward_inference(e, None, None, np.zeros(3, dtype),
                                             np.ones(3, dtype)).shape == (0, 3)
    c = np.ones(3, dtype)
    dx, dgamma, dbeta = _core.batchnorm_backward_training(e, e, c, c, c)
    assert dx.shape == (0, 3)
    np.testing.assert_array_equal(dgamma, 0)
    np.testing.assert_array_equal(dbeta, 0)
    dx, dgamma, dbeta = _core.batchnorm_backward_inference(e, e, c, c, c)
    np.testing.assert_array_equal(dgamma, 0)
    np.testing.assert_array_equal(dbeta, 0)


# ---- fuzz of bad calls, in a child process -----------------------------------------------


def test_fuzzed_batchnorm_calls_never_crash(tmp_path):
    fuzz = Path(__file__).with_name("fuzz_batchnorm_calls.py")
    cmd = [sys.executable, "-m", "pytest", str(fuzz), "-q", "-p", "no:cacheprovider",
           "--import-mode=importlib", "-o", "addopts=", "-W", "error"]
    # cwd outside the checkout, so the installed pyfrozen is imported, not the sources.
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=500)
    assert proc.returncode == 0, f"fuzz exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "4 passed" in proc.stdout
