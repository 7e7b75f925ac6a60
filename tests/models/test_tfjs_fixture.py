"""A TensorFlow.js model and fine-tune, reproduced in pyfrozen from tfjs's own files.

tfjs 4.22.0 (CPU backend) saved a small Sequential CNN in the layers format
(``model.json``: topology + weights manifest, ``weights.bin``) and recorded in ``io.json``
its ``predict``, its parameter counts, and a fine-tune: with ``c1, bn1, dw, bn2`` frozen,
3 steps of SGD(0.05) on categorical cross-entropy (one batch of all 8 samples per step),
the 3 losses and every weight afterwards. The pyfrozen model is built from the topology and
gets tfjs's weights unchanged, through ``pyfrozen.saving.load_model("<folder>/model.json")``
(the mapping lives in pyfrozen.saving.tfjs_*, tested further in tests/saving/test_tfjs_*).

Freezing BatchNormalization is where tfjs and pyfrozen differ, on purpose. tfjs's
BatchNormalization ignores ``trainable``: during ``fit`` the frozen ``bn1``/``bn2`` still
normalize with batch statistics and update their moving statistics (only ``gamma``/``beta``
stay, as they are not in the trained list). pyfrozen follows Keras 3: a frozen BN layer runs
in inference mode (moving statistics, left untouched). So:

- ``test_frozen_fine_tune_follows_the_keras_3_rule``: pyfrozen's own semantics. The frozen
  weights stay bit-identical, kernels and gamma/beta equal tfjs's after-fit values exactly,
  and the only frozen values tfjs changed are bn1/bn2's moving statistics. Because bn1/bn2
  normalize differently, the losses differ from tfjs's by a measured 9.5e-4, 2.5e-3 and
  3.8e-3 (1.6111, 1.6077, 1.6044 against tfjs's 1.6102, 1.6053, 1.6006), and so do the
  trained weights (up to 7.5e-3): these are asserted to differ, not to match.
- ``test_tfjs_fine_tune_is_reproduced_with_frozen_bn_in_training_mode``: tfjs's behaviour
  rebuilt in pyfrozen: bn1/bn2 left trainable (training mode, batch statistics, moving
  statistics updated) with ``gamma``/``beta`` frozen by a full freeze mask. Then all three
  losses match tfjs to 1.2e-7 and every weight afterwards, bn1/bn2's moving statistics
  included, to 2.4e-7: the BN mode is the whole difference. tfjs's moving variance update
  uses the biased batch variance, as Keras 3 and pyfrozen (Bessel's correction would put
  bn1/bn3's moving variance off by 1.4e-5/2.1e-5, which the tolerance here rejects).

The loss: the model ends in softmax, so tfjs's ``categoricalCrossentropy`` takes
probabilities (divides each row by its sum, clips to [1e-7, 1 - 1e-7], takes the log) and
``fit`` takes the mean over the batch. ``softmax_cross_entropy(probabilities,
from_logits=False)`` is that formula; the same network without the final softmax trained on
logits (``from_logits=True``) gives the same losses to float32 rounding, also checked.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import pyfrozen
from pyfrozen import ops
from pyfrozen.io.tfjs_weights import read_manifest_weights
from pyfrozen.models import Sequential

FROZEN = ("c1", "bn1", "dw", "bn2")
LEARNING_RATE = 0.05
STEPS = 3


@pytest.fixture(scope="module")
def tfjs(peer_fixtures: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The fixture's folder, its weights by manifest name, and io.json; ``linear_head`` is
    a copy whose head has no softmax (the same weights), for the logits variant."""
    folder = peer_fixtures / "tfjs" / "small_cnn"
    model_json = json.loads((folder / "model.json").read_text())
    assert model_json["format"] == "layers-model"
    linear = tmp_path_factory.mktemp("linear_head")
    head = model_json["modelTopology"]["config"]["layers"][-1]["config"]
    assert head["activation"] == "softmax"
    head["activation"] = "linear"
    (linear / "model.json").write_text(json.dumps(model_json))
    shutil.copy(folder / "weights.bin", linear / "weights.bin")
    return {"folder": folder, "linear_head": linear,
            "weights": read_manifest_weights(str(folder), model_json["weightsManifest"],
                                             "fixture"),
            "io": json.loads((folder / "io.json").read_text())}


def loaded_model(tfjs: dict, head_activation: str | None = None) -> Sequential:
    """The fixture through the public API (``linear``: the copy without the softmax)."""
    folder = tfjs["linear_head"] if head_activation == "linear" else tfjs["folder"]
    return pyfrozen.saving.load_model(folder / "model.json")


def inputs(tfjs: dict) -> tuple[np.ndarray, np.ndarray]:
    io = tfjs["io"]
    x = np.asarray(io["x"], dtype=np.float32).reshape(io["x_shape"])
    one_hot = np.eye(len(io["after_frozen"]["head"][1]["data"]), dtype=np.float32)[io["labels"]]
    return x, one_hot


def counts(model: Sequential) -> list[int]:
    s = model.summary(print_fn=lambda _: None)
    return [s.total_params, s.trainable_params, s.non_trainable_params]


def tfjs_after(tfjs: dict, layer: str) -> list[np.ndarray]:
    """tfjs's weights of ``layer`` after the fine-tune, in the layer's weight order."""
    return [np.asarray(w["data"], np.float32).reshape(w["shape"])
            for w in tfjs["io"]["after_frozen"][layer]]


