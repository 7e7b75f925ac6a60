"""Loading TensorFlow.js layers models: the file tfjs 4.22 wrote, re-sharded copies,
converter-style functional topologies (nested models counted from node 1), frozen layers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import pyfrozen
from pyfrozen.io.tfjs_weights import read_manifest_weights
from pyfrozen.models import Model, Sequential


@pytest.fixture(scope="module")
def small_cnn(peer_fixtures: Path) -> dict:
    folder = peer_fixtures / "tfjs" / "small_cnn"
    io = json.loads((folder / "io.json").read_text())
    return {"folder": folder, "doc": json.loads((folder / "model.json").read_text()),
            "x": np.asarray(io["x"], np.float32).reshape(io["x_shape"]),
            "predict": np.asarray(io["predict"], np.float32), "io": io}


def copy_with(small_cnn: dict, folder: Path, edit=None) -> Path:
    """A copy of the fixture in ``folder``; ``edit(doc)`` changes its model.json."""
    folder.mkdir(exist_ok=True)
    doc = json.loads(json.dumps(small_cnn["doc"]))
    if edit is not None:
        edit(doc)
    (folder / "model.json").write_text(json.dumps(doc))
    for group in doc["weightsManifest"]:
        for path in group["paths"]:
            source = small_cnn["folder"] / path
            if source.exists():
                shutil.copy(source, folder / path)
    return folder / "model.json"


def counts(model) -> list[int]:
    s = model.summary(print_fn=lambda _: None)
    return [s.total_params, s.trainable_params, s.non_trainable_params]


def test_tfjs_written_model_loads_through_the_public_api(small_cnn, isa):
    path = small_cnn["folder"] / "model.json"
    model = pyfrozen.models.load_model(path)
    assert isinstance(model, Sequential) and model.name == "sequential_1"
    assert [layer.name for layer in model.layers] == [
        "c1", "bn1", "r1", "dw", "bn2", "r2", "pw", "bn3", "r3", "gap", "head"]
    out = model.predict(small_cnn["x"])
    # Measured: 3.0e-8.
    assert float(np.abs(out.ravel() - small_cnn["predict"]).max()) <= 1e-4
    assert counts(model) == small_cnn["io"]["counts_full"] == [629, 565, 64]


def test_every_weight_is_the_manifests_bit_for_bit(small_cnn):
    folder = small_cnn["folder"]
    model = pyfrozen.saving.load_model(str(folder / "model.json"))
    stored = read_manifest_weights(str(folder), small_cnn["doc"]["weightsManifest"], "fixture")
    seen = []
    for layer in model.layers:
        for w in layer.weights:
            np.testing.assert_array_equal(w.numpy(), stored[f"{layer.name}/{w.name}"])
            seen.append(f"{layer.name}/{w.name}")
    assert sorted(seen) == sorted(stored)


def test_layer_configs_follow_the_topology(small_cnn):
    model = pyfrozen.saving.load_model(small_cnn["folder"] / "model.json")
    dw, pw, bn = model.get_layer("dw"), model.get_layer("pw"), model.get_layer("bn1")
    assert dw.strides == (2, 2) and dw.padding == "same" and not dw.use_bias
    assert pw.padding == "valid" and pw.kernel_size == (1, 1) and pw.filters == 16
    assert bn.epsilon == 1e-3 and bn.momentum == 0.99
    assert model.get_layer("r1").max_value == 6 and model.get_layer("head").units == 5
    assert model.get_layer("head").get_config()["activation"] == "softmax"


@pytest.mark.parametrize("cuts", [[1], [5, 700, 2000], [4 * 17, 4 * 18]],
                         ids=["shard_per_byte_1", "mid_weight_cuts", "weight_boundaries"])
def test_several_shards_load_the_same(small_cnn, tmp_path, cuts):
    """tfjs's shards split one byte stream anywhere, even inside a weight."""
    data = (small_cnn["folder"] / "weights.bin").read_bytes()
    bounds = [0, *cuts, len(data)]
    names = [f"group1-shard{i + 1}of{len(bounds) - 1}.bin" for i in range(len(bounds) - 1)]
    for name, start, stop in zip(names, bounds, bounds[1:], strict=False):
        (tmp_path / name).write_bytes(data[start:stop])

    def edit(doc):
        doc["weightsManifest"][0]["paths"] = names
    model = pyfrozen.saving.load_model(copy_with(small_cnn, tmp_path, edit))
    reference = pyfrozen.saving.load_model(small_cnn["folder"] / "model.json")
    for a, b in zip(model.weights, reference.weights, strict=True):
        assert a.numpy().tobytes() == b.numpy().tobytes()


