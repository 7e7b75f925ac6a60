"""``model.export(folder, format="tfjs")``: the layers format tf.loadLayersModel reads.

No tfjs runtime exists here, so the file is checked two ways: against the model.json
tfjs 4.22 itself wrote for the same architecture (keys, classes, configs, manifest), and
by round trips pyfrozen -> tfjs -> pyfrozen (bit-identical weights, same predictions).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

import pyfrozen
from pyfrozen.io.tfjs_weights import SHARD_BYTES
from pyfrozen.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Flatten,
    GlobalAveragePooling2D,
    Input,
    ReLU,
)
from pyfrozen.models import Model, Sequential


def randomize(model, seed: int = 0):
    """Every weight (moving statistics too) away from its initial value."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        w.data[...] = rng.uniform(0.5, 1.5, w.shape).astype(w.data.dtype)
    return model


def round_trip(model, folder: Path, **kwargs):
    model.export(str(folder), format="tfjs", **kwargs)
    return pyfrozen.saving.load_model(folder / "model.json")


def assert_same_model(a, b, x):
    assert [w.name for w in a.weights] == [w.name for w in b.weights]
    for wa, wb in zip(a.weights, b.weights, strict=True):
        assert wa.numpy().dtype == wb.numpy().dtype
        assert wa.numpy().tobytes() == wb.numpy().tobytes()  # bit for bit
    np.testing.assert_array_equal(a.predict(x), b.predict(x))


def small_cnn_like_the_fixture() -> Sequential:
    """The fixture's architecture, with tfjs's default initializers (glorot_normal)."""
    g = {"kernel_initializer": "glorot_normal"}
    return Sequential([
        Input((16, 16, 3)),
        Conv2D(8, 3, padding="same", use_bias=False, name="c1", **g),
        BatchNormalization(name="bn1"), ReLU(6, name="r1"),
        DepthwiseConv2D(3, strides=2, padding="same", use_bias=False, name="dw",
                        depthwise_initializer="glorot_normal"),
        BatchNormalization(name="bn2"), ReLU(6, name="r2"),
        Conv2D(16, 1, use_bias=False, name="pw", **g),
        BatchNormalization(name="bn3"), ReLU(6, name="r3"),
        GlobalAveragePooling2D(name="gap"),
        Dense(5, activation="softmax", name="head", **g)], name="sequential_1")


# --------------------------------------------------------------------------- the file's form


def test_model_json_matches_what_tfjs_wrote(peer_fixtures, tmp_path):
    """Same top-level keys, topology (classes, config keys and values, initializers), and
    the same manifest entries in the same order: only the writer's name differs."""
    fixture = json.loads((peer_fixtures / "tfjs" / "small_cnn" / "model.json").read_text())
    small_cnn_like_the_fixture().export(str(tmp_path / "out"), format="tfjs")
    ours = json.loads((tmp_path / "out" / "model.json").read_text())
    assert list(ours) == list(fixture)
    assert ours["format"] == "layers-model" and ours["convertedBy"] is None
    assert ours["generatedBy"].startswith("pyfrozen ")
    assert ours["modelTopology"] == fixture["modelTopology"]
    # Key order too, as tfjs's getConfig writes it (a reader of the JSON text sees it).
    for a, b in zip(ours["modelTopology"]["config"]["layers"],
                    fixture["modelTopology"]["config"]["layers"], strict=True):
        assert list(a["config"]) == list(b["config"]), a["config"]["name"]
    assert [g["weights"] for g in ours["weightsManifest"]] == [
        g["weights"] for g in fixture["weightsManifest"]]
    assert ours["weightsManifest"][0]["paths"] == ["group1-shard1of1.bin"]


