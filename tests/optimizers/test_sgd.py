"""SGD (sgd.py): Keras 3's update rules against numpy, config round trip, errors."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import optimizers


def keras_sgd(w, grads, lr, momentum=0.0, nesterov=False, wd=0.0):
    """Keras 3's SGD.update_step after base_optimizer's decoupled decay, in float64."""
    w, v = w.copy(), np.zeros_like(w)
    for g in grads:
        w = w - w * wd * lr
        if momentum:
            v = momentum * v - lr * g
            w = w + (momentum * v - lr * g if nesterov else v)
        else:
            w = w - lr * g
    return w


@pytest.mark.parametrize("kw", [dict(), dict(momentum=0.9), dict(momentum=0.8, nesterov=True),
                                dict(momentum=0.5, weight_decay=0.1), dict(weight_decay=0.3),
                                dict(nesterov=True)])
def test_matches_keras_update_rule(rng, kw):
    w0 = rng.standard_normal(7)
    grads = [rng.standard_normal(7) for _ in range(5)]
    w = pyfrozen.Parameter(w0.copy(), name="w")
    opt = optimizers.SGD(learning_rate=0.05, **kw)
    for g in grads:
        opt.apply([g], [w])
    expected = keras_sgd(w0, grads, 0.05, kw.get("momentum", 0.0), kw.get("nesterov", False),
                         kw.get("weight_decay", 0.0))
    np.testing.assert_allclose(w.data, expected, rtol=1e-13, atol=1e-15)
    slots = opt.state_of(w)
    assert ("momentum" in slots) == bool(kw.get("momentum"))


def test_defaults_and_config_round_trip():
    opt = optimizers.SGD()
    assert (opt.learning_rate, opt.momentum, opt.nesterov, opt.weight_decay, opt.name) == (
        0.01, 0.0, False, None, "SGD")
    opt = optimizers.SGD(0.1, momentum=0.9, nesterov=True, clipnorm=1.0, name="mine",
                         lr_multipliers={"conv*": 0.1})
    config = opt.get_config()
    assert config["momentum"] == 0.9 and config["nesterov"] is True
    again = optimizers.SGD.from_config(config)
    assert again.get_config() == config and again.iterations == 0


@pytest.mark.parametrize("momentum", [-0.1, 1.0, 1.5, "high"])
def test_bad_momentum(momentum):
    with pytest.raises(ValueError, match=r"`momentum` must be a float in \[0, 1\). "
                                         f"Received: momentum={momentum!r}"):
        optimizers.SGD(momentum=momentum)