def test_dot_slash_shard_paths(small_cnn, tmp_path):
    """tfjs's browser writer names shards ``./model.weights.bin``."""
    def edit(doc):
        doc["weightsManifest"][0]["paths"] = ["./model.weights.bin"]
    path = copy_with(small_cnn, tmp_path, edit)
    shutil.copy(small_cnn["folder"] / "weights.bin", tmp_path / "model.weights.bin")
    out = pyfrozen.saving.load_model(path, compile=False).predict(small_cnn["x"])
    assert float(np.abs(out.ravel() - small_cnn["predict"]).max()) <= 1e-4


def test_weights_split_over_several_groups(small_cnn, tmp_path):
    """The converter writes one group per shard set; the names still find their layers."""
    data = (small_cnn["folder"] / "weights.bin").read_bytes()
    entries = small_cnn["doc"]["weightsManifest"][0]["weights"]
    cut = 3  # c1/kernel, bn1/gamma, bn1/beta in group 1, the rest in group 2
    size = sum(4 * int(np.prod(e["shape"])) for e in entries[:cut])
    (tmp_path / "a.bin").write_bytes(data[:size])
    (tmp_path / "b.bin").write_bytes(data[size:])

    def edit(doc):
        doc["weightsManifest"] = [{"paths": ["a.bin"], "weights": entries[:cut]},
                                  {"paths": ["b.bin"], "weights": entries[cut:]}]
    model = pyfrozen.saving.load_model(copy_with(small_cnn, tmp_path, edit))
    out = model.predict(small_cnn["x"])
    assert float(np.abs(out.ravel() - small_cnn["predict"]).max()) <= 1e-4


def test_trainable_false_in_the_config_freezes_the_layer(small_cnn, tmp_path):
    frozen = ("c1", "bn1", "dw", "bn2")

    def edit(doc):
        for spec in doc["modelTopology"]["config"]["layers"]:
            if spec["config"]["name"] in frozen:
                spec["config"]["trainable"] = False
    model = pyfrozen.saving.load_model(copy_with(small_cnn, tmp_path, edit))
    assert [model.get_layer(n).trainable for n in frozen] == [False] * 4
    assert model.get_layer("pw").trainable
    assert counts(model) == small_cnn["io"]["counts_frozen"] == [629, 245, 384]


def test_converter_style_topology_with_model_config(small_cnn, tmp_path):
    """tfjs_converter nests the topology under ``model_config`` beside ``training_config``."""
    def edit(doc):
        topology = doc["modelTopology"]
        doc["modelTopology"] = {"keras_version": "2.15.0", "backend": "tensorflow",
                                "model_config": {"class_name": topology["class_name"],
                                                 "config": topology["config"]},
                                "training_config": {"loss": "categorical_crossentropy"}}
    model = pyfrozen.saving.load_model(copy_with(small_cnn, tmp_path, edit))
    out = model.predict(small_cnn["x"])
    assert float(np.abs(out.ravel() - small_cnn["predict"]).max()) <= 1e-4


def test_keras_2_style_sequential(small_cnn, tmp_path):
    """What tfjs_converter writes from a Keras 2 file: an explicit InputLayer first, dtype
    on every layer, Keras 2 option names at their defaults, Keras's initializer names."""
    def edit(doc):
        layers = doc["modelTopology"]["config"]["layers"]
        shape = layers[0]["config"].pop("batch_input_shape")
        layers.insert(0, {"class_name": "InputLayer", "config": {
            "batch_input_shape": shape, "dtype": "float32", "sparse": False, "ragged": False,
            "name": "input_1"}})
        for spec in layers[1:]:
            spec["config"]["dtype"] = "float32"
        layers[1]["config"]["groups"] = 1
        layers[1]["config"]["kernel_initializer"] = {"class_name": "GlorotUniform",
                                                     "config": {"seed": None}}
        layers[-2]["config"]["keepdims"] = False
    model = pyfrozen.saving.load_model(copy_with(small_cnn, tmp_path, edit))
    assert [layer.name for layer in model.layers][:2] == ["c1", "bn1"]
    out = model.predict(small_cnn["x"])
    assert float(np.abs(out.ravel() - small_cnn["predict"]).max()) <= 1e-4
    assert model.get_layer("c1").get_config()["kernel_initializer"] == "glorot_uniform"


def _layer(name, class_name, config, inbound):
    return {"name": name, "class_name": class_name,
            "config": {"name": name, "trainable": True, **config}, "inbound_nodes": inbound}


