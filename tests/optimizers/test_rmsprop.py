"""RMSprop (rmsprop.py): Keras 3's formula (plain, momentum, centered), config, errors."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import optimizers


def keras_rmsprop(w, grads, lr, rho=0.9, momentum=0.0, eps=1e-7, centered=False, wd=0.0):
    w, vel, mom, avg = w.copy(), np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    for g in grads:
        w = w - w * wd * lr
        vel = rho * vel + (1 - rho) * g * g
        if centered:
            avg = rho * avg + (1 - rho) * g
            denominator = vel - avg * avg + eps
        else:
            denominator = vel + eps
        increment = lr * g / np.sqrt(denominator)
        if momentum > 0:
            mom = momentum * mom + increment
            w = w - mom
        else:
            w = w - increment
    return w


CASES = [dict(), dict(rho=0.8, epsilon=1e-4), dict(momentum=0.7), dict(centered=True),
         dict(momentum=0.5, centered=True, weight_decay=0.02)]


@pytest.mark.parametrize("kw", CASES)
def test_matches_keras_formula(rng, kw):
    w0 = rng.standard_normal(8)
    grads = [rng.standard_normal(8) for _ in range(5)]
    w = pyfrozen.Parameter(w0.copy(), name="w")
    opt = optimizers.RMSprop(learning_rate=0.01, **kw)
    for g in grads:
        opt.apply([g], [w])
    expected = keras_rmsprop(w0, grads, 0.01, kw.get("rho", 0.9), kw.get("momentum", 0.0),
                             kw.get("epsilon", 1e-7), kw.get("centered", False),
                             kw.get("weight_decay", 0.0))
    np.testing.assert_allclose(w.data, expected, rtol=1e-12)
    names = set(opt.state_of(w)) - {"step"}
    assert names == {"velocity"} | ({"momentum"} if kw.get("momentum") else set()) | (
        {"average_gradient"} if kw.get("centered") else set())


def test_defaults_and_config_round_trip():
    opt = optimizers.RMSprop()
    assert (opt.learning_rate, opt.rho, opt.momentum, opt.epsilon, opt.centered, opt.name) == (
        0.001, 0.9, 0.0, 1e-7, False, "rmsprop")
    config = optimizers.RMSprop(0.1, rho=0.5, momentum=0.2, centered=True).get_config()
    assert optimizers.RMSprop.from_config(config).get_config() == config


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"`rho` must be a float in \[0, 1\). Received: rho=2"):
        optimizers.RMSprop(rho=2)
    with pytest.raises(ValueError, match=r"`momentum` must be a float in \[0, 1\)"):
        optimizers.RMSprop(momentum=-0.5)
