"""BatchNormalization layer: Keras contract, Keras 3's frozen rule, masks, trace, summary."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen.autograd import trace
from pyfrozen.layers import BatchNormalization, Conv2D, Dense, Input
from pyfrozen.models import Model, Sequential
from pyfrozen.testing import check_layer


def keras_batch_norm(x, gamma, beta, mm, mv, momentum, epsilon):
    """Keras's training step in numpy: output and the updated moving statistics."""
    flat = x.reshape(-1, x.shape[-1])
    mean, var = flat.mean(axis=0), flat.var(axis=0)  # biased variance, as Keras
    y = (x - mean) / np.sqrt(var + epsilon) * gamma + beta
    return y, momentum * mm + (1 - momentum) * mean, momentum * mv + (1 - momentum) * var


def make_bn(x, seed=0, **kwargs):
    """A built float64 BN with random gamma, beta and (positive) moving statistics."""
    rng = np.random.default_rng(seed)
    bn = BatchNormalization(dtype="float64", **kwargs)
    bn(x)
    c = x.shape[-1]
    values = {"gamma": rng.uniform(0.5, 2, c), "beta": rng.standard_normal(c),
              "moving_mean": rng.standard_normal(c), "moving_variance": rng.uniform(0.5, 2, c)}
    bn.set_weights([values[w.name] for w in bn.weights])
    return bn


# ---- the Keras contract ----------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, input_shape, training, n_trainable, n_params", [
    ({}, (4, 3), True, 2, 12),
    ({}, (3, 4), None, 2, 16),
    (dict(center=False, momentum=0.9), (2, 3, 3, 2), True, 1, 6),
    (dict(scale=False, epsilon=1e-2, beta_initializer="ones"), (2, 2, 2, 3), False, 1, 9),
    (dict(axis=3), (2, 2, 2, 2), True, 2, 8),
])
def test_check_layer(kwargs, input_shape, training, n_trainable, n_params):
    report = check_layer(BatchNormalization, kwargs, input_shape, training=training,
                         expected_output_shape=input_shape,
                         expected_num_trainable_weights=n_trainable,
                         expected_num_non_trainable_weights=2, expected_num_params=n_params)
    expected = [name for name, flag in (("gamma", kwargs.get("scale", True)),
                                        ("beta", kwargs.get("center", True))) if flag]
    assert [w.name for w in report.layer.weights] == [*expected, "moving_mean",
                                                      "moving_variance"]


def test_keras_weights_defaults_and_config():
    bn = BatchNormalization()
    bn(np.ones((2, 5), np.float32))
    assert [w.name for w in bn.trainable_weights] == ["gamma", "beta"]
    assert [w.name for w in bn.non_trainable_weights] == ["moving_mean", "moving_variance"]
    for w, value in zip(bn.weights, (1.0, 0.0, 0.0, 1.0), strict=True):
        assert w.shape == (5,) and w.dtype == np.float32
        np.testing.assert_array_equal(w.numpy(), value)
    assert not bn.moving_mean.requires_grad and not bn.moving_variance.requires_grad
    config = bn.get_config()
    assert (config["axis"], config["momentum"], config["epsilon"]) == (-1, 0.99, 1e-3)
    assert config["center"] and config["scale"]
    assert BatchNormalization.from_config(config).get_config() == config
    bn.trainable = False
    bn.trainable = True  # the moving statistics never become trainable
    assert [w.name for w in bn.trainable_weights] == ["gamma", "beta"]


