"""MobileNetV2 and ResNet50 against Keras 3's own builders (the ``keras`` oracle fixture).

Keras builds the same architecture with ``weights=None``; its random weights (and BN
statistics moved off their defaults) are copied into pyfrozen's model layer by layer, by
name and in each layer's variable order, and both predict on the same random images.
Small inputs keep this quick; the odd sizes exercise Keras's stride-2 padding rule
(``imagenet_utils.correct_pad``: one row less on top for even sizes).
"""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter

import numpy as np
import pytest

import pyfrozen
from pyfrozen.applications import MobileNetV2, ResNet50
from pyfrozen.layers.layer import snake_case

# Layers Keras names by class and a process-wide counter ("global_average_pooling2d_3"):
# their names are compared without the counter.
AUTO_NAMED = {"InputLayer", "GlobalAveragePooling2D", "GlobalMaxPooling2D"}
# Configuration keys that describe no computation (or pyfrozen writes as a plain string).
NOT_COMPARED = re.compile(r"name|dtype|trainable|.*_(initializer|regularizer|constraint)")

CASES = [
    ("MobileNetV2", dict(alpha=0.35, input_shape=(96, 96, 3), classes=10)),
    ("MobileNetV2", dict(alpha=0.35, input_shape=(72, 64, 3), include_top=False)),
    ("MobileNetV2", dict(alpha=0.35, input_shape=(72, 64, 3), include_top=False,
                         pooling="avg")),
    ("MobileNetV2", dict(alpha=0.5, input_shape=(64, 72, 3), include_top=False,
                         pooling="max")),
    ("ResNet50", dict(input_shape=(64, 64, 3), classes=10, classifier_activation=None)),
    ("ResNet50", dict(input_shape=(48, 40, 3), include_top=False)),
    ("ResNet50", dict(input_shape=(48, 40, 3), include_top=False, pooling="avg")),
    ("ResNet50", dict(input_shape=(40, 48, 3), include_top=False, pooling="max")),
]
BUILDERS = {"MobileNetV2": MobileNetV2, "ResNet50": ResNet50}


def base_name(layer) -> str:
    name = layer.name
    return re.sub(r"_\d+$", "", name) if type(layer).__name__ in AUTO_NAMED else name


def randomize(keras_model, rng: np.random.Generator) -> None:
    """Moves every BN variable off its default, so a dropped statistic is caught."""
    for layer in keras_model.layers:
        if type(layer).__name__ != "BatchNormalization":
            continue
        n = layer.gamma.shape[0]
        layer.gamma.assign(rng.uniform(0.5, 1.5, n).astype(np.float32))
        layer.beta.assign(rng.uniform(-0.2, 0.2, n).astype(np.float32))
        layer.moving_mean.assign(rng.uniform(-0.2, 0.2, n).astype(np.float32))
        layer.moving_variance.assign(rng.uniform(0.5, 2.0, n).astype(np.float32))


def copy_weights(keras_model, model) -> int:
    """Keras's variables into pyfrozen's layer of the same name; returns the values copied."""
    copied = 0
    for theirs in keras_model.layers:
        ours = model.get_layer(theirs.name) if theirs.weights else None
        if ours is None:
            continue
        assert len(ours.weights) == len(theirs.weights), theirs.name
        for target, source in zip(ours.weights, theirs.weights, strict=True):
            # torch backend; np.array(variable) trips numpy 2's copy-keyword warning
            value = source.value.detach().cpu().numpy()
            assert tuple(target.shape) == value.shape, (theirs.name, source.name)
            with pyfrozen.no_grad():
                target.copy_(value)
            copied += value.size
    return copied


def comparable_config(layer) -> dict:
    config = layer.get_config()
    return {k: v for k, v in config.items() if not NOT_COMPARED.fullmatch(k)}


def assert_same_layers(keras_model, model) -> None:
    assert [base_name(layer) for layer in model.layers] == [
        base_name(layer) for layer in keras_model.layers]
    assert [type(layer).__name__ for layer in model.layers] == [
        type(layer).__name__ for layer in keras_model.layers]
    for ours, theirs in zip(model.layers[1:], keras_model.layers[1:], strict=True):
        mine, keras_config = comparable_config(ours), comparable_config(theirs)
        for key in mine.keys() & keras_config.keys():
            # JSON round trip: tuples and lists compare equal, as in a config.json.
            assert json.loads(json.dumps(mine[key])) == json.loads(
                json.dumps(keras_config[key])), (ours.name, key)


@pytest.mark.parametrize(("builder", "kwargs"), CASES,
                         ids=[f"{b}-{i}" for i, (b, _) in enumerate(CASES)])
