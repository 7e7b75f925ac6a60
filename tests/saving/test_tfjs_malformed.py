"""Malformed or unsupported tfjs models raise naming the file, weight, layer or option.

Each case edits a copy of the model.json tfjs 4.22 wrote (or its shard) in one way.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import pyfrozen
from pyfrozen.io.tfjs_weights import TfjsWeightsError
from pyfrozen.io.weights import WeightFileError
from pyfrozen.saving import UnsupportedTfjsConfig


@pytest.fixture
def fixture_copy(peer_fixtures: Path, tmp_path: Path):
    """``edit(doc)`` -> path of a copy of the fixture whose model.json was edited."""
    source = peer_fixtures / "tfjs" / "small_cnn"

    def make(edit=None) -> Path:
        shutil.copy(source / "weights.bin", tmp_path / "weights.bin")
        doc = json.loads((source / "model.json").read_text())
        if edit is not None:
            edit(doc)
        (tmp_path / "model.json").write_text(json.dumps(doc))
        return tmp_path / "model.json"
    return make


def _weights(doc):
    return doc["weightsManifest"][0]["weights"]


def _layer(doc, name):
    return next(s for s in doc["modelTopology"]["config"]["layers"]
                if s["config"]["name"] == name)


def load(path):
    return pyfrozen.saving.load_model(path)


# --------------------------------------------------------------------------- bytes


def test_truncated_shard(fixture_copy):
    path = fixture_copy()
    data = (path.parent / "weights.bin").read_bytes()
    (path.parent / "weights.bin").write_bytes(data[:-6])
    with pytest.raises(TfjsWeightsError, match=r"'weights.bin'.* holds 2510 bytes but its "
                                               r"manifest describes 2516 .*truncated"):
        load(path)


def test_shard_larger_than_its_manifest(fixture_copy):
    path = fixture_copy()
    with open(path.parent / "weights.bin", "ab") as f:
        f.write(b"\0" * 4)
    with pytest.raises(TfjsWeightsError, match="2520 bytes .* larger than its manifest"):
        load(path)


def test_missing_shard(fixture_copy):
    path = fixture_copy()
    (path.parent / "weights.bin").unlink()
    with pytest.raises(TfjsWeightsError, match="shard 'weights.bin' of group 0 is missing"):
        load(path)


@pytest.mark.parametrize(("index", "key", "value", "message"), [
    # 27 floats more than the shard holds
    (0, "shape", [3, 3, 3, 9], "holds 2516 bytes but its manifest describes 2624"),
    # the same byte count, a wrong shape: caught against the built layer
    (0, "shape", [3, 3, 8, 3], r"mismatched: 'c1/kernel' has shape \(3, 3, 8, 3\), .* "
                               r"\(3, 3, 3, 8\)"),
    (0, "shape", [3, -3, 3, 8], r"'c1/kernel' has shape \[3, -3, 3, 8\]"),
    (1, "name", "bn9/gamma", r"2 problems(?s:.)*unexpected: 'bn9/gamma'(?s:.)*missing: "
                             r"'bn1/gamma'"),
    (2, "name", "bn1/gamma", "'bn1/gamma' is listed twice"),
    (2, "name", "outer/bn1/gamma", r"duplicate: 'outer/bn1/gamma' is a second value for "
                                   r"'bn1/gamma'(?s:.)*missing: 'bn1/beta'"),
    (9, "quantization", {"dtype": "uint8", "scale": 0.01, "min": -1.0},
     "weight 'head/kernel' is quantized"),
    (3, "dtype", "float16", "'dw/depthwise_kernel' has dtype 'float16'"),
    (3, "dtype", "int32", "'dw/depthwise_kernel' has dtype 'int32'"),
    (3, "dtype", None, "'dw/depthwise_kernel' has dtype None"),
], ids=["shape_vs_bytes", "shape_vs_topology", "negative_dim", "unknown_and_missing",
        "duplicate", "duplicate_after_prefix", "quantized", "float16", "int32", "no_dtype"])
def test_manifest_entry_errors(fixture_copy, index, key, value, message):
    def edit(doc):
        _weights(doc)[index][key] = value
    with pytest.raises(TfjsWeightsError, match=message):
        load(fixture_copy(edit))


@pytest.mark.parametrize("path", ["../weights.bin", "/etc/passwd", ""])
def test_shard_paths_stay_inside_the_folder(fixture_copy, path):
    def edit(doc):
        doc["weightsManifest"][0]["paths"] = [path]
    with pytest.raises(TfjsWeightsError, match="shard path"):
        load(fixture_copy(edit))


def test_shard_that_is_a_folder(fixture_copy):
    path = fixture_copy()
    (path.parent / "weights.bin").unlink()
    (path.parent / "weights.bin").mkdir()
    with pytest.raises(TfjsWeightsError, match="is a folder, not a regular file"):
        load(path)


def test_layer_dtype_other_than_float(fixture_copy):
    def edit(doc):
        _layer(doc, "c1")["config"]["dtype"] = "int32"
    with pytest.raises(UnsupportedTfjsConfig, match=r"layer 'c1' \(Conv2D\): dtype 'int32'"):
        load(fixture_copy(edit))


# --------------------------------------------------------------------------- topology


def test_unknown_layer_class(fixture_copy):
    def edit(doc):
        _layer(doc, "r1")["class_name"] = "LeakyReLU"
    with pytest.raises(UnsupportedTfjsConfig, match=r"layer 'r1' \(LeakyReLU\).*Unknown layer "
                                                    "class 'LeakyReLU'"):
        load(fixture_copy(edit))


def test_lambda_layer(fixture_copy):
    def edit(doc):
        _layer(doc, "r1")["class_name"] = "Lambda"
    with pytest.raises(UnsupportedTfjsConfig, match=r"layer 'r1' \(Lambda\).*Python code"):
        load(fixture_copy(edit))


@pytest.mark.parametrize(("layer", "key", "value"), [
    ("c1", "kernel_regularizer", {"class_name": "L1L2", "config": {"l1": 0, "l2": 0.01}}),
    ("head", "kernel_constraint", {"class_name": "MaxNorm", "config": {"max_value": 2}}),
    ("bn1", "gamma_regularizer", {"class_name": "L1L2", "config": {"l1": 0.1, "l2": 0}}),
    ("dw", "padding", "causal"),
    ("head", "activation", "hard_sigmoid"),
])
def test_unsupported_option_names_layer_and_option(fixture_copy, layer, key, value):
    def edit(doc):
        _layer(doc, layer)["config"][key] = value
    with pytest.raises(UnsupportedTfjsConfig) as info:
        load(fixture_copy(edit))
    message = str(info.value)
    assert f"layer {layer!r}" in message and (key in message or str(value) in message), message


def test_graph_model_is_refused(fixture_copy):
    def edit(doc):
        doc["format"] = "graph-model"
    with pytest.raises(UnsupportedTfjsConfig, match="'graph-model'; pyfrozen reads the "
                                                    "'layers-model' format only"):
        load(fixture_copy(edit))


def test_not_json_and_not_a_model(tmp_path):
    (tmp_path / "model.json").write_bytes(b"{\"modelTopology\": [1, 2")
    with pytest.raises(TfjsWeightsError, match="is not a JSON file"):
        load(tmp_path / "model.json")
    (tmp_path / "model.json").write_text(json.dumps({"weightsManifest": []}))
    with pytest.raises(TfjsWeightsError, match="has no 'modelTopology' object"):
        load(tmp_path / "model.json")
    assert issubclass(TfjsWeightsError, WeightFileError)


def test_no_input_shape(fixture_copy):
    def edit(doc):
        del _layer(doc, "c1")["config"]["batch_input_shape"]
    with pytest.raises(UnsupportedTfjsConfig, match="no input shape"):
        load(fixture_copy(edit))


def embedding_model(tmp_path, **options) -> Path:
    """A tfjs Sequential Embedding -> Flatten as tfjs writes it (``input_length`` given)."""
    embedding = {"input_dim": 5, "output_dim": 2, "embeddings_initializer": {
        "class_name": "RandomUniform", "config": {"minval": -0.05, "maxval": 0.05, "seed": None}},
        "embeddings_regularizer": None, "activity_regularizer": None,
        "embeddings_constraint": None, "mask_zero": None, "input_length": 4, "name": "emb",
        "trainable": True, "batch_input_shape": [None, 4], **options}
    doc = {"modelTopology": {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Embedding", "config": embedding},
        {"class_name": "Flatten", "config": {"name": "flat", "trainable": True}}]}},
        "format": "layers-model", "weightsManifest": [{"paths": ["w.bin"], "weights": [
            {"name": "emb/embeddings", "shape": [5, 2], "dtype": "float32"}]}]}
    (tmp_path / "w.bin").write_bytes(np.arange(10, dtype="<f4").tobytes())
    (tmp_path / "model.json").write_text(json.dumps(doc))
    return tmp_path / "model.json"


def test_embedding_options(tmp_path):
    model = load(embedding_model(tmp_path))  # input_length restates the input's shape
    out = model.predict(np.array([[0, 1, 4, 4]], np.float32))
    np.testing.assert_array_equal(out, [[0, 1, 2, 3, 8, 9, 8, 9]])
    with pytest.raises(UnsupportedTfjsConfig, match=r"layer 'emb' \(Embedding\): option "
                                                    r"mask_zero=True"):
        load(embedding_model(tmp_path, mask_zero=True))
    with pytest.raises(UnsupportedTfjsConfig, match=r"input_length=6 disagrees with its "
                                                    r"batch_input_shape \[None, 4\]"):
        load(embedding_model(tmp_path, input_length=6))


def tiny_functional(tmp_path, inbound) -> Path:
    """Input -> Dense(2) written as tfjs does, with the Dense's inbound node given."""
    dense = {"units": 2, "activation": "linear", "use_bias": False,
             "kernel_initializer": {"class_name": "Zeros", "config": {}}, "name": "d",
             "trainable": True}
    doc = {"modelTopology": {"class_name": "Model", "config": {"name": "f", "layers": [
        {"name": "in", "class_name": "InputLayer", "inbound_nodes": [], "config": {
            "batch_input_shape": [None, 3], "dtype": "float32", "sparse": False, "name": "in"}},
        {"name": "d", "class_name": "Dense", "config": dense, "inbound_nodes": [inbound]}],
        "input_layers": [["in", 0, 0]], "output_layers": [["d", 0, 0]]}},
        "weightsManifest": [{"paths": ["w.bin"], "weights": [
            {"name": "d/kernel", "shape": [3, 2], "dtype": "float32"}]}]}
    (tmp_path / "w.bin").write_bytes(np.ones(6, "<f4").tobytes())
    (tmp_path / "model.json").write_text(json.dumps(doc))
    return tmp_path / "model.json"


