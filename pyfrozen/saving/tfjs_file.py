"""TensorFlow.js layers models: ``load_model("folder/model.json")`` and
``model.export(folder, format="tfjs")``.

A layers model is a folder: ``model.json`` (``format: "layers-model"``, the topology
in Keras 2's form, pyfrozen.saving.tfjs_model, and a ``weightsManifest``) and binary
shards (pyfrozen.io.tfjs_weights). tfjs names each weight ``<layer name>/<weight
name>`` after the innermost layer that owns it (a nested model adds no prefix), and
``tf.loadLayersModel`` matches them by those names, so the manifest's order does not
matter; pyfrozen writes tfjs's own order: every trainable weight, then the others.

Loading reads and checks the whole folder (JSON, manifest, every shard's size, each
weight's shape against the built model) before the model is handed out: a bad file
raises and nothing half-built escapes. Exporting builds the topology and the weight
list first (an unsupported layer or option raises before anything is written), then
writes into a temporary folder renamed into place (pyfrozen.io.folders). Freeze masks
have no place in the tfjs format and are not written; ``trainable`` flags are.
"""

from __future__ import annotations

import json
import os
import re
from importlib.metadata import version
from typing import Any

import numpy as np

from pyfrozen.autograd import no_grad
from pyfrozen.io.files import read_regular_file
from pyfrozen.io.folders import atomic_folder
from pyfrozen.io.tfjs_weights import (
    SHARD_BYTES,
    TfjsWeightsError,
    read_manifest_weights,
    write_shards,
)
from pyfrozen.layers.layer import Layer
from pyfrozen.saving.keras_config import UnsupportedKerasConfig
from pyfrozen.saving.keras_model import from_keras
from pyfrozen.saving.keras_weights import own_variables, owners
from pyfrozen.saving.tfjs_config import UnsupportedTfjsConfig
from pyfrozen.saving.tfjs_model import to_tfjs, topology_to_keras
from pyfrozen.tensor import Parameter

# The tfjs-layers release whose format pyfrozen writes (the fixtures' writer).
TFJS_FORMAT_VERSION = "4.22.0"
_MODEL_JSON = "model.json"
_OURS = re.compile(r"model\.json|group\d+-shard\d+of\d+\.bin")

# --------------------------------------------------------------------------- weight names


def named_weights(model: Layer) -> list[tuple[str, Parameter, bool]]:
    """(tfjs name, weight, trainable in tfjs) for every weight of ``model``, tfjs's order.

    Raises:
        UnsupportedTfjsConfig: two weights would get the same name (two layers with one
            name in nested models), which tfjs cannot load.
    """
    found: dict[str, str] = {}
    out = []
    for path, layer in owners(model):
        for p in own_variables(layer):
            name = f"{layer.name}/{p.name}"
            if name in found:
                raise UnsupportedTfjsConfig(
                    f"model {model.name!r}: two weights would be named {name!r} in the tfjs "
                    f"file ({found[name] or 'the model'} and {path or 'the model'}); tfjs "
                    "matches weights by name, so give the layers distinct names")
            found[name] = path
            out.append((name, p, bool(p.trainable and p.requires_grad)))
    return [w for w in out if w[2]] + [w for w in out if not w[2]]


# --------------------------------------------------------------------------- loading


