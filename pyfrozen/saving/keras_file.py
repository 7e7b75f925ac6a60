"""Whole models as Keras 3 ``.keras`` files: a zip of config.json, metadata.json and
model.weights.h5 (the weights in Keras 3's HDF5 layout, pyfrozen.saving.keras_weights).

Written in memory and then atomically; read whole, checked, and only then turned into
a model, so a truncated or corrupted file raises before anything is built. The
optimizer state and ``compile_config`` that Keras may store are not restored: the
loaded model is uncompiled (call ``compile`` before ``fit``).
"""

from __future__ import annotations

import datetime
import io
import json
import os
import zipfile
from importlib.metadata import version
from typing import Any

from pyfrozen.io.files import read_regular_file, write_atomically
from pyfrozen.io.h5 import decode_vars, encode_vars
from pyfrozen.io.weights import WeightFileError
from pyfrozen.layers.layer import Layer
from pyfrozen.saving.keras_model import from_keras, to_keras
from pyfrozen.saving.keras_weights import load_keras_weights_groups, save_keras_weights_groups

_CONFIG, _METADATA, _WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
# The Keras release whose file format pyfrozen writes (and checks it against in tests).
KERAS_FORMAT_VERSION = "3.15.1"


def save_keras(model: Layer, filepath: Any, overwrite: bool = True, **kwargs: Any) -> None:
    """Writes ``model`` as a Keras 3 ``.keras`` zip that Keras 3 itself loads.

    Raises:
        FileExistsError: the file exists and ``overwrite`` is False.
        NotImplementedError: a part of the model a Keras file cannot hold (a subclassed
            model, a custom activation function), named in the message.
    """
    if kwargs:
        raise TypeError(f"save: unexpected keyword arguments {sorted(kwargs)}")
    path = os.fspath(filepath)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"save: {path!r} exists and overwrite=False")
    if not model.built:
        raise ValueError(f"model {model.name!r} is not built yet: call it on data or "
                         "build(input_shape) before save")
    config = to_keras(model)  # first: an unsupported part raises before anything is written
    metadata = {"keras_version": KERAS_FORMAT_VERSION, "pyfrozen_version": version("pyfrozen"),
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(_METADATA, json.dumps(metadata))
        archive.writestr(_CONFIG, json.dumps(config))
        archive.writestr(_WEIGHTS, encode_vars(save_keras_weights_groups(model)))
    write_atomically(path, buffer.getvalue())


def _read_archive(path: str) -> tuple[dict[str, Any], bytes]:
    data = read_regular_file(path, WeightFileError)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            bad = archive.testzip()  # CRC of every member: catches flipped bytes
            if bad is not None:
                raise WeightFileError(f"{path!r} is corrupted: {bad} fails its CRC check")
            names = set(archive.namelist())
            missing = [n for n in (_CONFIG, _WEIGHTS) if n not in names]
            if missing:
                raise WeightFileError(f"{path!r} is not a Keras 3 model file: it has no "
                                      f"{', '.join(missing)}")
            config = json.loads(archive.read(_CONFIG))
            weights = archive.read(_WEIGHTS)
    except WeightFileError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError) as err:
        raise WeightFileError(f"{path!r} is not a readable .keras zip (truncated or "
                              f"corrupted?): {err}") from err
    return config, weights


def load_keras(filepath: Any, compile: bool = True, safe_mode: bool = True,  # noqa: A002
               custom_objects: Any = None) -> Layer:
    """Loads a ``.keras`` file written by Keras 3 or by pyfrozen (Keras's arguments;
    pyfrozen never runs code from a file, whatever ``safe_mode`` says, and restores
    neither the optimizer nor the compile settings).

    Raises:
        WeightFileError: the file is truncated, corrupted or not a Keras 3 model file.
        NotImplementedError: a layer class or an option pyfrozen lacks (named).
    """
    if custom_objects:
        raise TypeError("load_model: pyfrozen takes no custom_objects; register user layers "
                        "with pyfrozen.saving.register_keras_serializable")
    path = os.fspath(filepath)
    config, weights = _read_archive(path)
    # Checked before building. The optimizer's variables (Keras stores them when the model
    # was compiled) are not restored, and not read.
    groups = decode_vars(weights, f"{path!r} ({_WEIGHTS})", skip=("optimizer",))
    model = from_keras(config)
    load_keras_weights_groups(model, groups, f"{path!r}")
    return model
