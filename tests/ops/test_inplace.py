"""In-place arithmetic (pyfrozen/ops/inplace.py): PyTorch's rules, never a silent rebind."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import ops
from pyfrozen.tensor import Parameter


def test_minus_equals_changes_the_parameter_itself():
    # The reproducer: a hand loop with ``p -= lr * p.grad`` rebound the name to a new
    # tensor each step; the model's parameter never moved (200 steps learned nothing).
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    w = Parameter(np.zeros((3, 1), np.float32), name="w")
    params = [w]
    for _ in range(200):
        loss = ops.mean_squared_error(ops.matmul(pyfrozen.tensor(x), w), y)
        loss.backward()
        with pyfrozen.no_grad():
            for p in params:
                p -= 0.1 * p.grad
                p.grad = None
    assert params[0] is w
    np.testing.assert_allclose(w.data.ravel(), [1.0, -2.0, 0.5], atol=1e-3)


@pytest.mark.parametrize("op,method,expected", [
    ("+=", "add_", [3.0, 4.0]), ("-=", "sub_", [-1.0, 0.0]),
    ("*=", "mul_", [2.0, 4.0]), ("/=", "div_", [0.5, 1.0]),
])
def test_operators_and_methods_work_on_the_shared_array(op, method, expected):
    for use_method in (False, True):
        array = np.array([1.0, 2.0], np.float32)
        t = pyfrozen.Tensor.from_numpy(array)
        version = t._version.value
        alias = t
        if use_method:
            assert getattr(t, method)(2.0) is t
        else:
            exec(f"t {op} 2.0", {}, {"t": t})
        assert alias is t and array.tolist() == expected  # the caller's memory changed
        assert t._version.value == version + 1


def test_add_and_sub_take_alpha_and_tensors_or_arrays():
    t = pyfrozen.tensor([1.0, 1.0])
    t.add_(pyfrozen.tensor([1.0, 2.0]), alpha=2).sub_(np.array([1.0, 1.0], np.float32), alpha=0.5)
    assert t.tolist() == [2.5, 4.5]


def test_a_leaf_that_requires_grad_is_refused_while_recording():
    w = pyfrozen.tensor([1.0, 2.0], requires_grad=True)
    for change in (lambda: w.__isub__(1.0), lambda: w.add_(1.0), lambda: w.zero_(),
                   lambda: w.copy_(np.zeros(2, np.float32))):
        with pytest.raises(RuntimeError, match="leaf tensor that requires grad is being used "
                                               "in an in-place operation"):
            change()
    assert w.tolist() == [1.0, 2.0]
    with pyfrozen.no_grad():
        w -= 1.0
    assert w.tolist() == [0.0, 1.0] and w.requires_grad and w.is_leaf


def test_a_recorded_result_changed_in_place_keeps_a_correct_gradient():
    # As PyTorch: y = x * 3; y *= w; the gradient flows through both ops.
    x = pyfrozen.tensor([1.0, 2.0], requires_grad=True)
    w = pyfrozen.tensor([2.0, 5.0], requires_grad=True)
    y = x * 3.0
    y *= w
    y += x
    assert y.grad_fn == "add" and y.tolist() == [7.0, 32.0]
    y.sum().backward()
    assert x.grad.tolist() == [7.0, 16.0] and w.grad.tolist() == [3.0, 6.0]
    a = pyfrozen.tensor([1.0, 1.0])  # a plain tensor times a weight, as torch's a *= w
    a *= w
    a.sum().backward()
    assert w.grad.tolist() == [4.0, 7.0] and a.grad_fn == "mul"


def test_an_in_place_change_after_a_node_saved_the_values_fails_at_backward():
    x = pyfrozen.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1.0
    z = y * y  # saves y
    y += 1.0
    with pytest.raises(RuntimeError, match="modified in place"):
        z.sum().backward()


def test_recorded_in_place_change_of_shared_memory_is_refused():
    x = pyfrozen.tensor([[1.0, 2.0]], requires_grad=True)
    y = x * 1.0
    view = y.reshape(2)
    with pytest.raises(RuntimeError, match="other tensors share"):
        y += 1.0
    with pytest.raises(RuntimeError, match="other tensors share"):
        view += 1.0
    detached = (x * 1.0).detach()
    detached += 1.0  # nothing records: fine


def test_bad_operands_raise_clear_errors():
    t = pyfrozen.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="float64 .* into tensor float32"):
        t += np.ones(2)
    with pytest.raises(ValueError, match=r"shape \(3,\) does not broadcast .* \(2,\)"):
        t += np.ones(3, np.float32)
    labels = pyfrozen.tensor(np.array([1, 2]))
    labels += 1
    assert labels.tolist() == [2, 3]
    with pytest.raises(TypeError, match="cannot be stored in place in a tensor of dtype int64"):
        labels /= 2
    with pytest.raises(TypeError, match="unsupported operand type str"):
        t += "a"
    y = pyfrozen.tensor([1.0], requires_grad=True) * 1.0
    with pytest.raises(ValueError, match="cannot change its shape"):
        y += np.ones((2, 1), np.float32)


def test_freeze_mask_is_read_only():
    # The reproducer: writing into the returned mask froze units without updating
    # requires_grad / trainable_count, and momentum kept moving the "frozen" units.
    p = Parameter(np.zeros((2, 3), np.float32))
    p.set_freeze_mask(np.array([True, False, False]))
    with pytest.raises(ValueError, match="read-only"):
        p.freeze_mask[...] = True
    assert p.trainable_count() == 4