def test_default_call_is_inference():
    x = np.random.default_rng(1).standard_normal((4, 3))
    bn = make_bn(x)
    before = bn.get_weights()
    y = bn(x).numpy()
    want = (x - before[2]) / np.sqrt(before[3] + 1e-3) * before[0] + before[1]
    np.testing.assert_allclose(y, want, rtol=1e-13)
    for a, b in zip(before, bn.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


# ---- Keras 3's rule: batch statistics only when training AND trainable ------------------------


def test_trainable_bn_training_updates_moving_stats_as_keras():
    rng = np.random.default_rng(2)
    x1, x2 = rng.standard_normal((2, 3, 3, 4)) * 3 + 1, rng.standard_normal((2, 3, 3, 4))
    bn = make_bn(x1, momentum=0.9, epsilon=1e-2)
    gamma, beta, mm, mv = bn.get_weights()
    for x in (x1, x2):
        y = bn(x, training=True).numpy()
        want, mm, mv = keras_batch_norm(x, gamma, beta, mm, mv, 0.9, 1e-2)
        np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(bn.moving_mean.numpy(), mm, rtol=1e-12)
        np.testing.assert_allclose(bn.moving_variance.numpy(), mv, rtol=1e-12)


def test_frozen_bn_with_training_true_is_inference_and_leaves_stats_bit_identical():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 2, 2, 4)) * 2 + 0.5
    bn = make_bn(x)
    bn.trainable = False
    stats = [bn.moving_mean.numpy().tobytes(), bn.moving_variance.numpy().tobytes()]
    xt = pyfrozen.tensor(x, requires_grad=True)
    y_train = bn(xt, training=True)
    y_train.backward(np.ones(x.shape))
    assert [bn.moving_mean.numpy().tobytes(), bn.moving_variance.numpy().tobytes()] == stats
    np.testing.assert_array_equal(y_train.numpy(), bn(x, training=False).numpy())
    # Inference-mode backward: a per-channel scale, no batch reduction.
    gamma, _, _, mv = bn.get_weights()
    np.testing.assert_allclose(xt.grad.numpy(), np.broadcast_to(gamma / np.sqrt(mv + 1e-3),
                                                                x.shape), rtol=1e-13)
    assert bn.gamma.grad is None and bn.beta.grad is None


def test_unfreezing_restores_training_mode():
    x = np.random.default_rng(4).standard_normal((5, 3))
    bn = make_bn(x)
    bn.trainable = False
    before = bn.moving_mean.numpy().copy()
    bn(x, training=True)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), before)
    bn.trainable = True
    bn(x, training=True)
    assert not np.array_equal(bn.moving_mean.numpy(), before)


def test_trace_of_frozen_bn_over_trainable_conv_shows_input_gradient_only():
    x = np.random.default_rng(5).standard_normal((2, 6, 6, 3))
    conv = Conv2D(4, 3, dtype="float64")
    bn = make_bn(conv(x))
    traces = {}
    for frozen in (False, True):
        bn.trainable = not frozen
        with trace() as tr:
            bn(conv(x), training=True).backward(np.ones((2, 4, 4, 4)))
        traces[frozen] = tr
    frozen, trained = traces[True], traces[False]
    assert {r.pass_ for r in frozen.ran(layer=bn.name)} == {"forward", "backward_input"}
    assert {r.pass_ for r in trained.ran(layer=bn.name)} == {
        "forward", "backward_input", "backward_weight", "backward_bias"}
    assert frozen.by_layer()[bn.name] == 4 * 8  # the per-channel scale, float64
    assert trained.by_layer()[bn.name] >= 2 * 4 * 4 * 4 * 8  # x and more
    assert frozen.ran(layer=conv.name, pass_="backward_weight")  # the conv below still trains


def test_frozen_bn_on_frozen_input_records_nothing():
    x = np.random.default_rng(6).standard_normal((4, 3))
    bn = make_bn(x)
    bn.trainable = False
    with trace() as tr:
        y = bn(x, training=True)
    assert tr.nodes == 0 and not y.requires_grad


# ---- freeze masks on gamma / beta --------------------------------------------------------------


def test_gamma_frozen_by_mask_keeps_training_mode_and_saves_nothing():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 3))
    bn = make_bn(x, momentum=0.5)
    gamma, beta, mm, mv = bn.get_weights()
    bn.set_freeze_mask("gamma", np.ones(3, bool))
    assert [w.name for w in bn.trainable_weights] == ["beta"]
    assert bn.summary_note() == "BN: batch stats when training"
    dy = rng.standard_normal(x.shape)
    with trace() as tr:
        y = bn(x, training=True)
        y.backward(dy)
    want, mm, mv = keras_batch_norm(x, gamma, beta, mm, mv, 0.5, 1e-3)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(bn.moving_mean.numpy(), mm, rtol=1e-12)  # still training mode
    assert bn.gamma.grad is None
    np.testing.assert_allclose(bn.beta.grad.numpy(), dy.sum(axis=0), rtol=1e-12)
    assert {r.pass_ for r in tr.ran(layer=bn.name)} == {"forward", "backward_bias"}
    assert tr.by_layer().get(bn.name, 0) == 0  # dbeta = sum(dy) needs nothing