def test_initializers_are_written_as_tfjs_does(tmp_path):
    """Keras's presets are VarianceScaling; a truncated normal is tfjs's 'normal'."""
    model = Sequential([Input((4,)), Dense(3, kernel_initializer="he_uniform",
                                           bias_initializer="ones", name="d")])
    model.export(str(tmp_path / "m"), format="tfjs")
    config = json.loads((tmp_path / "m" / "model.json").read_text())
    dense = config["modelTopology"]["config"]["layers"][0]["config"]
    assert dense["kernel_initializer"] == {"class_name": "VarianceScaling", "config": {
        "scale": 2.0, "mode": "fan_in", "distribution": "uniform", "seed": None}}
    assert dense["bias_initializer"] == {"class_name": "Ones", "config": {}}
    back = pyfrozen.saving.load_model(tmp_path / "m" / "model.json").get_layer("d")
    assert back.get_config()["kernel_initializer"] == "he_uniform"
    # tfjs's Orthogonal throws on any seed: written without it (the weights are stored).
    model = Sequential([Input((4,)), Dense(3, kernel_initializer=pyfrozen.initializers.Orthogonal(
        gain=2.0, seed=3), name="o")])
    model.export(str(tmp_path / "o"), format="tfjs")
    config = json.loads((tmp_path / "o" / "model.json").read_text())
    assert config["modelTopology"]["config"]["layers"][0]["config"]["kernel_initializer"] == {
        "class_name": "Orthogonal", "config": {"gain": 2.0, "seed": None}}


# --------------------------------------------------------------------------- round trips


def test_sequential_round_trip(tmp_path, rng):
    model = randomize(small_cnn_like_the_fixture())
    back = round_trip(model, tmp_path / "m")
    assert isinstance(back, Sequential) and back.name == "sequential_1"
    assert [layer.name for layer in back.layers] == [layer.name for layer in model.layers]
    assert_same_model(model, back, rng.standard_normal((3, 16, 16, 3)).astype(np.float32))


def branches() -> Model:
    L = pyfrozen.layers  # noqa: N806
    x = Input((12, 12, 3), name="img")
    a = Conv2D(6, 3, padding="same", activation="relu", name="a")(x)
    b = Conv2D(6, 1, name="b")(x)
    s = L.Add(name="sum")([a, b])
    p = L.ZeroPadding2D(((0, 1), (0, 1)), name="pad")(s)
    p = DepthwiseConv2D(3, strides=2, name="dw")(p)
    pooled = L.MaxPooling2D(name="pool")(s)
    c = L.Concatenate(name="cat")([pooled, BatchNormalization(name="bn")(p)])
    y = Dense(4, activation="softmax", name="head")(L.Dropout(0.3, name="drop")(Flatten()(c)))
    return Model(x, y, name="branches")


def test_functional_round_trip_with_branches_add_concatenate(tmp_path, rng):
    model = randomize(branches())
    back = round_trip(model, tmp_path / "m")
    assert isinstance(back, Model) and back.name == "branches"
    assert sorted(layer.name for layer in back.layers) == sorted(
        layer.name for layer in model.layers)
    assert_same_model(model, back, rng.standard_normal((2, 12, 12, 3)).astype(np.float32))
    topology = json.loads((tmp_path / "m" / "model.json").read_text())["modelTopology"]
    entries = {e["name"]: e for e in topology["config"]["layers"]}
    assert topology["class_name"] == "Model"
    assert entries["sum"]["inbound_nodes"] == [[["a", 0, 0, {}], ["b", 0, 0, {}]]]
    assert topology["config"]["input_layers"] == [["img", 0, 0]]


def nested_base() -> Model:
    base = Sequential([Input((10, 10, 3)), Conv2D(4, 3, name="bc"), BatchNormalization(name="bb"),
                       ReLU(6.0, name="br")], name="base")
    x = Input((10, 10, 3), name="img")
    y = GlobalAveragePooling2D(name="gap")(base(x))
    return Model(x, Dense(3, name="head")(y), name="outer")


