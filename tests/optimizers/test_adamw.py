"""AdamW (adamw.py): Adam with decoupled decay, Keras's default and its error."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import _core, optimizers


def test_is_adam_with_decoupled_weight_decay(rng):
    w0 = rng.standard_normal(6)
    grads = [rng.standard_normal(6) for _ in range(4)]
    a = pyfrozen.Parameter(w0.copy(), name="a")
    b = pyfrozen.Parameter(w0.copy(), name="b")
    adamw, adam = optimizers.AdamW(0.01, weight_decay=0.2), optimizers.Adam(0.01,
                                                                             weight_decay=0.2)
    for g in grads:
        adamw.apply([g], [a])
        adam.apply([g], [b])
    np.testing.assert_array_equal(a.data, b.data)
    # torch's AdamW: w *= 1 - lr * wd, then Adam; Keras's epsilon at step t is torch's
    # eps * sqrt(1 - beta_2**t), checked against torch in test_torch_parity.py.
    assert not np.allclose(a.data, w0)


def test_defaults_config_and_kernel():
    opt = optimizers.AdamW()
    assert (opt.weight_decay, opt.name, opt.learning_rate) == (0.004, "adamw", 0.001)
    config = opt.get_config()
    assert optimizers.AdamW.from_config(config).get_config() == config
    w = pyfrozen.Parameter(np.ones(3), name="w")
    def counts(kernel):
        return sum(c for k, _, c, _ in _core.kernel_counts(this_thread=True) if k == kernel)

    before = counts("adamw"), counts("adam")
    opt.apply([np.ones(3)], [w])
    assert (counts("adamw"), counts("adam")) == (before[0] + 1, before[1])


def test_weight_decay_is_required():
    with pytest.raises(ValueError, match="Argument `weight_decay` must be a float. Received: "
                                         "weight_decay=None"):
        optimizers.AdamW(weight_decay=None)
