"""tfjs export refuses what the format cannot hold, before writing anything, and writes
its folder all or nothing."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import pyfrozen
from pyfrozen.io import tfjs_weights
from pyfrozen.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    GlobalAveragePooling2D,
    Input,
    Layer,
)
from pyfrozen.models import Model, Sequential
from pyfrozen.saving import UnsupportedTfjsConfig


def small(name: str = "m") -> Sequential:
    return Sequential([Input((6, 6, 2)), Conv2D(3, 3, name="conv"), BatchNormalization(name="bn"),
                       GlobalAveragePooling2D(name="gap"), Dense(2, name="head")], name=name)


def leftovers(folder) -> list[str]:
    return sorted(os.listdir(folder))


class Scale(Layer):
    def call(self, x):
        return x * 2.0


def _user_layer():
    return Sequential([Input((4,)), Scale(name="scale")])


def _grouped():
    return Sequential([Input((6, 6, 4)), Conv2D(4, 3, groups=2, name="g")])


def _keepdims():
    return Sequential([Input((6, 6, 4)), GlobalAveragePooling2D(keepdims=True, name="gap")])


def _float64():
    return Sequential([Input((4,), dtype="float64"), Dense(2, dtype="float64", name="d64")])


def _int_sequential():
    return Sequential([Input((4,), dtype="int32"), pyfrozen.layers.Embedding(9, 2)], name="ints")


def _callable_activation():
    return Sequential([Input((4,)), Dense(2, activation=lambda t: t, name="fn")])


def _duplicate_names():
    inner = Sequential([Input((4,)), Dense(4, name="dense")], name="inner")
    x = Input((4,))
    return Model(x, Dense(2, name="dense")(inner(x)), name="outer")


def _array_constant():
    init = pyfrozen.initializers.Constant(np.ones((4, 2)))
    return Sequential([Input((4,)), Dense(2, kernel_initializer=init, name="c")])


def _nan_option():
    return Sequential([Input((4,)), pyfrozen.layers.Rescaling(float("nan"), name="r")],
                      name="nan")


def _subclassed():
    class Net(Model):
        def __init__(self):
            super().__init__(name="net")
            self.d = Dense(2, name="d")

        def call(self, x):
            return self.d(x)
    net = Net()
    net(np.zeros((1, 4), np.float32))
    return net


@pytest.mark.parametrize(("build", "message"), [
    (_user_layer, r"layer 'scale' \(Scale\): the tfjs layers format has no such layer class"),
    (_grouped, r"layer 'g' \(Conv2D\): option groups=2 has no equivalent in TensorFlow.js"),
    (_keepdims, r"layer 'gap' \(GlobalAveragePooling2D\): option keepdims=True"),
    (_float64, r"dtype 'float64'"),
    (_callable_activation, r"layer 'fn' \(Dense\): a custom activation function"),
    (_int_sequential, r"model 'ints' \(Sequential\): a int32 input .* functional Model"),
    (_duplicate_names, r"two weights would be named 'dense/kernel'"),
    (_subclassed, r"model 'net' \(Net\) is a subclassed model"),
    (_array_constant, r"layer 'c' \(Dense\): kernel_initializer is a Constant of an array"),
    (_nan_option, r"model 'nan': its config cannot be written as JSON"),
], ids=["user_layer", "groups", "keepdims", "float64", "callable_activation", "int_sequential",
        "duplicate_weight_names", "subclassed", "array_constant", "nan_option"])
def test_unsupported_models_raise_before_writing(tmp_path, build, message):
    model = build()
    with pytest.raises(UnsupportedTfjsConfig, match=message):
        model.export(str(tmp_path / "out"), format="tfjs")
    assert leftovers(tmp_path) == []


def test_unbuilt_model_raises(tmp_path):
    with pytest.raises(ValueError, match="not built yet"):
        Sequential([Dense(2)]).export(str(tmp_path / "out"), format="tfjs")
    assert leftovers(tmp_path) == []


def test_a_failure_mid_write_leaves_nothing(tmp_path, monkeypatch):
    model = small()
    model.export(str(tmp_path / "out"), format="tfjs")
    before = {p: (tmp_path / "out" / p).read_bytes() for p in leftovers(tmp_path / "out")}

    def broken(folder, weights, shard_bytes):
        (tmp_path / "marker").write_text(folder)
        with open(os.path.join(folder, "group1-shard1of1.bin"), "wb") as f:
            f.write(b"half")
        raise OSError("disk full")
    monkeypatch.setattr(pyfrozen.saving.tfjs_file, "write_shards", broken)
    for w in model.weights:
        w.data[...] = 7.0
    with pytest.raises(OSError, match="disk full"):
        model.export(str(tmp_path / "out"), format="tfjs")
    assert not os.path.exists((tmp_path / "marker").read_text())  # the temporary is gone
    assert leftovers(tmp_path) == ["marker", "out"]
    assert {p: (tmp_path / "out" / p).read_bytes() for p in leftovers(tmp_path / "out")} == before


def test_reexport_replaces_every_shard(tmp_path):
    big = Sequential([Input((300,)), Dense(300, name="d")])  # 361,200 bytes
    big.export(str(tmp_path / "out"), format="tfjs", shard_bytes=100_000)
    assert len(list((tmp_path / "out").glob("*.bin"))) == 4
    small().export(str(tmp_path / "out"), format="tfjs")
    assert leftovers(tmp_path / "out") == ["group1-shard1of1.bin", "model.json"]
    assert leftovers(tmp_path) == ["out"]
    back = pyfrozen.saving.load_model(tmp_path / "out" / "model.json")
    assert back.name == "m"


def test_a_folder_with_other_files_is_not_replaced(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"holds files this export would not write "
                                              r"\(notes.txt\)"):
        small().export(str(tmp_path / "out"), format="tfjs")
    assert leftovers(tmp_path / "out") == ["notes.txt"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="is not a folder"):
        small().export(str(tmp_path / "file"), format="tfjs")
    with pytest.raises(FileExistsError, match="overwrite=False"):
        small().export(str(tmp_path / "out"), format="tfjs", overwrite=False)


def test_missing_parent_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        small().export(str(tmp_path / "no" / "out"), format="tfjs")


def test_write_shards_checks_its_arguments(tmp_path):
    with pytest.raises(TypeError, match="'w' has dtype float64"):
        tfjs_weights.write_shards(str(tmp_path), [("w", np.zeros(3))])
    with pytest.raises(ValueError, match="shard_bytes must be positive"):
        tfjs_weights.write_shards(str(tmp_path), [], shard_bytes=0)


def test_empty_model_writes_one_empty_shard(tmp_path):
    """tfjs's own writer does the same for a model without weights."""
    model = Sequential([Input((4,)), pyfrozen.layers.ReLU(name="r")])
    back = pyfrozen.saving.load_model(_export(model, tmp_path))
    doc = json.loads((tmp_path / "out" / "model.json").read_text())
    assert doc["weightsManifest"] == [{"paths": ["group1-shard1of1.bin"], "weights": []}]
    x = np.array([[-1.0, 2.0, -3.0, 4.0]], np.float32)
    np.testing.assert_array_equal(back.predict(x), model.predict(x))


def _export(model, tmp_path):
    model.export(str(tmp_path / "out"), format="tfjs")
    return tmp_path / "out" / "model.json"
