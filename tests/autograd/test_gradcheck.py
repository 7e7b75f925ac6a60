"""gradcheck catches wrong gradients and passes correct ones (check_op: tests/test_testing.py)."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen.autograd import GradcheckError, gradcheck


def test_gradcheck_passes_a_correct_user_op(cube_ops):
    x = pyfrozen.tensor(np.array([0.5, -1.5, 2.0]), requires_grad=True)
    assert gradcheck(cube_ops.Cube.apply, [x])


def test_gradcheck_names_the_wrong_input_and_element(cube_ops):
    x = pyfrozen.tensor(np.array([0.5, -1.5, 2.0]), requires_grad=True)
    with pytest.raises(GradcheckError, match=r"input 0 \(3,\): 3 of 3 elements differ"):
        gradcheck(cube_ops.WrongCube.apply, [x])
    assert gradcheck(cube_ops.WrongCube.apply, [x], raise_exception=False) is False


def test_gradcheck_requires_float64(cube_ops):
    x = pyfrozen.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="float32; finite differences need float64"):
        gradcheck(cube_ops.Cube.apply, [x])


def test_gradcheck_leaves_existing_grads_alone(cube_ops):
    x = pyfrozen.tensor(np.array([1.0]), requires_grad=True)
    (x * 2.0).backward()
    gradcheck(cube_ops.Cube.apply, [x])
    assert x.grad.item() == 2.0
