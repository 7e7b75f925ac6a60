"""Adam (adam.py): Keras 3's formula against numpy, AMSGrad, config, errors."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import optimizers


def keras_adam(w, grads, lr, b1=0.9, b2=0.999, eps=1e-7, wd=0.0, amsgrad=False):
    """Keras 3's Adam.update_step after the decoupled decay, in float64."""
    w, m, v, v_hat = w.copy(), np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        w = w - w * wd * lr
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        if amsgrad:
            v_hat = np.maximum(v_hat, v)
        w = w - (m * alpha) / (np.sqrt(v_hat if amsgrad else v) + eps)
    return w


CASES = [dict(), dict(beta_1=0.8, beta_2=0.99, epsilon=1e-3), dict(weight_decay=0.1),
         dict(amsgrad=True), dict(amsgrad=True, weight_decay=0.05)]


@pytest.mark.parametrize("kw", CASES)
def test_matches_keras_formula(rng, kw):
    w0 = rng.standard_normal(9)
    # shrinking gradients so that AMSGrad's maximum differs from v
    grads = [rng.standard_normal(9) * 0.5**k for k in range(6)]
    w = pyfrozen.Parameter(w0.copy(), name="w")
    opt = optimizers.Adam(learning_rate=0.01, **kw)
    for g in grads:
        opt.apply([g], [w])
    expected = keras_adam(w0, grads, 0.01, kw.get("beta_1", 0.9), kw.get("beta_2", 0.999),
                          kw.get("epsilon", 1e-7), kw.get("weight_decay", 0.0),
                          kw.get("amsgrad", False))
    np.testing.assert_allclose(w.data, expected, rtol=1e-12)
    assert ("velocity_hat" in opt.state_of(w)) == kw.get("amsgrad", False)


def test_amsgrad_differs_from_adam_when_gradients_shrink(rng):
    w0 = rng.standard_normal(5)
    grads = [np.ones(5) * 0.5**k for k in range(6)]
    out = []
    for amsgrad in (False, True):
        w = pyfrozen.Parameter(w0.copy(), name="w")
        opt = optimizers.Adam(0.01, amsgrad=amsgrad)
        for g in grads:
            opt.apply([g], [w])
        out.append(w.data)
    assert np.all(np.abs(out[0] - w0) > np.abs(out[1] - w0))


def test_amsgrad_in_float32_leaves_masked_elements_and_nan_gradients_alone(rng):
    mask = np.array([True, False, True, False])
    data = np.array([-0.0, 1.0, 1e-40, 2.0], np.float32)
    w = pyfrozen.Parameter(data.copy(), name="w", freeze_mask=mask)
    opt = optimizers.Adam(0.1, amsgrad=True, weight_decay=0.5)
    for _ in range(3):
        opt.apply([np.array([np.nan, 1.0, np.inf, -1.0], np.float32)], [w])
    view = w.data.view(np.uint32)
    np.testing.assert_array_equal(view[mask], data.view(np.uint32)[mask])
    assert np.all(np.isfinite(w.data)) and w.dtype == np.float32
    for slot in ("momentum", "velocity", "velocity_hat"):
        assert np.all(opt.state_of(w)[slot][mask] == 0)


def test_defaults_and_config_round_trip():
    opt = optimizers.Adam()
    assert (opt.learning_rate, opt.beta_1, opt.beta_2, opt.epsilon, opt.amsgrad, opt.name) == (
        0.001, 0.9, 0.999, 1e-7, False, "adam")
    config = optimizers.Adam(0.01, beta_1=0.5, amsgrad=True, global_clipnorm=2.0).get_config()
    assert optimizers.Adam.from_config(config).get_config() == config
    assert {"beta_1", "beta_2", "epsilon", "amsgrad", "global_clipnorm"} <= set(config)


@pytest.mark.parametrize("arg", ["beta_1", "beta_2"])
def test_bad_betas(arg):
    with pytest.raises(ValueError, match=rf"`{arg}` must be a float in \[0, 1\). "
                                         rf"Received: {arg}=1.0"):
        optimizers.Adam(**{arg: 1.0})
    with pytest.raises(ValueError, match=r"`epsilon` must be a float >= 0"):
        optimizers.Adam(epsilon=-1e-7)