def test_predictions_match_keras(keras, builder, kwargs):
    rng = np.random.default_rng(7)
    keras.utils.set_random_seed(7)  # Keras's initializers are otherwise unseeded
    keras_model = getattr(keras.applications, builder)(weights=None, **kwargs)
    randomize(keras_model, rng)
    model = BUILDERS[builder](**kwargs)
    assert model.name == keras_model.name
    assert_same_layers(keras_model, model)
    assert copy_weights(keras_model, model) == keras_model.count_params()
    assert model.count_params() == keras_model.count_params()
    assert model.outputs[0].shape == tuple(keras_model.outputs[0].shape)

    x = rng.uniform(-1, 1, (2, *kwargs["input_shape"])).astype(np.float32)
    # A direct inference call: Keras's predict() loop trips numpy 2's copy-keyword warning.
    expected = keras_model(x, training=False).detach().cpu().numpy()
    scale = float(np.abs(expected).max())
    assert scale > 0
    before = pyfrozen.get_isa()
    try:
        for isa in pyfrozen.supported_isas():  # each kernel path this CPU has (cheap here)
            pyfrozen.set_isa(isa)
            out = model.predict(x)
            assert out.dtype == np.float32 and out.shape == expected.shape
            # float32 through 150-180 layers, summation order only: measured <= 1.4e-6
            # relative.
            assert float(np.abs(out - expected).max()) <= 2e-5 * scale, isa
    finally:
        pyfrozen.set_isa(before)


@pytest.mark.parametrize("mode,module", [("tf", "mobilenet_v2"), ("caffe", "resnet50")])
def test_preprocess_input_matches_keras(keras, mode, module):
    images = np.random.default_rng(3).integers(0, 256, (2, 5, 4, 3)).astype(np.uint8)
    ours = getattr(pyfrozen.applications, module).preprocess_input(images)
    theirs = getattr(keras.applications, module).preprocess_input(images.astype(np.float32))
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours, keras.ops.convert_to_numpy(theirs))


@pytest.mark.parametrize("builder", ["MobileNetV2", "ResNet50"])
def test_keras_weight_file_groups_follow_our_layer_order(keras, h5py, tmp_path, builder):
    # A Keras 3 .weights.h5 numbers its groups per class in the order of model.layers
    # (``layers/conv2d_7/vars``), writing the layer's real name beside it: a reader
    # walking our layers must meet them in Keras's order, else two same-shaped layers
    # (a ResNet block's shortcut and last convolutions) would swap silently.
    kwargs = dict(input_shape=(32, 32, 3), include_top=False)
    keras_model = getattr(keras.applications, builder)(weights=None, **kwargs)
    path = tmp_path / "model.weights.h5"
    with warnings.catch_warnings():  # Keras's torch backend trips numpy 2's copy warning
        warnings.simplefilter("ignore", DeprecationWarning)
        keras_model.save_weights(str(path))
    seen: Counter[str] = Counter()
    expected = {}
    for layer in BUILDERS[builder](**kwargs).layers:
        base = snake_case(type(layer).__name__)
        expected[base if seen[base] == 0 else f"{base}_{seen[base]}"] = base_name(layer)
        seen[base] += 1
    with h5py.File(path, "r") as f:
        stored = {group: f[f"layers/{group}/vars"].attrs["name"] for group in f["layers"]}
    # one group per layer, the input layer's included (its name without Keras's counter)
    stored["input_layer"] = re.sub(r"_\d+$", "", stored["input_layer"])
    assert expected == stored


@pytest.mark.parametrize("builder", ["MobileNetV2", "ResNet50"])
def test_keras_files_load_with_keras_predictions(keras, h5py, tmp_path, builder):
    # Keras 3 writes the files itself: weights into our builder (``weights=path``), the
    # whole model through pyfrozen.saving.load_model.
    kwargs = dict(input_shape=(48, 40, 3), classes=7)
    rng = np.random.default_rng(11)
    keras.utils.set_random_seed(11)
    keras_model = getattr(keras.applications, builder)(weights=None, **kwargs)
    randomize(keras_model, rng)
    weights, whole = tmp_path / "model.weights.h5", tmp_path / "model.keras"
    with warnings.catch_warnings():  # Keras's torch backend trips numpy 2's copy warning
        warnings.simplefilter("ignore", DeprecationWarning)
        keras_model.save_weights(str(weights))
        keras_model.save(str(whole))
    x = rng.uniform(-1, 1, (2, *kwargs["input_shape"])).astype(np.float32)
    expected = keras_model(x, training=False).detach().cpu().numpy()
    for model in (BUILDERS[builder](weights=str(weights), **kwargs),
                  pyfrozen.saving.load_model(str(whole))):
        assert model.count_params() == keras_model.count_params()
        assert float(np.abs(model.predict(x) - expected).max()) <= 1e-4