def _read_model_json(path: str) -> dict[str, Any]:
    try:
        doc = json.loads(read_regular_file(path, TfjsWeightsError))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise TfjsWeightsError(f"{path!r} is not a JSON file: {err}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("modelTopology"), dict):
        raise TfjsWeightsError(f"{path!r} is not a TensorFlow.js layers model: it has no "
                               "'modelTopology' object")
    if doc.get("format", "layers-model") != "layers-model":
        raise UnsupportedTfjsConfig(f"{path!r} is a tfjs {doc['format']!r}; pyfrozen reads "
                                    "the 'layers-model' format only")
    return doc


def _plan(model: Layer, weights: dict[str, np.ndarray],
          label: str) -> list[tuple[Parameter, np.ndarray]]:
    expected = {name: p for name, p, _ in named_weights(model)}
    problems, plan, used = [], [], set()
    for name, value in weights.items():
        key = name if name in expected else "/".join(name.split("/")[-2:])
        p = expected.get(key)
        if key in used:
            problems.append(f"duplicate: {name!r} is a second value for {key!r}")
        elif p is None:
            problems.append(f"unexpected: {name!r} {value.shape}: the model has no such weight")
        elif value.shape != tuple(p.shape):
            problems.append(f"mismatched: {name!r} has shape {value.shape}, the model's "
                            f"weight has {tuple(p.shape)}")
        else:
            plan.append((p, value))
        used.add(key)
    problems += [f"missing: {name!r} {tuple(p.shape)}: not in the manifest"
                 for name, p in expected.items() if name not in used]
    if problems:
        raise TfjsWeightsError(f"{label}: the weights manifest does not match the topology "
                               f"({len(problems)} problem{'s' if len(problems) > 1 else ''}):"
                               "\n  " + "\n  ".join(problems))
    return plan


def load_tfjs(filepath: Any, compile: bool = True, safe_mode: bool = True,  # noqa: A002
              custom_objects: Any = None) -> Layer:
    """Loads a TensorFlow.js layers model (``model.json`` and its shards, float32).

    Keras's arguments; pyfrozen never runs code from a file, and the model comes back
    uncompiled (tfjs's ``training_config`` is not read).

    Raises:
        TfjsWeightsError: the JSON, the manifest or a shard is malformed, missing,
            truncated or disagrees with the topology (named).
        NotImplementedError: a layer class or option pyfrozen lacks, a quantized or
            non-float32 weight (named).
    """
    if custom_objects:
        raise TypeError("load_model: pyfrozen takes no custom_objects; register user layers "
                        "with pyfrozen.saving.register_keras_serializable")
    path = os.fspath(filepath)
    doc = _read_model_json(path)
    topology = doc["modelTopology"]
    topology = topology.get("model_config", topology)  # tfjs's converter nests it there
    weights = read_manifest_weights(os.path.dirname(os.path.abspath(path)),
                                    doc.get("weightsManifest") or [], repr(path))
    try:
        model = from_keras(topology_to_keras(topology))
    except UnsupportedTfjsConfig:
        raise
    except UnsupportedKerasConfig as err:
        raise UnsupportedTfjsConfig(f"{path!r}: {err}") from err
    if not model.built:
        raise UnsupportedTfjsConfig(f"{path!r}: the model has no input shape (its first layer "
                                    "has no batch_input_shape), so its weights have no shapes")
    with no_grad():
        for p, value in _plan(model, weights, repr(path)):
            np.copyto(p.data, value)
            p._bump_version()
    return model


# --------------------------------------------------------------------------- exporting


def export_tfjs(model: Layer, filepath: Any, overwrite: bool = True,
                shard_bytes: int = SHARD_BYTES) -> None:
    """Writes ``model`` as a TensorFlow.js layers model into the folder ``filepath``
    (``model.json`` and ``group1-shard<i>of<n>.bin`` shards of at most ``shard_bytes``),
    which ``tf.loadLayersModel("<url>/model.json")`` reads.

    Raises:
        NotImplementedError: a layer, option, dtype or name tfjs cannot hold (named);
            nothing is written then.
        FileExistsError: ``filepath`` is a file, or a folder holding other files.
    """
    if not model.built:
        raise ValueError(f"model {model.name!r} is not built yet: call it on data or "
                         "build(input_shape) before export")
    topology = to_tfjs(model)  # first: anything unsupported raises before a byte is written
    try:
        json.dumps(topology, allow_nan=False)
    except (TypeError, ValueError) as err:  # an array-valued option, a NaN, ...
        raise UnsupportedTfjsConfig(f"model {model.name!r}: its config cannot be written as "
                                    f"JSON ({err})") from err
    weights = [(name, p.data) for name, p, _ in named_weights(model)]
    for name, array in weights:
        if array.dtype != np.float32:
            raise UnsupportedTfjsConfig(f"weight {name!r} has dtype {array.dtype}; the tfjs "
                                        "layers format holds float32 weights")
    with atomic_folder(os.fspath(filepath), lambda n: bool(_OURS.fullmatch(n)),
                       overwrite=overwrite) as folder:
        manifest = write_shards(folder, weights, shard_bytes)
        doc = {"modelTopology": {**topology, "keras_version": f"tfjs-layers {TFJS_FORMAT_VERSION}",
                                 "backend": "tensor_flow.js"},
               "format": "layers-model", "generatedBy": f"pyfrozen {version('pyfrozen')}",
               "convertedBy": None, "weightsManifest": manifest}
        with open(os.path.join(folder, _MODEL_JSON), "w", encoding="utf-8") as f:
            json.dump(doc, f, allow_nan=False)
            f.flush()
            os.fsync(f.fileno())
