"""Regularization ops: inverted dropout."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import ops
from pyfrozen.autograd import trace
from pyfrozen.testing import check_op


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 2)], ids=str)
@pytest.mark.parametrize("rate", [0.3, 0.75])
def test_gradient_and_saved_mask(rate, shape, rng):
    # An int seed draws the same mask on every call, as gradcheck needs.
    x = rng.standard_normal(shape)
    report = check_op(lambda t: ops.dropout(t, rate, seed=7), x)
    assert report.traces[()].saved_bytes == x.size  # one byte of mask per element, no x


def test_kept_elements_are_scaled_and_the_rate_is_respected():
    x = pyfrozen.tensor(np.full(20000, 3.0, np.float32))
    y = ops.dropout(x, 0.25, seed=1).numpy()
    kept = y != 0
    assert abs(1.0 - kept.mean() - 0.25) < 0.02
    assert np.all(y[kept] == np.float32(3.0) * np.float32(1 / 0.75)) and y.dtype == np.float32


def test_gradient_follows_the_forward_mask():
    x = pyfrozen.tensor(np.ones(200), requires_grad=True)
    y = ops.dropout(x, 0.5, seed=3)
    y.backward(np.ones(200))
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())  # both 2 where kept, 0 elsewhere


def test_masks_select_nan_in_a_dropped_element_gives_zero():
    data = np.full(64, np.nan)
    x = pyfrozen.tensor(data, requires_grad=True)
    y = ops.dropout(x, 0.5, seed=0)
    dropped = ~np.isnan(y.numpy())
    assert dropped.any() and np.all(y.numpy()[dropped] == 0.0)
    y.backward(np.full(64, np.nan))
    assert np.all(x.grad.numpy()[dropped] == 0.0) and np.isnan(x.grad.numpy()[~dropped]).all()


def test_seeds():
    x = pyfrozen.tensor(np.ones(100))
    same = [ops.dropout(x, 0.5, seed=11).numpy() for _ in range(2)]
    np.testing.assert_array_equal(*same)
    gen = np.random.default_rng(5)
    first, second = (ops.dropout(x, 0.5, seed=gen).numpy() for _ in range(2))
    assert not np.array_equal(first, second)  # a Generator advances
    a, b = ops.dropout(x, 0.5).numpy(), ops.dropout(x, 0.5).numpy()
    assert not np.array_equal(a, b)  # seed=None: the process-wide generator advances
    # One seed drops the same elements in float32 and float64.
    m32 = ops.dropout(x.astype(np.float32), 0.5, seed=2).numpy() != 0
    m64 = ops.dropout(x, 0.5, seed=2).numpy() != 0
    np.testing.assert_array_equal(m32, m64)


@pytest.mark.parametrize("rate,training", [(0.0, True), (0.5, False), (0, True)])
def test_identity_records_nothing(rate, training):
    x = pyfrozen.tensor(np.ones(3), requires_grad=True)
    with trace() as tr:
        y = ops.dropout(x, rate, training=training)
    assert y is x and tr.nodes == 0 and not tr.kernels


def test_errors():
    x = pyfrozen.tensor(np.ones(3))
    for rate in (1.0, -0.1, 1.5, "0.5", None):
        with pytest.raises(ValueError, match=r"dropout: rate must be a number in \[0, 1\), got"):
            ops.dropout(x, rate)
    with pytest.raises(ValueError, match="rate must be"):
        ops.dropout(x, 1.0, training=False)  # checked even when it would do nothing
    with pytest.raises(TypeError, match="dropout: input must be float32 or float64, got int64"):
        ops.dropout(pyfrozen.tensor(np.arange(3)), 0.5)
    with pytest.raises(TypeError, match="dropout: seed must be None, an int or a numpy"):
        ops.dropout(x, 0.5, seed=0.5)