@pytest.mark.parametrize(("inbound", "message"), [
    ([["in", 0, 0, {}]], None),
    ([["in", "0", 0, {}]], r"layer 'd' in model 'f': malformed tensor reference"),
    ([["in", 0, 0, [1]]], r"layer 'd' in model 'f': malformed call arguments \[1\]"),
    ([["in", 0, 0, {"mask": [1, 0]}]], r"call argument mask=\[1, 0\] is not supported"),
    ([["nowhere", 0, 0, {}]], r"cannot be ordered .*'d'"),
    ([], r"malformed inbound node \[\]"),
], ids=["well_formed", "string_index", "kwargs_not_object", "mask", "unknown_layer", "empty"])
def test_malformed_functional_topologies(tmp_path, inbound, message):
    path = tiny_functional(tmp_path, inbound)
    if message is None:
        model = load(path)
        np.testing.assert_array_equal(model.predict(np.ones((1, 3), np.float32)), [[3, 3]])
        return
    with pytest.raises((UnsupportedTfjsConfig, ValueError), match=message):
        load(path)


def test_malformed_sequential_topologies(fixture_copy):
    def no_layers(doc):
        del doc["modelTopology"]["config"]["layers"]
    with pytest.raises(UnsupportedTfjsConfig, match="a Sequential config must hold 'layers'"):
        load(fixture_copy(no_layers))

    def string_layer(doc):
        doc["modelTopology"]["config"]["layers"][2] = "ReLU"
    with pytest.raises(UnsupportedTfjsConfig, match="a layer entry must be an object"):
        load(fixture_copy(string_layer))
