"""max_pool2d, avg_pool2d, global_avg_pool2d, global_max_pool2d: gradients (float64
finite differences, float32 on every ISA path), torch oracles (TF's asymmetric 'same'
padding built with F.pad), tie rules, what each op keeps for backward, errors."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import ops
from pyfrozen.autograd import trace
from pyfrozen.testing import check_op


def distinct(shape, seed=0) -> np.ndarray:
    """Values at least 0.05 apart: no window has a tie, even after a 1e-6 nudge."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.05 - n * 0.025).reshape(shape)


def _pairs(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _same_pads(h, w, pool, strides):
    (ph, pw), (sh, sw) = _pairs(pool), _pairs(strides)
    pads = []
    for size, k, s in ((h, ph, sh), (w, pw, sw)):
        total = max((-(-size // s) - 1) * s + k - size, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def _torch_pooled(torch, x, pool, strides, padding, kind):
    """NHWC pooling through torch: explicit (TF) padding, count excluding padded cells."""
    F = torch.nn.functional  # noqa: N806
    xc = x.permute(0, 3, 1, 2)
    strides = pool if strides is None else strides
    if padding == "same":
        (t, b), (left, r) = _same_pads(x.shape[1], x.shape[2], pool, strides)
    else:
        t = b = left = r = 0
    if kind == "max":
        y = F.max_pool2d(F.pad(xc, (left, r, t, b), value=-float("inf")), pool, strides)
    else:
        sums = F.avg_pool2d(F.pad(xc, (left, r, t, b)), pool, strides, divisor_override=1)
        ones = F.pad(torch.ones_like(xc), (left, r, t, b))
        y = sums / F.avg_pool2d(ones, pool, strides, divisor_override=1)
    return y.permute(0, 2, 3, 1)


WINDOWS = [
    ((1, 4, 4, 2), 2, None, "valid"),
    ((2, 5, 5, 2), 3, 2, "same"),
    ((1, 5, 6, 3), (2, 3), (1, 2), "valid"),
    ((1, 5, 4, 1), (3, 2), (2, 1), "same"),
    ((1, 4, 5, 2), 3, 1, "same"),
]


@pytest.mark.parametrize(("shape", "pool", "strides", "padding"), WINDOWS, ids=str)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool2d_check_op(shape, pool, strides, padding, kind, torch):
    op = ops.max_pool2d if kind == "max" else ops.avg_pool2d
    x = distinct(shape)
    report = check_op(
        lambda t: op(t, pool, strides, padding),
        x,
        torch_fn=lambda t: _torch_pooled(torch, t, pool, strides, padding, kind),
    )
    tr = report.traces[()]
    assert tr.ran(kernel=f"{kind}_pool2d", pass_="backward_input")
    # max keeps x to re-find each argmax; avg keeps nothing but shapes
    assert tr.saved_bytes == (x.nbytes if kind == "max" else 0)


def test_max_pool2d_ties_route_to_the_first_in_row_major_order():
    x = pyfrozen.tensor(np.ones((1, 2, 2, 1)), requires_grad=True)
    y = ops.max_pool2d(x, 2)
    y.backward(np.full(y.shape, 3.0))
    np.testing.assert_array_equal(x.grad.numpy()[0, :, :, 0], [[3.0, 0.0], [0.0, 0.0]])


def test_avg_pool2d_same_divides_by_real_cells_only():
    x = pyfrozen.tensor(np.ones((1, 3, 3, 1)))
    y = ops.avg_pool2d(x, 2, 2, "same").numpy()
    np.testing.assert_array_equal(y, 1.0)  # zero padding is not averaged in


# ---- global pooling ---------------------------------------------------------------------


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("kind", ["avg", "max"])
def test_global_pool_check_op(kind, keepdims, torch):
    op = ops.global_avg_pool2d if kind == "avg" else ops.global_max_pool2d
    x = distinct((2, 3, 4, 3))

    def torch_fn(t):
        if kind == "avg":
            return t.mean(dim=(1, 2), keepdim=keepdims)
        return t.amax(dim=(1, 2), keepdim=keepdims)

    report = check_op(lambda t: op(t, keepdims=keepdims), x, torch_fn=torch_fn)
    tr = report.traces[()]
    n, _, _, c = x.shape
    assert report.grads[0].shape == x.shape
    if kind == "avg":
        assert tr.saved_bytes == 0
        assert tr.ran(kernel="global_avg_pool", pass_="backward_input")
    else:
        assert tr.saved_bytes == n * c * np.dtype(np.intp).itemsize  # argmax, not x
        assert tr.ran(kernel="global_max_pool2d", pass_="backward_input")


def test_global_max_pool2d_ties_route_to_the_first_in_row_major_order():
    x = np.zeros((2, 3, 3, 2))
    x[0, 1, 2, 0] = x[0, 2, 0, 0] = 5.0  # tie: (1, 2) comes first in row-major order
    x[1, :, :, 1] = -1.0  # all tie: the gradient goes to (0, 0)
    t = pyfrozen.tensor(x, requires_grad=True)
    y = ops.global_max_pool2d(t)
    y.backward(np.ones(y.shape))
    g = t.grad.numpy()
    assert g.sum() == 4.0
    assert g[0, 1, 2, 0] == 1.0 and g[0, 2, 0, 0] == 0.0
    assert g[1, 0, 0, 1] == 1.0


def test_global_max_pool2d_propagates_nan():
    x = np.zeros((1, 2, 2, 1))
    x[0, 1, 0, 0] = np.nan
    t = pyfrozen.tensor(x, requires_grad=True)
    y = ops.global_max_pool2d(t)
    assert np.isnan(y.numpy()).all()
    y.backward(np.ones(y.shape))
    assert t.grad.numpy()[0, 1, 0, 0] == 1.0 and t.grad.numpy().sum() == 1.0


def test_frozen_input_records_nothing():
    x = pyfrozen.tensor(distinct((1, 4, 4, 2)))
    with trace() as tr:
        for y in (ops.max_pool2d(x, 2), ops.avg_pool2d(x, 2), ops.global_avg_pool2d(x),
                  ops.global_max_pool2d(x)):
            assert not y.requires_grad
    assert tr.nodes == 0 and tr.saved_bytes == 0


# ---- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("op", [ops.max_pool2d, ops.avg_pool2d])
def test_pool2d_errors(op):
    name = op.__name__
    x = pyfrozen.tensor(np.zeros((1, 4, 4, 2)))
    with pytest.raises(ValueError, match=rf"{name}: input must be 4-D .* got shape \(4, 4, 2\)"):
        op(pyfrozen.tensor(np.zeros((4, 4, 2))), 2)
    with pytest.raises(ValueError, match=rf"{name}: padding must be 'valid', 'same', "
                                         r"got 'full'"):
        op(x, 2, padding="full")
    with pytest.raises(ValueError, match=rf"{name}: pool_size must be >= 1, got 0"):
        op(x, 0)
    with pytest.raises(ValueError, match=rf"{name}: strides must be >= 1"):
        op(x, 2, (1, 0))
    with pytest.raises(TypeError, match=rf"{name}: pool_size must be an int or a pair"):
        op(x, (2, 2, 2))
    with pytest.raises(ValueError, match=rf"{name}: pool_size \(5, 2\) is larger than the "
                                         r"input \(1, 4, 4, 2\)"):
        op(x, (5, 2))
    with pytest.raises(TypeError, match=rf"{name}: input must be float32 or float64"):
        op(pyfrozen.tensor(np.zeros((1, 4, 4, 2), np.int32)), 2)
    assert op(x, (5, 2), 1, padding="same").shape == (1, 4, 4, 2)  # "same" pads instead


@pytest.mark.parametrize("op", [ops.global_avg_pool2d, ops.global_max_pool2d])
def test_global_pool_errors(op):
    name = op.__name__
    with pytest.raises(ValueError, match=rf"{name}: input must be 4-D .* \(2, 3\)"):
        op(pyfrozen.tensor(np.zeros((2, 3))))
    with pytest.raises(ValueError, match=rf"{name}: input \(1, 0, 3, 2\) has no pixels"):
        op(pyfrozen.tensor(np.zeros((1, 0, 3, 2))))
    with pytest.raises(TypeError, match=rf"{name}: input must be a Tensor, got list"):
        op([[1.0]])