def test_partial_gamma_mask_zeroes_frozen_elements_only():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 3, 3))
    dy = rng.standard_normal(x.shape)
    full, masked = make_bn(x, seed=1), make_bn(x, seed=1)
    masked.set_freeze_mask("gamma", np.array([True, False, True]))
    for bn in (full, masked):
        bn(x, training=True).backward(dy)
    g_full, g_masked = full.gamma.grad.numpy(), masked.gamma.grad.numpy()
    np.testing.assert_array_equal(g_masked[[0, 2]], 0.0)
    np.testing.assert_allclose(g_masked[1], g_full[1], rtol=1e-12)
    np.testing.assert_allclose(masked.beta.grad.numpy(), full.beta.grad.numpy(), rtol=1e-12)
    assert masked.gamma.trainable_count() == 1


# ---- summary, nesting, training inheritance ----------------------------------------------------


def _bn_row(model):
    text = str(model.summary(print_fn=lambda _: None))
    return next(line for line in text.splitlines() if "BatchNormalization" in line)


def test_summary_shows_the_mode():
    model = Sequential([Input((4, 4, 2)), Conv2D(3, 1), BatchNormalization(name="bn_sum")])
    assert "Y (BN: batch stats when training)" in _bn_row(model)
    model.get_layer("bn_sum").trainable = False
    assert "N (BN: inference)" in _bn_row(model)
    model.get_layer("bn_sum").trainable = True
    model.get_layer("bn_sum").set_freeze_mask("gamma", np.ones(3, bool))
    assert "3 of 6 (BN: batch stats when training)" in _bn_row(model)


def test_frozen_base_model_keeps_bn_in_inference_while_outer_trains():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 5, 5, 2))
    inp = Input((5, 5, 2), dtype="float64")
    base_bn = BatchNormalization(dtype="float64")
    base = Model(inp, base_bn(Conv2D(3, 3, dtype="float64")(inp)))
    base.trainable = False
    head_bn = BatchNormalization(dtype="float64")
    outer_in = Input((5, 5, 2), dtype="float64")
    outer = Model(outer_in, Dense(2, dtype="float64")(head_bn(base(outer_in))))
    stats = base_bn.get_weights()
    outer(x, training=True)
    for a, b in zip(stats, base_bn.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(head_bn.moving_mean.numpy(), 0.0)  # inherits training=True


def test_call_site_training_false_holds_for_a_trainable_bn():
    x = np.random.default_rng(10).standard_normal((4, 3))
    inp = Input((3,), dtype="float64")
    bn = BatchNormalization(dtype="float64")
    model = Model(inp, bn(inp, training=False))
    model(x, training=True)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), 0.0)


# ---- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(axis=-2), ValueError, r"only the channels-last axis \(axis=-1\); received axis=-2"),
    (dict(axis="1"), TypeError, r"Expected an int value for `axis`. Received: axis='1'"),
    (dict(axis=[1, 2]), TypeError, r"axis=\[1, 2\]"),
    (dict(momentum=1.5), ValueError, r"`momentum`.*\[0, 1\].*momentum=1.5"),
    (dict(momentum="0.9"), ValueError, r"momentum='0.9'"),
    (dict(epsilon=-1e-3), ValueError, r"`epsilon`.*>= 0.*epsilon=-0.001"),
    (dict(epsilon=float("nan")), ValueError, r"epsilon=nan"),
])
def test_argument_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        BatchNormalization(**kwargs)


def test_build_validation():
    with pytest.raises(ValueError, match=r"only the channels-last axis \(axis=-1\); received "
                                         r"axis=1 for input shape \(2, 3, 4, 5\)"):
        BatchNormalization(axis=1)(np.ones((2, 3, 4, 5)))
    with pytest.raises(ValueError, match=r"expected ndim >= 2"):
        BatchNormalization()(np.ones(3))
    with pytest.raises(ValueError, match=r"Axis -1 of input tensor should have a defined"):
        BatchNormalization()(Input((None,)))
    bn = BatchNormalization()
    bn(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"expected axis -1 of input shape to have value 3, "
                       r"but received input with shape \(2, 4\)"):
        bn(np.ones((2, 4)))
