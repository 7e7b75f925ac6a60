"""Activations: relu, relu6, sigmoid, tanh, softmax, log_softmax."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import ops
from pyfrozen.testing import check_op

POINTWISE = ["relu", "relu6", "sigmoid", "tanh"]


def _off_kinks(rng, shape):
    """Values in (-9, 9) at least 0.1 away from relu's kink at 0 and relu6's at 6."""
    x = rng.uniform(-9.0, 9.0, shape)
    x = np.where(np.abs(x) < 0.1, 0.5, x)
    return np.where(np.abs(x - 6.0) < 0.1, 6.5, x)


def _torch_pointwise(torch, name):
    return {"relu": torch.relu, "relu6": torch.nn.functional.relu6,
            "sigmoid": torch.sigmoid, "tanh": torch.tanh}[name]


# ---------------------------------------------------------------------------------------
# relu, relu6, sigmoid, tanh
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(7,), (2, 3, 4), ()], ids=str)
@pytest.mark.parametrize("name", POINTWISE)
def test_pointwise_against_torch(name, shape, rng, torch):
    x = _off_kinks(rng, shape)
    report = check_op(getattr(ops, name), x, torch_fn=_torch_pointwise(torch, name))
    tr = report.traces[()]
    assert tr.saved_bytes == x.nbytes  # the output only, never the input
    assert tr.ran(kernel="bias_act", pass_="forward")
    assert tr.ran(kernel="bias_act", pass_="backward_input")
    assert not tr.ran(kernel="bias_act", pass_="backward_bias")  # no bias: no dbias kernel


@pytest.mark.parametrize("name", POINTWISE)
def test_pointwise_on_strided_tensors(name, rng, torch):
    # A transposed input (forward copies it) and a transposed gradient (backward copies).
    x = _off_kinks(rng, (3, 4))
    fn = getattr(ops, name)
    tfn = _torch_pointwise(torch, name)
    check_op(lambda t: fn(t.T).T * 2.0, x, torch_fn=lambda t: tfn(t.T).T * 2.0)


def test_method_forms(rng, torch):
    x = _off_kinks(rng, (2, 3))
    check_op(lambda t: t.relu() + t.sigmoid() * t.tanh(), x,
             torch_fn=lambda t: t.relu() + t.sigmoid() * t.tanh())


def test_relu_gradient_at_zero_is_zero():
    x = pyfrozen.tensor(np.array([-1.0, 0.0, 1.0, 6.0, 7.0]), requires_grad=True)
    ops.relu(x).backward(np.ones(5))
    assert x.grad.numpy().tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]
    x.grad = None
    ops.relu6(x).backward(np.ones(5))
    assert x.grad.numpy().tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]


def test_float32_stays_float32(rng):
    x = pyfrozen.tensor(rng.standard_normal((2, 3)).astype(np.float32), requires_grad=True)
    for name in POINTWISE + ["softmax", "log_softmax"]:
        y = getattr(ops, name)(x)
        assert y.dtype == np.float32 and y.grad_fn == name


# ---------------------------------------------------------------------------------------
# softmax, log_softmax
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape,axis", [((5,), -1), ((2, 3, 4), -1), ((2, 3, 4), 0),
                                        ((2, 3, 4), 1)], ids=str)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_against_torch(name, shape, axis, rng, torch):
    x = rng.standard_normal(shape) * 3.0
    fn = getattr(ops, name)
    tfn = getattr(torch, name)
    report = check_op(lambda t: fn(t, axis=axis), x, torch_fn=lambda t: tfn(t, dim=axis))
    tr = report.traces[()]
    assert tr.saved_bytes == x.nbytes  # the output only
    assert tr.ran(kernel=name, pass_="forward") and tr.ran(kernel=name, pass_="backward_input")


def test_softmax_rows_sum_to_one_and_large_logits_stay_finite():
    x = pyfrozen.tensor(np.array([[1000.0, 0.0, -1000.0], [3.0, 3.0, 3.0]]))
    y = ops.softmax(x, axis=1).numpy()
    np.testing.assert_allclose(y.sum(axis=1), 1.0)
    assert np.isfinite(y).all() and y[0].tolist()[0] == 1.0
    log_y = ops.log_softmax(x).numpy()
    assert np.isfinite(log_y).all() and log_y[0, 2] == -2000.0  # log(softmax) would be -inf


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_errors(name):
    fn = getattr(ops, name)
    with pytest.raises(ValueError, match=rf"{name}: axis 2 is out of range for shape \(2, 3\)"):
        fn(pyfrozen.tensor(np.ones((2, 3))), axis=2)
    with pytest.raises(ValueError, match=rf"{name}: needs at least 1 axis, .*shape \(\)"):
        fn(pyfrozen.tensor(1.0))


@pytest.mark.parametrize("name", POINTWISE + ["softmax", "log_softmax"])
def test_integer_tensors_are_refused(name):
    with pytest.raises(TypeError, match=f"{name}: input must be float32 or float64, got int64"):
        getattr(ops, name)(pyfrozen.tensor(np.arange(3)))
