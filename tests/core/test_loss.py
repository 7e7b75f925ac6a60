"""Losses through the binding: numpy float64 references, torch as an oracle, float64
central differences for the gradients, both ISA paths, 1 and 2 threads, errors."""

from __future__ import annotations

import numpy as np
import pytest

from pyfrozen import _core

EPS = 1e-7  # Keras's epsilon


def log_softmax_ref(x):
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def central_difference(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (f(xp) - f(xm)) / (2 * h)
    return g


def rtol(dtype):
    return 2e-6 if dtype == np.float32 else 1e-12


# ---- softmax cross-entropy ------------------------------------------------------------

CE_SHAPES = [(1, 1), (4, 1), (1, 5), (7, 3), (33, 10), (2000, 13)]  # the last runs 2 threads


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_int_labels_match_numpy(rng, isa, threads, dtype):
    for n, k in CE_SHAPES:
        x = (3 * rng.standard_normal((n, k))).astype(dtype)
        labels = rng.integers(0, k, size=n)
        loss, grad = _core.softmax_cross_entropy(x, labels)
        lsm = log_softmax_ref(x.astype(np.float64))
        assert isinstance(loss, float)
        assert loss == pytest.approx(-lsm[np.arange(n), labels].mean(), rel=rtol(dtype))
        want = np.exp(lsm)
        want[np.arange(n), labels] -= 1
        np.testing.assert_allclose(grad, want / n, rtol=0, atol=10 * rtol(dtype) / n)
        assert grad.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_probabilities_match_numpy(rng, isa, threads, dtype):
    for n, k in CE_SHAPES:
        x = (3 * rng.standard_normal((n, k))).astype(dtype)
        t = rng.uniform(0, 1, size=(n, k))
        t[rng.uniform(size=(n, k)) < 0.3] = 0  # zeros are common (one-hot)
        t = t.astype(dtype)
        loss, grad = _core.softmax_cross_entropy(x, t)
        x64, t64 = x.astype(np.float64), t.astype(np.float64)
        lsm = log_softmax_ref(x64)
        assert loss == pytest.approx(-(t64 * lsm).sum(1).mean(), rel=rtol(dtype), abs=1e-12)
        want = (np.exp(lsm) * t64.sum(1, keepdims=True) - t64) / n
        np.testing.assert_allclose(grad, want, rtol=0, atol=10 * rtol(dtype) / n)


def test_softmax_cross_entropy_matches_torch(rng, torch):
    F = torch.nn.functional
    x = 3 * rng.standard_normal((9, 6))
    labels = rng.integers(0, 6, size=9)
    probs = rng.dirichlet(np.ones(6), size=9)
    for target, t_torch in ((labels, torch.tensor(labels)), (probs, torch.tensor(probs))):
        xt = torch.tensor(x, requires_grad=True)
        lt = F.cross_entropy(xt, t_torch)
        lt.backward()
        loss, grad = _core.softmax_cross_entropy(x, target)
        assert loss == pytest.approx(lt.item(), rel=1e-13)
        np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-11, atol=1e-15)


@pytest.mark.parametrize("probs", [False, True])
def test_softmax_cross_entropy_gradient_central_differences(rng, isa, probs):
    x = rng.standard_normal((4, 5))
    target = rng.dirichlet(np.ones(5), size=4) if probs else rng.integers(0, 5, size=4)
    num = central_difference(lambda v: _core.softmax_cross_entropy(v, target)[0], x)
    np.testing.assert_allclose(_core.softmax_cross_entropy(x, target)[1], num, rtol=1e-7,
                               atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_extreme_logits(isa, dtype):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype)
    loss, grad = _core.softmax_cross_entropy(x, np.array([1, 0]))
    assert np.isfinite(loss) and np.isfinite(grad).all()
    assert loss == pytest.approx((2e4 + 2e4 + np.log(2)) / 2, rel=1e-6)
    np.testing.assert_allclose(grad, [[0.5, -0.5, 0], [-0.5, 0.25, 0.25]], atol=1e-7)
    loss, grad = _core.softmax_cross_entropy(x, np.array([[0, 1, 0], [0.5, 0.5, 0]], dtype))
    assert np.isfinite(loss) and np.isfinite(grad).all()


def test_softmax_cross_entropy_loss_is_the_same_for_any_thread_count(rng):
    x = rng.standard_normal((3000, 9)).astype(np.float32)
    labels = rng.integers(0, 9, size=3000)
    before = _core.get_num_threads()
    try:
        got = []
        for n in (1, 2):
            _core.set_num_threads(n)
            got.append(_core.softmax_cross_entropy(x, labels))
    finally:
        _core.set_num_threads(before)
    assert got[0][0] == got[1][0]
    np.testing.assert_array_equal(got[0][1], got[1][1])


