"""Models that TensorFlow.js itself writes, loaded here (tests/saving/tfjs_write.js).

The fixture folder holds one tfjs-written Sequential; these are written on the spot by
tfjs 4.22 under Node.js (an optional oracle, required in CI): a functional model with a
nested Sequential, a branch, Add and Concatenate and a frozen layer, and tfjs's
transfer-learning shape, a Sequential whose first layer is a frozen functional base.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

import pyfrozen
from pyfrozen.models import Model, Sequential

SCRIPT = Path(__file__).with_name("tfjs_write.js")


@pytest.fixture(scope="module")
def written(tfjs_node, tmp_path_factory) -> Path:
    node, env = tfjs_node
    folder = tmp_path_factory.mktemp("tfjs_written")
    done = subprocess.run([node, str(SCRIPT), str(folder)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return folder


def load(written: Path, name: str):
    io = json.loads((written / name / "io.json").read_text())
    model = pyfrozen.saving.load_model(written / name / "model.json")
    x = np.asarray(io["x"], np.float32).reshape(io["x_shape"])
    expected = np.asarray(io["predict"], np.float32).reshape(io["predict_shape"])
    return model, x, expected, io


def counts(model) -> list[int]:
    s = model.summary(print_fn=lambda _: None)
    return [s.total_params, s.trainable_params]


def test_functional_with_a_nested_sequential(written):
    model, x, expected, io = load(written, "functional")
    assert isinstance(model, Model) and isinstance(model.get_layer("base"), Sequential)
    assert [layer.name for layer in model.layers] == io["layers"]
    # Measured: 3.0e-8 (the transfer model below: 2.1e-7).
    assert float(np.abs(model.predict(x) - expected).max()) <= 1e-5
    assert counts(model) == io["counts"]
    assert not model.get_layer("base").get_layer("bc").trainable
    assert model.get_layer("base").get_layer("bb").trainable


def test_transfer_learning_shape_with_a_frozen_functional_base(written):
    model, x, expected, io = load(written, "transfer")
    assert isinstance(model, Sequential) and isinstance(model.layers[0], Model)
    assert [layer.name for layer in model.layers] == io["layers"]
    assert float(np.abs(model.predict(x) - expected).max()) <= 1e-5
    assert counts(model) == io["counts"]
    assert [w.name for w in model.trainable_weights] == ["kernel", "bias"]  # new_head's


def test_round_trip_through_pyfrozen_keeps_tfjs_s_topology(written, tmp_path):
    """Loaded from tfjs and exported again: the same topology tfjs wrote."""
    for name in ("functional", "transfer"):
        model, x, expected, _ = load(written, name)
        model.export(str(tmp_path / name), format="tfjs")
        ours = json.loads((tmp_path / name / "model.json").read_text())["modelTopology"]
        theirs = json.loads((written / name / "model.json").read_text())["modelTopology"]
        assert ours == theirs, name
        back = pyfrozen.saving.load_model(tmp_path / name / "model.json")
        np.testing.assert_array_equal(back.predict(x), model.predict(x))
