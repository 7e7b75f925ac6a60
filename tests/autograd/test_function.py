"""Function, the base of user-defined ops: naming, the forward/backward contract, errors."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen.autograd import Function


def leaf(values, **kw):
    return pyfrozen.tensor(np.asarray(values, dtype=np.float64), requires_grad=True, **kw)


def test_missing_backward_is_not_implemented():
    class NoGrad(Function):
        @staticmethod
        def forward(ctx, a):
            return a.copy()

    y = NoGrad.apply(leaf([1.0]))
    with pytest.raises(NotImplementedError, match="no_grad: no gradient is defined"):
        y.backward()


def test_backward_returning_nothing_for_a_needed_input_is_an_error():
    class Broken(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, dy):
            return (None,)

    with pytest.raises(RuntimeError, match="broken: backward gave no gradient for input 0"):
        Broken.apply(leaf([1.0])).backward()


def test_inputs_must_be_tensors():
    class Ident(Function):
        @staticmethod
        def forward(ctx, a):
            return a

    with pytest.raises(TypeError, match="ident: input 0 is a ndarray, expected a Tensor"):
        Ident.apply(np.ones(2))



def test_the_op_name_is_the_snake_case_class_name_unless_given():
    class ScaleByTwo(Function):
        pass

    class Named(Function):
        name = "custom"

    class SubOfNamed(Named):
        pass

    assert ScaleByTwo.name == "scale_by_two" and Named.name == "custom"
    assert SubOfNamed.name == "sub_of_named"


def test_a_missing_forward_is_not_implemented():
    class Empty(Function):
        pass

    with pytest.raises(NotImplementedError, match="define forward"):
        Empty.apply(leaf([1.0]))


def test_forward_sees_which_gradients_are_needed_and_is_recorded_only_if_any():
    seen = []

    class Times(Function):
        @staticmethod
        def forward(ctx, a, b):
            seen.append(ctx.needs_input_grad)
            ctx.save_for_backward(b if ctx.needs_input_grad[0] else None,
                                  a if ctx.needs_input_grad[1] else None)
            return a * b

        @staticmethod
        def backward(ctx, dy):
            b, a = ctx.saved_tensors
            return (dy * b if ctx.needs_input_grad[0] else None,
                    dy * a if ctx.needs_input_grad[1] else None)

    a, b = leaf([2.0]), pyfrozen.tensor(np.array([5.0]))
    y = Times.apply(a, b)
    assert y.grad_fn == "times" and y._node.saved[1] is None  # nothing kept for b's gradient
    y.backward()
    z = Times.apply(b, b)
    assert seen == [(True, False), (False, False)]
    assert a.grad.item() == 5.0 and not z.requires_grad and z.grad_fn is None
