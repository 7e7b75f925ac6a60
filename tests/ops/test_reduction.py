"""Reductions: sum and mean."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import ops
from pyfrozen.testing import check_op

CASES = [((2, 3, 4), None, False), ((2, 3, 4), None, True), ((2, 3, 4), 1, False),
         ((2, 3, 4), -1, True), ((2, 3, 4), (0, 2), False), ((2, 3, 4), [2, 0], True),
         ((5,), 0, False), ((), None, False)]


def _torch_reduce(torch, name, shape, axis, keepdims):
    dims = tuple(range(len(shape))) if axis is None else axis
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else dims
    if dims == ():  # a 0-d tensor: torch needs no reduction
        return lambda t: t * 1.0
    return lambda t: getattr(torch, name)(t, dim=dims, keepdim=keepdims)


@pytest.mark.parametrize("shape,axis,keepdims", CASES, ids=str)
@pytest.mark.parametrize("name", ["sum", "mean"])
def test_against_torch(name, shape, axis, keepdims, rng, torch):
    x = rng.standard_normal(shape)
    fn = getattr(ops, name)
    report = check_op(lambda t: fn(t, axis=axis, keepdims=keepdims), x,
                      torch_fn=_torch_reduce(torch, name, shape, axis, keepdims))
    assert report.traces[()].saved_bytes == 0  # only the input's shape is kept


def test_method_forms_and_result_shapes(rng):
    x = pyfrozen.tensor(rng.standard_normal((2, 3, 4)))
    assert x.sum().shape == () and x.mean(axis=(0, 1)).shape == (4,)
    assert x.sum(axis=1, keepdims=True).shape == (2, 1, 4)
    np.testing.assert_allclose(x.mean(axis=2).numpy(), x.numpy().mean(axis=2))


@pytest.mark.parametrize("name", ["sum", "mean"])
def test_gradient_is_a_writeable_contiguous_array(name):
    x = pyfrozen.tensor(np.ones((2, 3)), requires_grad=True)
    getattr(ops, name)(x, axis=0).backward(np.array([1.0, 2.0, 3.0]))
    g = x.grad.numpy()
    assert g.flags.c_contiguous and g.flags.writeable
    scale = 1.0 if name == "sum" else 0.5
    assert g.tolist() == [[scale, 2 * scale, 3 * scale]] * 2


def test_long_float32_reduction(rng):
    x = rng.standard_normal((64, 64))
    check_op(lambda t: ops.mean(t, axis=1), x, float32_rtol=1e-3)


@pytest.mark.parametrize("name", ["sum", "mean"])
def test_errors(name):
    fn = getattr(ops, name)
    x = pyfrozen.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=f"{name}: axis 2 is out of range for a tensor with 2"):
        fn(x, axis=2)
    with pytest.raises(ValueError, match=rf"{name}: repeated axis in \(1, -1\)"):
        fn(x, axis=(1, -1))
    with pytest.raises(TypeError, match=f"{name}: axis must be an integer, got 0.5"):
        fn(x, axis=0.5)
    with pytest.raises(TypeError, match=f"{name}: input must be float32 or float64, got int64"):
        fn(pyfrozen.tensor(np.arange(3)))