def test_softmax_cross_entropy_counters_and_need_grad(rng):
    x = rng.standard_normal((4, 3))
    _core.reset_kernel_counts()
    loss, grad = _core.softmax_cross_entropy(x, np.array([0, 1, 2, 0]), need_grad=False)
    assert grad is None
    assert _core.kernel_counts() == [("softmax_cross_entropy", "forward", 1, 12)]
    _core.softmax_cross_entropy(x, np.array([0, 1, 2, 0]))
    assert _core.kernel_counts() == [("softmax_cross_entropy", "forward", 2, 24),
                                     ("softmax_cross_entropy", "backward_input", 1, 12)]


def test_softmax_cross_entropy_errors():
    x = np.zeros((3, 5), np.float32)
    with pytest.raises(ValueError, match=r"label 5 at row 2 is out of range for 5 classes "
                                         r"\(logits \(3, 5\)\)"):
        _core.softmax_cross_entropy(x, np.array([0, 4, 5]))
    with pytest.raises(ValueError, match=r"label -1 at row 0 is out of range for 5 classes"):
        _core.softmax_cross_entropy(x, np.array([-1, 0, 0]))
    with pytest.raises(TypeError, match=r"labels must be int64 class indices or float32 "
                                        r"probabilities like logits, got int32"):
        _core.softmax_cross_entropy(x, np.array([0, 1, 2], np.int32))
    with pytest.raises(ValueError, match=r"int64 labels must have shape \(3,\)"):
        _core.softmax_cross_entropy(x, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"labels must have shape \(3, 5\) \(like logits\)"):
        _core.softmax_cross_entropy(x, np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="logits must have 2 dimensions"):
        _core.softmax_cross_entropy(np.zeros(5, np.float32), np.array([0]))
    with pytest.raises(ValueError, match="labels .* must be C-contiguous"):
        _core.softmax_cross_entropy(x, np.array([0, 0, 1, 1, 2, 2])[::2])
    with pytest.raises(ValueError, match="out of range for 0 classes"):
        _core.softmax_cross_entropy(np.zeros((1, 0)), np.array([0]))


# ---- binary cross-entropy ---------------------------------------------------------------


def bce_probs_ref(p, t):
    q = np.clip(p, EPS, 1 - EPS)
    loss = -(t * np.log(q) + (1 - t) * np.log(1 - q)).mean()
    grad = np.where((p < EPS) | (p > 1 - EPS), 0.0, (q - t) / (q * (1 - q))) / p.size
    return loss, grad


def bce_logits_ref(x, t):
    loss = (np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))).mean()
    return loss, (1 / (1 + np.exp(-x)) - t) / x.size