def functional_topology() -> dict:
    """A functional model written as Keras 2 / tfjs write it: a nested model ``base`` whose
    outer call is its node 1 (node 0 is its own inside), a branch and an Add."""
    conv = {"filters": 4, "kernel_size": [3, 3], "strides": [1, 1], "padding": "same",
            "data_format": "channels_last", "dilation_rate": [1, 1], "activation": "relu",
            "use_bias": True, "kernel_initializer": {"class_name": "VarianceScaling", "config": {
                "scale": 1, "mode": "fan_avg", "distribution": "normal", "seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}},
            "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
            "kernel_constraint": None, "bias_constraint": None}
    inner_in = {"batch_input_shape": [None, 8, 8, 3], "dtype": "float32", "sparse": False}
    base = {"name": "base", "layers": [
        _layer("base_in", "InputLayer", inner_in, []),
        _layer("base_conv", "Conv2D", conv, [[["base_in", 0, 0, {}]]])],
        "input_layers": [["base_in", 0, 0]], "output_layers": [["base_conv", 0, 0]]}
    layers = [
        _layer("img", "InputLayer", inner_in, []),
        {"name": "base", "class_name": "Model", "config": base,
         "inbound_nodes": [[["img", 0, 0, {}]]]},
        _layer("skip", "Conv2D", conv, [[["img", 0, 0, {}]]]),
        _layer("add", "Add", {}, [[["base", 1, 0, {}], ["skip", 0, 0, {}]]]),
        _layer("cat", "Concatenate", {"axis": -1}, [[["add", 0, 0, {}], ["base", 1, 0, {}]]]),
    ]
    return {"class_name": "Model", "config": {"name": "net", "layers": layers,
                                              "input_layers": [["img", 0, 0]],
                                              "output_layers": [["cat", 0, 0]]}}


def write_functional(tmp_path, rng, topology=None) -> tuple[Path, dict]:
    shapes = {"base_conv/kernel": [3, 3, 3, 4], "base_conv/bias": [4],
              "skip/kernel": [3, 3, 3, 4], "skip/bias": [4]}
    values = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    (tmp_path / "w.bin").write_bytes(b"".join(v.tobytes() for v in values.values()))
    doc = {"modelTopology": topology or functional_topology(), "format": "layers-model",
           "weightsManifest": [{"paths": ["w.bin"], "weights": [
               {"name": k, "shape": s, "dtype": "float32"} for k, s in shapes.items()]}]}
    (tmp_path / "model.json").write_text(json.dumps(doc))
    return tmp_path / "model.json", values


def test_a_keras_2_model_level_trainable_flag(tmp_path, rng):
    topology = functional_topology()
    topology["config"]["layers"][1]["config"]["trainable"] = False  # the nested "base"
    path, _ = write_functional(tmp_path, rng, topology)
    model = pyfrozen.saving.load_model(path)
    assert not model.get_layer("base").trainable
    assert not model.get_layer("base").get_layer("base_conv").trainable
    assert model.get_layer("skip").trainable


def test_functional_topology_with_a_nested_model(tmp_path, rng):
    path, values = write_functional(tmp_path, rng)
    model = pyfrozen.saving.load_model(path)
    assert isinstance(model, Model) and isinstance(model.get_layer("base"), Model)
    base = model.get_layer("base")
    np.testing.assert_array_equal(base.get_layer("base_conv").kernel.numpy(),
                                  values["base_conv/kernel"])
    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    inner = base.predict(x)
    skip = model.get_layer("skip")(x, training=False).numpy()
    np.testing.assert_allclose(model.predict(x), np.concatenate([inner + skip, inner], -1),
                               rtol=1e-6, atol=1e-6)


def test_transfer_learning_from_tfjs_back_to_tfjs(small_cnn, tmp_path, rng):
    """The tfjs user's path: import, freeze the base, new head, fit, export for the browser."""
    imported = pyfrozen.saving.load_model(small_cnn["folder"] / "model.json")
    base = Model(imported.inputs, imported.get_layer("gap").output, name="base")
    base.trainable = False
    frozen = {w.name + str(i): w.numpy().copy() for i, w in enumerate(base.weights)}
    x = pyfrozen.layers.Input((16, 16, 3), name="image")
    y = pyfrozen.layers.Dense(3, activation="softmax", name="new_head")(base(x))
    model = Model(x, y, name="tuned")
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    images = rng.standard_normal((16, 16, 16, 3)).astype(np.float32)
    labels = np.eye(3, dtype=np.float32)[rng.integers(0, 3, 16)]
    head_before = model.get_layer("new_head").kernel.numpy().copy()
    history = model.fit(images, labels, epochs=3, batch_size=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert not np.array_equal(model.get_layer("new_head").kernel.numpy(), head_before)
    for i, w in enumerate(base.weights):  # the imported base, BN statistics included
        np.testing.assert_array_equal(w.numpy(), frozen[w.name + str(i)])

    model.export(str(tmp_path / "tuned"), format="tfjs")
    back = pyfrozen.saving.load_model(tmp_path / "tuned" / "model.json")
    np.testing.assert_array_equal(back.predict(images), model.predict(images))
    assert [w.name for w in back.trainable_weights] == ["kernel", "bias"]