def test_nested_base_round_trip_and_node_numbering(tmp_path, rng):
    model = randomize(nested_base())
    back = round_trip(model, tmp_path / "m")
    assert isinstance(back.get_layer("base"), Sequential)
    assert_same_model(model, back, rng.standard_normal((2, 10, 10, 3)).astype(np.float32))
    topology = json.loads((tmp_path / "m" / "model.json").read_text())["modelTopology"]
    entries = {e["name"]: e for e in topology["config"]["layers"]}
    # tfjs counts a nested model's calls from 1 (node 0 is its inside).
    assert entries["gap"]["inbound_nodes"] == [[["base", 1, 0, {}]]]
    names = [w["name"] for w in json.loads((tmp_path / "m" / "model.json").read_text())[
        "weightsManifest"][0]["weights"]]
    assert "bc/kernel" in names and not any(n.startswith("base/") for n in names)


def test_functional_base_inside_a_sequential(tmp_path, rng):
    x = Input((8, 8, 3), name="in")
    base = Model(x, Conv2D(5, 3, name="conv")(x), name="fbase")
    model = Sequential([base, Flatten(name="flat"), Dense(2, name="out")], name="s")
    model.build((None, 8, 8, 3))
    randomize(model)
    back = round_trip(model, tmp_path / "m")
    assert isinstance(back.layers[0], Model)
    assert_same_model(model, back, rng.standard_normal((2, 8, 8, 3)).astype(np.float32))


def mobilenet_with_a_new_head() -> Model:
    """tfjs's transfer-learning shape: a MobileNet base (no top) and a new head."""
    base = pyfrozen.applications.MobileNet(input_shape=(96, 96, 3), alpha=0.25,
                                           include_top=False, pooling="avg", weights=None)
    x = Input((96, 96, 3), name="image")
    return Model(x, Dense(3, activation="softmax", name="new_head")(base(x)), name="tuned")


def test_mobilenet_round_trip_in_several_shards(tmp_path, rng):
    """MobileNet 0.25 at 96 holds 0.86 MB: shards of 128 KiB make it 7 of them."""
    model = randomize(mobilenet_with_a_new_head())
    model.layers[1].trainable = False
    limit = 128 * 1024
    back = round_trip(model, tmp_path / "m", shard_bytes=limit)
    doc = json.loads((tmp_path / "m" / "model.json").read_text())
    paths = doc["weightsManifest"][0]["paths"]
    sizes = [(tmp_path / "m" / p).stat().st_size for p in paths]
    assert len(paths) == 7 and paths[0] == "group1-shard1of7.bin"
    assert all(s == limit for s in sizes[:-1]) and 0 < sizes[-1] <= limit
    assert sum(sizes) == 4 * sum(w.numpy().size for w in model.weights)
    assert_same_model(model, back, rng.standard_normal((2, 96, 96, 3)).astype(np.float32))
    assert [w.name for w in back.trainable_weights] == ["kernel", "bias"]  # the new head's


def test_default_shards_are_4_mib(tmp_path):
    model = Sequential([Input((1100,)), Dense(1000, name="big")])  # 4.2 MiB of weights
    model.export(str(tmp_path / "m"), format="tfjs")
    sizes = sorted((tmp_path / "m").glob("*.bin"))
    assert [p.name for p in sizes] == ["group1-shard1of2.bin", "group1-shard2of2.bin"]
    assert sizes[0].stat().st_size == SHARD_BYTES == 4 * 1024 * 1024
    assert sizes[1].stat().st_size == 4 * (1100 * 1000 + 1000) - SHARD_BYTES


# --------------------------------------------------------------------------- freezing


def test_trainable_flags_are_written_and_read_back(tmp_path):
    model = randomize(nested_base())
    model.get_layer("base").trainable = False  # freezes bc, bb, br
    back = round_trip(model, tmp_path / "m")
    doc = json.loads((tmp_path / "m" / "model.json").read_text())
    base = {e["name"]: e for e in doc["modelTopology"]["config"]["layers"]}["base"]
    assert [spec["config"]["trainable"] for spec in base["config"]["layers"]] == [False] * 3
    for name in ("bc", "bb"):
        assert not back.get_layer("base").get_layer(name).trainable
    assert back.get_layer("head").trainable
    assert [w.name for w in back.trainable_weights] == ["kernel", "bias"]
    # tfjs's order: trainable weights first, then the frozen ones and moving statistics.
    names = [w["name"] for w in doc["weightsManifest"][0]["weights"]]
    assert names[:2] == ["head/kernel", "head/bias"]