BCE_SHAPES = [(1,), (3, 1), (5, 7), (2, 3, 4, 5), (300, 70)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("from_logits", [False, True])
def test_binary_cross_entropy_matches_numpy(rng, isa, threads, dtype, from_logits):
    for shape in BCE_SHAPES:
        t = rng.uniform(0, 1, size=shape).astype(dtype)
        if from_logits:
            p = (4 * rng.standard_normal(shape)).astype(dtype)
            want_loss, want_grad = bce_logits_ref(p.astype(np.float64), t.astype(np.float64))
        else:
            p = rng.uniform(0, 1, size=shape)
            p.flat[0] = 0.0  # clipped, no gradient
            p = p.astype(dtype)
            q = np.clip(p, dtype(EPS), dtype(1) - dtype(EPS)).astype(np.float64)
            want_loss, want_grad = bce_probs_ref(q, t.astype(np.float64))
            want_grad.flat[0] = 0.0
        loss, grad = _core.binary_cross_entropy(p, t, from_logits=from_logits)
        assert loss == pytest.approx(want_loss, rel=1e-10)  # logs and sums in double
        np.testing.assert_allclose(grad, want_grad, rtol=rtol(dtype), atol=1e-30)


def test_binary_cross_entropy_matches_torch(rng, torch):
    F = torch.nn.functional
    t = rng.uniform(0, 1, size=(6, 5))
    p = rng.uniform(0.01, 0.99, size=(6, 5))  # inside the clip: Keras and torch agree
    x = 5 * rng.standard_normal((6, 5))
    for from_logits, v, fn in ((False, p, F.binary_cross_entropy),
                               (True, x, F.binary_cross_entropy_with_logits)):
        vt = torch.tensor(v, requires_grad=True)
        lt = fn(vt, torch.tensor(t))
        lt.backward()
        loss, grad = _core.binary_cross_entropy(v, t, from_logits=from_logits)
        assert loss == pytest.approx(lt.item(), rel=1e-13)
        np.testing.assert_allclose(grad, vt.grad.numpy(), rtol=1e-11)


@pytest.mark.parametrize("from_logits", [False, True])
def test_binary_cross_entropy_gradient_central_differences(rng, isa, from_logits):
    t = rng.uniform(0, 1, size=(3, 4))
    v = 2 * rng.standard_normal((3, 4)) if from_logits else rng.uniform(0.05, 0.95, (3, 4))
    num = central_difference(
        lambda a: _core.binary_cross_entropy(a, t, from_logits=from_logits)[0], v)
    got = _core.binary_cross_entropy(v, t, from_logits=from_logits)[1]
    np.testing.assert_allclose(got, num, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_extremes_stay_finite(isa, dtype):
    x = np.array([1e4, -1e4, 0.0, 80.0], dtype)
    t = np.array([0.0, 1.0, 0.5, 1.0], dtype)
    loss, grad = _core.binary_cross_entropy(x, t, from_logits=True)
    assert loss == pytest.approx((1e4 + 1e4 + np.log(2)) / 4, rel=1e-9)
    np.testing.assert_allclose(grad, [0.25, -0.25, 0, 0], atol=1e-12)
    p = np.array([0.0, 1.0, 1.0, 0.0], dtype)
    loss, grad = _core.binary_cross_entropy(p, t, from_logits=False)
    # Clipped in the input's dtype (as Keras): eps, 1-eps, 1-eps, eps vs targets 0, 1, 0.5, 1.
    lo = float(dtype(EPS))
    hi = float(dtype(1) - dtype(EPS))
    want = -(np.log(1 - lo) + np.log(hi) + 0.5 * np.log(hi) + 0.5 * np.log(1 - hi)
             + np.log(lo)) / 4
    assert np.isfinite(loss) and loss == pytest.approx(want, rel=1e-5)
    np.testing.assert_array_equal(grad, 0)  # the clip is active everywhere


# ---- mse ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mse_matches_numpy_and_torch(rng, isa, threads, torch, dtype):
    for shape in [(1,), (4, 1), (3, 7), (2, 3, 5), (300, 150)]:  # the last: 2 threads
        p = rng.standard_normal(shape).astype(dtype)
        t = rng.standard_normal(shape).astype(dtype)
        d = p.astype(np.float64) - t.astype(np.float64)
        loss, grad = _core.mse(p, t)
        assert loss == pytest.approx((d * d).mean(), rel=1e-12)
        np.testing.assert_allclose(grad, 2 * d / d.size, rtol=rtol(dtype))
    pt = torch.tensor(p.astype(np.float64), requires_grad=True)
    lt = torch.nn.functional.mse_loss(pt, torch.tensor(t.astype(np.float64)))
    lt.backward()
    loss, grad = _core.mse(p.astype(np.float64), t.astype(np.float64))
    assert loss == pytest.approx(lt.item(), rel=1e-13)
    np.testing.assert_allclose(grad, pt.grad.numpy(), rtol=1e-13)


def test_mse_gradient_central_differences(rng):
    p, t = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    num = central_difference(lambda a: _core.mse(a, t)[0], p)
    np.testing.assert_allclose(_core.mse(p, t)[1], num, rtol=1e-7, atol=1e-10)


def test_elementwise_losses_counters_and_empty(rng):
    p = rng.uniform(0.1, 0.9, size=(2, 3))
    _core.reset_kernel_counts()
    assert _core.mse(p, p, need_grad=False) == (0.0, None)
    _core.binary_cross_entropy(p, p)
    _core.binary_cross_entropy(p, p, from_logits=True, need_grad=False)
    assert _core.kernel_counts() == [("binary_cross_entropy", "forward", 2, 12),
                                     ("binary_cross_entropy", "backward_input", 1, 6),
                                     ("mse", "forward", 1, 6)]
    loss, grad = _core.mse(np.zeros((0, 3)), np.zeros((0, 3)))
    assert np.isnan(loss) and grad.shape == (0, 3)


def test_elementwise_loss_errors():
    a = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"mse: target must have shape \(2, 3\) \(like pred\), "
                                         r"got \(3, 2\)"):
        _core.mse(a, np.zeros((3, 2), np.float32))
    with pytest.raises(TypeError, match="binary_cross_entropy: target must be float32 like"):
        _core.binary_cross_entropy(a, np.zeros((2, 3)))
    with pytest.raises(TypeError, match="mse: pred must be float32 or float64"):
        _core.mse(a.astype(np.int64), a)
    with pytest.raises(ValueError, match="binary_cross_entropy: pred .* must be C-contiguous"):
        _core.binary_cross_entropy(np.zeros((3, 2), np.float32).T, a)
