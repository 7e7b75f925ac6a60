"""matmul and dense: gradients, torch oracle, save-by-need, column/row masks."""

from __future__ import annotations

import re

import numpy as np
import pytest

import pyfrozen
from pyfrozen import Parameter, ops
from pyfrozen.autograd import trace
from pyfrozen.testing import check_op


@pytest.mark.parametrize(
    ("sa", "sb"),
    [
        ((3, 4), (4, 5)),
        ((2, 3, 4), (4, 2)),
        ((4,), (4, 3)),
        ((2, 3, 4), (4,)),
        ((2, 3, 4), (2, 4, 2)),
        ((4,), (4,)),
    ],
)
def test_matmul(rng, torch, sa, sb):
    check_op(ops.matmul, rng.standard_normal(sa), rng.standard_normal(sb), torch_fn=torch.matmul)


def test_matmul_with_an_empty_inner_axis_gives_zeros():
    a = pyfrozen.tensor(np.ones((2, 0)), requires_grad=True)
    b = pyfrozen.tensor(np.ones((0, 5)), requires_grad=True)
    y = ops.matmul(a, b)
    np.testing.assert_array_equal(y.data, np.zeros((2, 5)))
    y.backward(np.ones((2, 5)))
    assert a.grad.shape == (2, 0) and b.grad.shape == (0, 5)


def test_matmul_saves_only_what_each_gradient_needs(rng):
    a, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3))
    report = check_op(ops.matmul, a, b)
    assert report.traces[()].saved_bytes == a.nbytes + b.nbytes
    assert report.traces[(0,)].saved_bytes == a.nbytes  # b trains: keep a, not b
    assert report.traces[(1,)].saved_bytes == b.nbytes  # b frozen: keep b, drop a
    assert not report.traces[(1,)].ran(pass_="backward_weight")


@pytest.mark.parametrize("activation", [None, "relu", "relu6", "sigmoid", "tanh"])
def test_dense(rng, torch, activation):
    x, w, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal(5)
    if activation in ("relu", "relu6"):
        b = b + 3.0 * np.sign(b)  # keep pre-activations away from the kinks at 0 and 6
        x, w = np.abs(x), np.abs(w) * np.sign(b)
    acts = {None: lambda t: t, "relu": torch.relu, "relu6": lambda t: torch.clamp(t, 0, 6),
            "sigmoid": torch.sigmoid, "tanh": torch.tanh}

    def reference(x, w, b):
        return acts[activation](x @ w + b)

    report = check_op(lambda x, w, b: ops.dense(x, w, b, activation=activation), x, w, b,
                      torch_fn=reference)
    frozen_kernel = report.traces[(1,)]
    assert not frozen_kernel.ran(kernel="dense", pass_="backward_weight")
    assert frozen_kernel.ran(kernel="dense", pass_="backward_input")


def test_dense_without_bias_and_with_batch_axes(rng):
    check_op(ops.dense, rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 2)))


def test_dense_column_mask_limits_the_weight_gradient(rng):
    x = pyfrozen.tensor(rng.standard_normal((16, 8)))
    dy = rng.standard_normal((16, 10))
    full = Parameter(rng.standard_normal((8, 10)))
    masked = Parameter(full.data.copy(), freeze_mask=np.arange(10) % 5 != 0)  # 2 of 10 train
    ops.dense(x, full).backward(dy)
    with trace() as t:
        ops.dense(x, masked).backward(dy)
    (record,) = t.ran(kernel="dense", pass_="backward_weight")
    assert record.work == 16 * 8 * 2  # two columns, not ten
    np.testing.assert_array_equal(masked.grad.data[:, [0, 5]], full.grad.data[:, [0, 5]])
    assert np.count_nonzero(masked.grad.data[:, masked.freeze_mask]) == 0


def test_dense_row_mask_limits_the_weight_gradient(rng):
    x = pyfrozen.tensor(rng.standard_normal((16, 8)))
    w = Parameter(rng.standard_normal((8, 10)))
    w.set_freeze_mask(np.arange(8) >= 2, axis=0)
    with trace() as t:
        ops.dense(x, w).backward(np.ones((16, 10)))
    (record,) = t.ran(kernel="dense", pass_="backward_weight")
    assert record.work == 16 * 2 * 10
    np.testing.assert_allclose(w.grad.data[:2], x.data[:, :2].T @ np.ones((16, 10)))
    assert not w.grad.data[2:].any()


def test_errors_name_both_shapes():
    a, b = pyfrozen.tensor(np.ones((2, 3))), pyfrozen.tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) do not align"):
        ops.matmul(a, b)
    with pytest.raises(ValueError, match=r"dense: input \(2, 3\) does not match kernel \(4, 5\)"):
        ops.dense(a, b)
    with pytest.raises(ValueError, match=r"bias \(4,\) does not match kernel \(3, 3\)"):
        ops.dense(a, pyfrozen.tensor(np.ones((3, 3))), pyfrozen.tensor(np.ones(4)))
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        ops.dense(a, pyfrozen.tensor(np.ones((3, 3))), activation="gelu")


@pytest.mark.parametrize(("sa", "sb"), [((3,), ()), ((), (3,)), ((2, 3), ()), ((), ())])
def test_matmul_with_a_scalar_operand_is_a_clear_value_error(sa, sb):
    # numpy: "Input operand 1 does not have enough dimensions"; torch: "both arguments to
    # matmul need to be at least 1D"; this used to be an IndexError from the shape lookup.
    a = pyfrozen.tensor(np.ones(sa, np.float32))
    with pytest.raises(ValueError, match=rf"matmul: both operands need at least one axis, got "
                       rf"shapes {re.escape(str(sa))} and {re.escape(str(sb))} \(multiply by a "
                       r"scalar with mul or \*\)"):
        ops.matmul(a, np.ones(sb, np.float32))
    with pytest.raises(ValueError, match="at least one axis"):
        ops.matmul(a, 2.0) if sa else ops.matmul(2.0, a)