# --------------------------------------------------------------------------- every class


def every_layer_class() -> Model:
    """One model holding every layer class the tfjs format and pyfrozen share."""
    from pyfrozen import layers as L

    x = Input((8, 8, 3), name="img")
    y = L.Rescaling(1 / 127.5, offset=-1.0, name="rescale")(x)
    y = L.SeparableConv2D(4, 3, padding="same", depth_multiplier=2, name="sep")(y)
    y = L.ReLU6(name="relu6")(y)
    y = L.AveragePooling2D(2, name="avg")(y)
    y = L.UpSampling2D(2, name="up")(y)
    y = L.Activation("tanh", name="act")(y)
    a = L.GlobalMaxPooling2D(name="gmax")(y)
    b = L.Reshape((4 * 64,), name="reshape")(y)
    y = L.Concatenate(name="cat")([a, b])
    images = L.Softmax(name="softmax")(Dense(5, name="dense")(y))
    ids = Input((6,), dtype="int32", name="ids")
    tokens = Flatten(name="flat")(L.Embedding(20, 3, name="embed")(ids))
    return Model([x, ids], [images, tokens], name="every")


def test_every_layer_class_round_trips(tmp_path, rng):
    from pyfrozen.layers import serialization
    from pyfrozen.saving.tfjs_config import TFJS_KEYS

    # A layer class added to pyfrozen must be added to the tfjs mapping (or refused there).
    built_in = {name for name in serialization._CLASSES if ">" not in name}  # not user layers
    assert built_in - {"Layer", "InputLayer", "ReLU6"} <= set(TFJS_KEYS)
    model = randomize(every_layer_class())
    model.export(str(tmp_path / "m"), format="tfjs")
    back = pyfrozen.saving.load_model(tmp_path / "m" / "model.json")
    x = [rng.standard_normal((2, 8, 8, 3)).astype(np.float32),
         rng.integers(0, 20, (2, 6)).astype(np.int32)]
    for a, b in zip(model.predict(x), back.predict(x), strict=True):
        np.testing.assert_array_equal(a, b)
    for wa, wb in zip(model.weights, back.weights, strict=True):
        assert wa.numpy().tobytes() == wb.numpy().tobytes()
    topology = json.loads((tmp_path / "m" / "model.json").read_text())["modelTopology"]
    classes = {e["name"]: e["class_name"] for e in topology["config"]["layers"]}
    assert classes["relu6"] == "ReLU" and classes["sep"] == "SeparableConv2D"
    assert topology["config"]["input_layers"] == [["img", 0, 0], ["ids", 0, 0]]
    assert len(topology["config"]["output_layers"]) == 2


# --------------------------------------------------------------------------- tfjs itself

TFJS_SCRIPT = Path(__file__).with_name("tfjs_predict.js")


