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


def test_a_graph_recorded_before_gradcheck_still_runs_backward(cube_ops):
    """gradcheck writes its inputs and restores them bit for bit: an earlier graph that
    saved them still holds valid arrays, so its backward runs (as in PyTorch)."""
    x = pyfrozen.tensor(np.array([0.5, -1.5, 2.0]), requires_grad=True)
    y = (x * x).sum()
    version = x._version.value
    assert gradcheck(cube_ops.Cube.apply, [x])
    assert x._version.value == version
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), 2 * x.numpy())


def test_a_cache_keyed_by_versions_never_reuses_what_gradcheck_formed():
    """LoRA's merged-kernel cache (pyfrozen.layers.lora) sees each perturbation, and no
    kernel formed on perturbed data matches later: not right after gradcheck, and not
    after later in-place changes bring the version counter to any value it could have
    had during the perturbation (the cache holds one entry: each case starts afresh)."""
    x = np.random.default_rng(0).standard_normal((2, 4))
    layer = pyfrozen.layers.Dense(3, dtype="float64")
    layer(x)
    layer.enable_lora(2, b_initializer="random_normal")
    a, b = layer._lora_adapters()
    b.trainable = False
    for changes in range(4 * a.numpy().size + 2):
        a.trainable = True
        # The finite differences run without recording: each uses the cached kernel.
        assert gradcheck(lambda a_: layer(x), [a])
        a.trainable = False  # the call below uses the cached kernel
        with pyfrozen.autograd.no_grad():
            for _ in range(changes):
                a.copy_(a.numpy())  # an in-place change keeping the data: a new version
            got = layer(x).numpy()
        expected = x @ (layer.kernel.numpy() + a.numpy() @ b.numpy()) + layer.bias.numpy()
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-13, err_msg=f"{changes}")
