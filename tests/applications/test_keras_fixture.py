"""pyfrozen's MobileNet against files written by Keras 3 itself (keras3/ of the peer fixtures).

Keras 3.15.1 (TensorFlow backend) saved ``MobileNet(alpha=0.25, input_shape=(96, 96, 3),
include_top=False, pooling="avg")`` with every BatchNormalization statistic moved away from
its default, as a weights-only ``.weights.h5`` and as a ``.keras`` zip (``config.json`` +
``model.weights.h5``), plus ``predict(x)`` in inference mode. The weights move over
unchanged (no transposes): Keras and pyfrozen share layouts (HWIO kernels, channels last).

The mapping between a Keras 3 weight file and a model lives in pyfrozen.saving.keras_weights
(each layer is the group ``layers/<class in snake case, counted>/vars``); these tests check
it against the file's own record of the layer names and load through the public API.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pyfrozen.applications import MobileNet
from pyfrozen.saving.keras_weights import owners

# Computation-defining arguments, compared between config.json and pyfrozen's get_config.
IGNORED_CONFIG_KEYS = {"name", "dtype", "trainable"}


def h5_datasets(h5py, h5file) -> dict[str, np.ndarray]:
    """Every dataset of the file by its path."""
    found: dict[str, np.ndarray] = {}

    def visit(path, obj):
        if isinstance(obj, h5py.Dataset):
            found[path] = obj[()]

    h5file.visititems(visit)
    return found


@pytest.fixture(scope="module")
def keras_dir(peer_fixtures: Path) -> Path:
    return peer_fixtures / "keras3"


@pytest.fixture(scope="module")
def config(keras_dir: Path) -> dict:
    with zipfile.ZipFile(keras_dir / "mobilenet_025_96.keras") as archive:
        return json.loads(archive.read("config.json"))


def open_weights(h5py, keras_dir: Path, source: str):
    """The weights-only file, or the copy inside the .keras zip (read from memory)."""
    if source == "weights.h5":
        return h5py.File(keras_dir / "mobilenet_025_96.weights.h5", "r")
    with zipfile.ZipFile(keras_dir / "mobilenet_025_96.keras") as archive:
        return h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")


def build_mobilenet():
    return MobileNet(alpha=0.25, input_shape=(96, 96, 3), include_top=False, pooling="avg")


def paired_layers(model, config: dict) -> list[tuple]:
    """(pyfrozen layer, Keras layer spec) in order, after checking both lists line up."""
    specs = config["config"]["layers"]
    assert [type(layer).__name__ for layer in model.layers] == [s["class_name"] for s in specs]
    return list(zip(model.layers, specs, strict=True))


def test_group_names_follow_the_config_order(h5py, keras_dir):
    places = [(path, layer) for path, layer in owners(build_mobilenet()) if path]
    # Auto-named layers (the input layer) carry this process's counter: compare named ones.
    groups = {layer.name: path for path, layer in places if layer._explicit_name}
    assert groups["conv_pw_13_bn"] == "layers/batch_normalization_26"
    assert groups["conv_dw_13"] == "layers/depthwise_conv2d_12"
    assert groups["conv_pw_13_relu"] == "layers/re_lu_26"
    with open_weights(h5py, keras_dir, "weights.h5") as f:
        assert {f"layers/{g}" for g in f["layers"]} == {path for path, _ in places}
        for name, group in groups.items():  # Keras's own record of the real name
            assert f[f"{group}/vars"].attrs["name"] == name


def test_mobilenet_has_the_keras_layer_configuration(config):
    model = build_mobilenet()
    compared = set()
    for layer, spec in paired_layers(model, config):
        ours, theirs = layer.get_config(), spec["config"]
        for key in ours.keys() & theirs.keys() - IGNORED_CONFIG_KEYS:
            if "initializer" in key:
                continue  # pyfrozen names initializers by string: they never touch loaded weights
            # JSON round trip: tuples become lists as in config.json.
            assert json.loads(json.dumps(ours[key])) == theirs[key], (layer.name, key)
            compared.add(key)
    assert {"strides", "padding", "epsilon", "momentum", "max_value", "use_bias",
            "depth_multiplier", "keepdims"} <= compared


@pytest.mark.parametrize("source", ["weights.h5", "keras zip"])
def test_keras_weights_give_keras_predictions(h5py, keras_dir, source, isa, tmp_path):
    model = build_mobilenet()
    with open_weights(h5py, keras_dir, source) as f:
        datasets = h5_datasets(h5py, f)
    path = keras_dir / "mobilenet_025_96.weights.h5"
    if source != "weights.h5":
        with zipfile.ZipFile(keras_dir / "mobilenet_025_96.keras") as archive:
            path = tmp_path / "zip.weights.h5"
            path.write_bytes(archive.read("model.weights.h5"))
    model.load_weights(str(path))  # raises unless every Keras variable finds its place
    total = sum(v.size for v in datasets.values())
    assert model.count_params() == total == 218_544
    summary = model.summary(print_fn=lambda _: None)
    assert summary.total_params == total
    # The BN statistics were moved off their defaults: a loader dropping them is caught.
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            assert np.any(layer.moving_mean.numpy() != 0)
            assert np.any(layer.moving_variance.numpy() != 1)
            assert np.all(layer.moving_variance.numpy() > 0)

    data = np.load(keras_dir / "mobilenet_025_96_io.npz")
    x, expected = data["x"], data["y"]
    out = model.predict(x)
    assert out.dtype == np.float32 and out.shape == expected.shape == (4, 256)
    # Measured: max |error| 8.9e-8 against max |y| 0.68 (1.3e-7 relative), on both ISA paths.
    scale = float(np.abs(expected).max())
    assert float(np.abs(out - expected).max()) <= 2e-6 * scale
