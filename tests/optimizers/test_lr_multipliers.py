"""Per-layer learning-rate multipliers (lr_multipliers.py): glob patterns over layer
names resolved against a model, first match wins, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import optimizers
from pyfrozen.layers import BatchNormalization, Conv2D, Dense, Flatten, Input
from pyfrozen.models import Model, Sequential


def make_model() -> Model:
    base = Sequential([Input((4, 4, 1)), Conv2D(2, 3, name="conv_pw_1"),
                       BatchNormalization(name="conv_pw_1_bn"), Conv2D(2, 1, name="conv_pw_12"),
                       Flatten(name="flat")], name="base")
    inputs = Input((4, 4, 1))
    return Model(inputs, Dense(3, name="head")(base(inputs)), name="net")


def test_patterns_resolve_to_weight_paths_first_match_wins():
    model = make_model()
    opt = optimizers.SGD(0.1, lr_multipliers={"conv_pw_1": 0.1, "conv_pw_1*": 0.5,
                                              "*/bias": 0.0})
    resolved = opt.resolve_lr_multipliers(model)
    assert resolved == {
        "base/conv_pw_1/kernel": 0.1, "base/conv_pw_1/bias": 0.1,
        "base/conv_pw_1_bn/gamma": 0.5, "base/conv_pw_1_bn/beta": 0.5,
        "base/conv_pw_1_bn/moving_mean": 0.5, "base/conv_pw_1_bn/moving_variance": 0.5,
        "base/conv_pw_12/kernel": 0.5, "base/conv_pw_12/bias": 0.5,
        "head/kernel": 1.0, "head/bias": 0.0}


def test_the_rate_and_the_decay_are_scaled_per_layer():
    model = make_model()
    opt = optimizers.SGD(0.1, weight_decay=0.5, lr_multipliers={"conv_pw_12": 0.25,
                                                                "head": 0.0})
    opt.resolve_lr_multipliers(model)
    weights = model.trainable_weights
    before = [w.data.copy() for w in weights]
    grads = [np.ones_like(w.data) for w in weights]
    opt.apply(grads, weights)
    pw12 = model.get_layer("base").get_layer("conv_pw_12")
    head = model.get_layer("head")
    for w, old in zip(weights, before, strict=True):
        rate = 0.1 * (0.25 if any(w is p for p in pw12.weights) else
                      0.0 if any(w is p for p in head.weights) else 1.0)
        np.testing.assert_allclose(w.data, old - old * 0.5 * rate - rate, rtol=1e-6)


def test_setting_new_multipliers_re_resolves_against_the_model():
    model = make_model()
    opt = optimizers.Adam(lr_multipliers={"head": 0.1})
    opt.resolve_lr_multipliers(model)
    opt.lr_multipliers = {"conv*": 0.5}
    assert opt._multiplier(model.get_layer("head").weights[0]) == 1.0
    assert opt.lr_multipliers == {"conv*": 0.5}
    assert opt.get_config()["lr_multipliers"] == {"conv*": 0.5}
    with pytest.raises(ValueError, match=r"pattern\(s\) \['dense_9\*'\] match no weight of "
                                         r"model 'net'.*its layers are \['base', 'conv_pw_1'"):
        opt.lr_multipliers = {"dense_9*": 0.5}
    assert opt.lr_multipliers == {"conv*": 0.5}  # a failed set changes nothing


def test_errors():
    model = make_model()
    opt = optimizers.SGD(lr_multipliers={"head": 0.1, "head*": 0.5})
    with pytest.raises(ValueError, match=r"\['head\*'\] match no weight.*first match wins"):
        opt.resolve_lr_multipliers(model)
    w = model.get_layer("head").weights[0]
    unresolved = optimizers.SGD(lr_multipliers={"head": 0.1})
    with pytest.raises(ValueError, match=r"does not know the layer of weight 'kernel' .*"
                                         r"resolve_lr_multipliers\(model\)"):
        unresolved.apply([np.ones(w.shape, np.float32)], [w])
    with pytest.raises(TypeError, match="needs the model"):
        unresolved.resolve_lr_multipliers([w])
    with pytest.raises(ValueError, match=r"the multiplier of 'head' must be a finite number >= "
                                         r"0. Received: -1"):
        optimizers.SGD(lr_multipliers={"head": -1})
    with pytest.raises(TypeError, match="must be a dict"):
        optimizers.SGD(lr_multipliers=[("head", 0.1)])


def test_a_weight_outside_the_model_is_refused_not_trained_at_full_rate():
    model = make_model()
    opt = optimizers.SGD(lr_multipliers={"head": 0.1})
    opt.resolve_lr_multipliers(model)
    stray = pyfrozen.Parameter(np.ones(2), name="stray")
    with pytest.raises(ValueError, match="weight 'stray'"):
        opt.apply([np.ones(2)], [stray])
    np.testing.assert_array_equal(stray.data, 1.0)