@pytest.fixture
def tfjs_predict(tfjs_node, tmp_path):
    """Runs TensorFlow.js itself on an exported folder (tests/saving/tfjs_predict.js)."""
    node, env = tfjs_node

    def run(folder: Path, inputs: list[np.ndarray]) -> dict:
        specs = []
        for i, x in enumerate(inputs):
            (tmp_path / f"x{i}.bin").write_bytes(x.astype(x.dtype.newbyteorder("<")).tobytes())
            specs.append({"file": str(tmp_path / f"x{i}.bin"), "shape": list(x.shape),
                          "dtype": str(x.dtype)})
        (tmp_path / "inputs.json").write_text(json.dumps(specs))
        done = subprocess.run([node, str(TFJS_SCRIPT), str(folder), str(tmp_path / "inputs.json")],
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["outputs"] = [np.asarray(o["data"], np.float32).reshape(o["shape"])
                             for o in result["outputs"]]
        return result
    return run


def test_the_oracle_reproduces_tfjs_own_predictions(tfjs_predict, peer_fixtures):
    """The harness itself: tfjs's predictions of its own file, as io.json recorded them."""
    folder = peer_fixtures / "tfjs" / "small_cnn"
    io = json.loads((folder / "io.json").read_text())
    x = np.asarray(io["x"], np.float32).reshape(io["x_shape"])
    out = tfjs_predict(folder, [x])["outputs"][0]
    np.testing.assert_array_equal(out.ravel(), np.asarray(io["predict"], np.float32))


def _frozen_nested_base():
    model = nested_base()
    model.get_layer("base").trainable = False
    return model


def _frozen_mobilenet():
    model = mobilenet_with_a_new_head()
    model.layers[1].trainable = False
    return model


def _layer_flags(model, out=None) -> dict[str, bool]:
    """``trainable`` of every layer, nested ones included; not of input layers (tfjs's
    are never trainable) nor of models (tfjs does not store a model's flag: its layers'
    flags, which pyfrozen sets when freezing a model, carry the freezing)."""
    out = {} if out is None else out
    for layer in model.layers:
        if isinstance(layer, Model):
            _layer_flags(layer, out)
        elif not isinstance(layer, pyfrozen.layers.InputLayer):
            out[layer.name] = layer.trainable
    return out


def moderate(model, seed: int = 0):
    """BN statistics, gammas, betas and biases away from their defaults; kernels keep their
    (fan-scaled) initial values, so activations stay of order 1 and float32 differences
    between two implementations are not amplified into the outputs."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        if w.name in ("gamma", "moving_variance"):
            w.data[...] = rng.uniform(0.5, 1.5, w.shape)
        elif w.name in ("beta", "moving_mean", "bias"):
            w.data[...] = rng.uniform(-0.2, 0.2, w.shape)
    return model


@pytest.mark.parametrize(("build", "shard_bytes"), [
    (small_cnn_like_the_fixture, SHARD_BYTES), (branches, SHARD_BYTES),
    (_frozen_nested_base, SHARD_BYTES), (every_layer_class, SHARD_BYTES),
    (_frozen_mobilenet, 128 * 1024),
], ids=["sequential", "branches", "frozen_nested_base", "every_layer_class",
        "mobilenet_in_7_shards"])
def test_tfjs_loads_our_export_and_predicts_the_same(tfjs_predict, tmp_path, rng, build,
                                                     shard_bytes):
    model = moderate(build())
    model.export(str(tmp_path / "m"), format="tfjs", shard_bytes=shard_bytes)
    inputs = [rng.standard_normal((3, *t.shape[1:])).astype(np.float32)
              if t.dtype == "float32" else rng.integers(0, 20, (3, *t.shape[1:])).astype(t.dtype)
              for t in model._graph.inputs] if model._graph is not None else [
        rng.standard_normal((3, 16, 16, 3)).astype(np.float32)]
    result = tfjs_predict(tmp_path / "m", inputs)
    ours = model.predict(inputs if len(inputs) > 1 else inputs[0])
    ours = ours if isinstance(ours, list) else [ours]
    for a, b in zip(result["outputs"], ours, strict=True):
        assert a.shape == b.shape
        # Measured: up to 3.0e-7 (float32 sums in another order in tfjs).
        assert float(np.abs(a - b).max()) <= 1e-5
    flags = _layer_flags(model)
    assert {name: result["trainable"][name] for name in flags} == flags
    # The same weights in the same order, and the same ones train.
    ours = pyfrozen.saving.tfjs_file.named_weights(model)
    assert result["weights"] == [name for name, _, _ in ours]
    assert result["trainableWeights"] == [name for name, _, trainable in ours if trainable]
