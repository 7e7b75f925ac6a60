"""TensorFlow.js weight manifests and binary shards (the layers format), both ways.

A tfjs ``model.json`` lists its weights in ``weightsManifest``: groups, each with the
shard files it spans (``paths``) and its weights in byte order (``name``, ``shape``,
``dtype``). A group's shards, concatenated, hold its weights back to back, little-endian,
with no padding; a weight may straddle two shards. This module reads and checks that
byte stream, and writes one, split into shards of at most ``SHARD_BYTES`` named as
tfjs's converter names them (``group1-shard1of3.bin``). It knows nothing about layers:
pyfrozen.saving maps models onto the names.

Reading validates everything before returning anything: dtypes (float32 only:
quantized or other dtypes raise naming the weight), shapes, shard paths (relative,
inside the model's folder, regular files) and the byte count of every group, so a
truncated, missing or oversized shard raises naming the file.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from pyfrozen.io.files import read_regular_file
from pyfrozen.io.weights import WeightFileError

__all__ = ["SHARD_BYTES", "TfjsWeightsError", "read_manifest_weights", "write_shards"]

# tfjs's converter default (--weight_shard_size_bytes): 4 MiB per shard.
SHARD_BYTES = 4 * 1024 * 1024
_DTYPES = {"float32": np.dtype("<f4")}


class TfjsWeightsError(WeightFileError):
    """A tfjs weights manifest or shard that cannot be read (named in the message)."""


# --------------------------------------------------------------------------- reading


def _check_entry(entry: Any, label: str) -> tuple[str, tuple[int, ...], np.dtype]:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise TfjsWeightsError(f"{label}: a weight entry must be an object with a 'name', "
                               f"got {entry!r}")
    name = entry["name"]
    if entry.get("quantization") is not None:
        raise TfjsWeightsError(f"{label}: weight {name!r} is quantized "
                               f"({entry['quantization']!r}); pyfrozen reads float32 weights "
                               "only (convert the model without quantization)")
    dtype = entry.get("dtype")
    if dtype not in _DTYPES:
        raise TfjsWeightsError(f"{label}: weight {name!r} has dtype {dtype!r}; pyfrozen reads "
                               "float32 weights only")
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise TfjsWeightsError(f"{label}: weight {name!r} has shape {shape!r}; expected a list "
                               "of non-negative integers")
    return name, tuple(shape), _DTYPES[dtype]


def _shard_path(folder: str, path: Any, label: str) -> str:
    # Shard paths come from the file: never let one reach outside the model's folder.
    if not isinstance(path, str) or not path or os.path.isabs(path):
        raise TfjsWeightsError(f"{label}: shard path {path!r} must be a relative file name")
    normal = os.path.normpath(path)
    if normal == ".." or normal.startswith(".." + os.sep):
        raise TfjsWeightsError(f"{label}: shard path {path!r} points outside the model's "
                               "folder; refusing to read it")
    return os.path.join(folder, normal)


def _check_group(group: Any, index: int, label: str) -> None:
    if not isinstance(group, dict) or not isinstance(group.get("paths"), list) or not (
            isinstance(group.get("weights"), list)):
        raise TfjsWeightsError(f"{label}: manifest group {index} must hold 'paths' and "
                               "'weights' lists")


def _read_group(folder: str, group: dict[str, Any], index: int, label: str) -> bytes:
    chunks = []
    for path in group["paths"]:
        full = _shard_path(folder, path, label)
        if not os.path.exists(full):
            raise TfjsWeightsError(f"{label}: shard {path!r} of group {index} is missing "
                                   f"(looked for {full!r})")
        chunks.append(read_regular_file(full, TfjsWeightsError))
    return b"".join(chunks)


def read_manifest_weights(folder: str, manifest: Any, label: str) -> dict[str, np.ndarray]:
    """Every weight of ``manifest`` by name, read from its shards under ``folder``.

    Raises:
        TfjsWeightsError: a malformed manifest, a quantized or non-float32 weight, a
            duplicate name, a missing shard, or shards whose total size is not the
            manifest's (truncated or oversized), each named; nothing is returned then.
    """
    if not isinstance(manifest, list):
        raise TfjsWeightsError(f"{label}: 'weightsManifest' must be a list of groups, got "
                               f"{type(manifest).__name__}")
    out: dict[str, np.ndarray] = {}
    for index, group in enumerate(manifest):
        _check_group(group, index, label)
        entries = [_check_entry(e, label) for e in group["weights"]]
        data = _read_group(folder, group, index, label)
        expected = sum(math.prod(shape) * dtype.itemsize for _, shape, dtype in entries)
        if len(data) != expected:
            shards = ", ".join(repr(p) for p in group["paths"]) or "no shard"
            kind = "truncated" if len(data) < expected else "larger than its manifest"
            raise TfjsWeightsError(
                f"{label}: group {index} ({shards}) holds {len(data)} bytes but its manifest "
                f"describes {expected} ({len(entries)} weights): the shards are {kind}")
        offset = 0
        for name, shape, dtype in entries:
            if name in out:
                raise TfjsWeightsError(f"{label}: weight {name!r} is listed twice")
            count = math.prod(shape)
            array = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
            out[name] = array.reshape(shape).astype(dtype.newbyteorder("="), copy=True)
            offset += count * dtype.itemsize
    return out


# --------------------------------------------------------------------------- writing


def write_shards(folder: str, weights: list[tuple[str, np.ndarray]],
                 shard_bytes: int = SHARD_BYTES) -> list[dict[str, Any]]:
    """Writes ``weights`` (float32, in order) as one group of shards into ``folder``
    (which the caller publishes atomically) and returns the ``weightsManifest``.

    Raises:
        TypeError: a weight that is not float32 (tfjs layers models hold float32).
        ValueError: ``shard_bytes`` is not positive.
    """
    if shard_bytes <= 0:
        raise ValueError(f"write_shards: shard_bytes must be positive, got {shard_bytes}")
    specs, chunks = [], []
    for name, array in weights:
        if array.dtype != np.float32:
            raise TypeError(f"tfjs export: weight {name!r} has dtype {array.dtype}; the tfjs "
                            "layers format holds float32 weights (build the model in float32)")
        specs.append({"name": name, "shape": list(array.shape), "dtype": "float32"})
        chunks.append(np.ascontiguousarray(array, dtype="<f4").tobytes())
    data = b"".join(chunks)
    count = max(1, math.ceil(len(data) / shard_bytes))
    paths = [f"group1-shard{i + 1}of{count}.bin" for i in range(count)]
    for i, path in enumerate(paths):
        with open(os.path.join(folder, path), "wb") as f:
            f.write(data[i * shard_bytes:(i + 1) * shard_bytes])
            f.flush()
            os.fsync(f.fileno())
    return [{"paths": paths, "weights": specs}]