def fine_tune(model: Sequential, x: np.ndarray, one_hot: np.ndarray, from_logits: bool,
              trace_last: bool = False):
    """tfjs's fit: per step the mean cross-entropy of the whole batch, then plain SGD."""
    losses, trace = [], None
    for _ in range(STEPS):
        with pyfrozen.autograd.trace() as t:
            loss = ops.softmax_cross_entropy(model(x, training=True), one_hot,
                                             from_logits=from_logits)
            loss.backward()
        trace = t
        losses.append(float(loss.item()))
        with pyfrozen.no_grad():
            for weight in model.trainable_weights:
                if weight.grad is not None:
                    weight.copy_(weight - LEARNING_RATE * weight.grad)
                weight.grad = None
    return (losses, trace) if trace_last else losses


def test_layers_follow_the_topology(tfjs):
    model = loaded_model(tfjs)
    assert isinstance(model, Sequential) and model.name == "sequential_1"
    assert [layer.name for layer in model.layers] == [
        "c1", "bn1", "r1", "dw", "bn2", "r2", "pw", "bn3", "r3", "gap", "head"]
    assert model.get_layer("dw").strides == (2, 2) and model.get_layer("pw").padding == "valid"
    assert model.get_layer("r1").max_value == 6 and model.get_layer("head").units == 5
    assert not any(model.get_layer(n).use_bias for n in ("c1", "dw", "pw"))


def test_predict_matches_tfjs(tfjs, isa):
    model = loaded_model(tfjs)
    x, _ = inputs(tfjs)
    out = model.predict(x)
    expected = np.asarray(tfjs["io"]["predict"], np.float32).reshape(out.shape)
    # Measured: 3.0e-8 (probabilities around 0.2).
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_parameter_counts_match_tfjs(tfjs):
    model = loaded_model(tfjs)
    assert counts(model) == tfjs["io"]["counts_full"] == [629, 565, 64]
    for name in FROZEN:
        model.get_layer(name).trainable = False
    assert counts(model) == tfjs["io"]["counts_frozen"] == [629, 245, 384]


def test_frozen_fine_tune_follows_the_keras_3_rule(tfjs):
    """pyfrozen's rule: frozen BN in inference mode; see the module docstring for numbers."""
    model = loaded_model(tfjs)
    for name in FROZEN:
        model.get_layer(name).trainable = False
    x, one_hot = inputs(tfjs)
    losses, trace = fine_tune(model, x, one_hot, from_logits=False, trace_last=True)

    # Nothing below pw was differentiated: no backward kernel ran in the frozen part, and
    # pw computed its kernel's gradient only (no input gradient to pass down).
    for name in (*FROZEN, "r1", "r2"):
        assert not [r for r in trace.ran(layer=name) if r.pass_ != "forward"], name
    assert trace.ran(layer="pw", pass_="backward_weight")
    assert not trace.ran(layer="pw", pass_="backward_input")

    for name in FROZEN:
        layer = model.get_layer(name)
        for weight, after in zip(layer.weights, tfjs_after(tfjs, name), strict=True):
            loaded = tfjs["weights"][f"{name}/{weight.name}"]
            np.testing.assert_array_equal(weight.numpy(), loaded)  # untouched, bit for bit
            if weight.name.startswith("moving_"):  # tfjs moved these during fit
                assert np.abs(after - loaded).max() > 1e-3, (name, weight.name)
            else:  # kernels, gamma, beta: tfjs did not train them either
                np.testing.assert_array_equal(after, loaded)

    # bn1/bn2 normalize with moving, not batch, statistics: the losses cannot match.
    difference = np.abs(np.array(losses) - tfjs["io"]["losses_frozen_sgd"])
    assert np.all(difference > 5e-4) and np.all(difference < 1e-2), difference
    # The trained layers do train (and bn3, trainable, updates its moving statistics).
    for name in ("pw", "bn3", "head"):
        for weight in model.get_layer(name).weights:
            assert not np.array_equal(weight.numpy(), tfjs["weights"][f"{name}/{weight.name}"])


@pytest.mark.parametrize("from_logits", [False, True], ids=["probabilities", "logits"])
def test_tfjs_fine_tune_is_reproduced_with_frozen_bn_in_training_mode(tfjs, from_logits, isa):
    """tfjs's rule rebuilt: bn1/bn2 in training mode with gamma/beta frozen by masks."""
    model = loaded_model(tfjs, head_activation="linear" if from_logits else None)
    for name in ("c1", "dw"):
        model.get_layer(name).trainable = False
    for name in ("bn1", "bn2"):
        for weight in ("gamma", "beta"):
            model.get_layer(name).set_freeze_mask(weight, np.ones(8, dtype=bool))
    assert counts(model) == tfjs["io"]["counts_frozen"]  # masked elements are non-trainable
    x, one_hot = inputs(tfjs)
    losses = fine_tune(model, x, one_hot, from_logits=from_logits)

    # Measured: losses within 1.2e-7, weights within 2.4e-7, of tfjs's float32 run.
    np.testing.assert_allclose(losses, tfjs["io"]["losses_frozen_sgd"], rtol=2e-6, atol=0)
    for layer in model.layers:
        for weight, after in zip(layer.weights, tfjs_after(tfjs, layer.name), strict=True):
            np.testing.assert_allclose(weight.numpy(), after, rtol=2e-6, atol=1e-7,
                                       err_msg=f"{layer.name}/{weight.name}")
    for name in ("bn1", "bn2"):  # the frozen BN layers' moving statistics moved, as in tfjs
        layer = model.get_layer(name)
        assert not np.array_equal(layer.moving_mean.numpy(), tfjs["weights"][f"{name}/moving_mean"])
        np.testing.assert_array_equal(layer.gamma.numpy(), tfjs["weights"][f"{name}/gamma"])
