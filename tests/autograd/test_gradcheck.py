"""gradcheck and check_op catch wrong gradients; they pass correct ones."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen.autograd import Function, GradcheckError, gradcheck
from pyfrozen.testing import check_op


class Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return (3 * x * x * dy,)


class WrongCube(Cube):
    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return (3.01 * x * x * dy,)


class Float64Grad(Cube):
    """Right values, but the float32 gradient comes back as float64."""

    @staticmethod
    def backward(ctx, dy):
        (x,) = ctx.saved_tensors
        return ((3 * x * x * dy).astype(np.float64),)


def test_gradcheck_passes_a_correct_user_op():
    x = pyfrozen.tensor(np.array([0.5, -1.5, 2.0]), requires_grad=True)
    assert gradcheck(Cube.apply, [x])


def test_gradcheck_names_the_wrong_input_and_element():
    x = pyfrozen.tensor(np.array([0.5, -1.5, 2.0]), requires_grad=True)
    with pytest.raises(GradcheckError, match=r"input 0 \(3,\): 3 of 3 elements differ"):
        gradcheck(WrongCube.apply, [x])
    assert gradcheck(WrongCube.apply, [x], raise_exception=False) is False


def test_gradcheck_requires_float64():
    x = pyfrozen.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="float32; finite differences need float64"):
        gradcheck(Cube.apply, [x])


def test_gradcheck_leaves_existing_grads_alone():
    x = pyfrozen.tensor(np.array([1.0]), requires_grad=True)
    (x * 2.0).backward()
    gradcheck(Cube.apply, [x])
    assert x.grad.item() == 2.0


def test_check_op_passes_builtin_ops_and_reports_traces():
    rng = np.random.default_rng(1)
    report = check_op(lambda a, b: a * b + a, rng.standard_normal((2, 3)), rng.standard_normal(3))
    assert len(report.grads) == 2 and set(report.traces) == {(), (0,), (1,), (0, 1)}


def test_check_op_catches_a_wrong_gradient_and_a_wrong_float32_dtype():
    x = np.array([0.5, -1.5, 2.0])
    with pytest.raises(GradcheckError):
        check_op(WrongCube.apply, x)
    with pytest.raises(RuntimeError, match=r"gradient float64 \(3,\) does not match its input"):
        check_op(Float64Grad.apply, x)
