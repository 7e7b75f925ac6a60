"""Safe weight files: named arrays in safetensors format, checked on load, written atomically.

The file is a plain safetensors file (never pickle: loading it runs no code). Its metadata holds
a format tag, a format version and the sha256 of every tensor's bytes, so a flipped bit is caught
on load and named. Writes go to a temporary file in the same folder, are flushed to disk and then
renamed over the target, so a crash or an error mid-write leaves the old file as it was (and
the next save of that target removes the dead writer's temporary file).

This module knows nothing about layers or models: keys are whatever the caller chooses (the
model layer uses each weight's path inside the model, e.g. ``conv_pw_13/kernel``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import safetensors
import safetensors.numpy

from pyfrozen.io.files import read_regular_file, write_atomically

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "LoadedArrays",
    "Mismatch",
    "WeightFileError",
    "check_expected",
    "load_arrays",
    "save_arrays",
]

FORMAT = "pyfrozen.weights"
FORMAT_VERSION = 1

# Metadata keys this module owns; user metadata may not use them.
_FORMAT_KEY = "format"
_VERSION_KEY = "format_version"
_HASH_PREFIX = "sha256:"

# safetensors dtype tag <-> numpy dtype, for the dtypes a weight file may hold.
# BOOL holds freeze masks (pyfrozen.models.saving stores them beside the weights).
_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "I64": np.dtype("<i8"),
           "BOOL": np.dtype("bool")}
_SUPPORTED = ", ".join(str(d.newbyteorder("=")) for d in _DTYPES.values())

Shape = tuple[int, ...]


class WeightFileError(ValueError):
    """A weight file that cannot be loaded: unreadable, corrupted, or not matching the model."""


class Mismatch(NamedTuple):
    """A tensor present in the file and expected, but with another shape or dtype."""

    name: str
    expected_shape: Shape
    expected_dtype: np.dtype
    found_shape: Shape
    found_dtype: np.dtype

    def __str__(self) -> str:
        return (f"{self.name}: expected {_spec(self.expected_shape, self.expected_dtype)}, "
                f"found {_spec(self.found_shape, self.found_dtype)}")


@dataclass
class LoadedArrays:
    """What `load_arrays` returns.

    Attributes:
        arrays: name -> array (owned, writeable, native byte order). With `skip_mismatch`, only
            the arrays that matched `expected`.
        missing: expected names absent from the file.
        unexpected: names in the file that were not expected.
        mismatched: expected names found with another shape or dtype.
        metadata: the user metadata given to `save_arrays` (the format's own keys removed).
    """

    arrays: dict[str, np.ndarray]
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[Mismatch] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- small helpers


def _spec(shape: Shape, dtype: np.dtype) -> str:
    return f"{tuple(shape)} {np.dtype(dtype).newbyteorder('=')}"


def _sha256(array: np.ndarray) -> str:
    # `array` is prepared (little-endian, C order): its bytes are exactly those in the file.
    return hashlib.sha256(array.tobytes()).hexdigest()


def _dtype_tag(dtype: np.dtype) -> str | None:
    for tag, known in _DTYPES.items():
        if dtype == known:
            return tag
    return None


# --------------------------------------------------------------------------- saving


def _prepare_arrays(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if not isinstance(arrays, Mapping):
        raise TypeError(f"save_arrays: arrays must be a dict of name -> array, got "
                        f"{type(arrays).__name__}")
    prepared = {}
    for name, array in arrays.items():
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise ValueError(f"save_arrays: invalid tensor name {name!r} (a non-empty string, "
                             "not '__metadata__')")
        if not isinstance(array, np.ndarray | np.generic):
            raise TypeError(f"save_arrays: {name!r} is a {type(array).__name__}, "
                            "expected a numpy array")
        little = np.asarray(array).dtype.newbyteorder("<")
        if _dtype_tag(little) is None:
            raise TypeError(f"save_arrays: {name!r} has dtype {array.dtype}; weight files hold "
                            f"{_SUPPORTED} only (cast explicitly)")
        # safetensors reads the raw buffer: it must be contiguous and little-endian.
        # (np.ascontiguousarray would turn a 0-d counter into shape (1,).)
        prepared[name] = np.asarray(array, dtype=little, order="C")
    return prepared


def _build_metadata(arrays: dict[str, np.ndarray],
                    metadata: Mapping[str, str] | None) -> dict[str, str]:
    user = dict(metadata or {})
    for key, value in user.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"save_arrays: metadata must map str to str, got {key!r}: "
                            f"{type(value).__name__}")
        if key in (_FORMAT_KEY, _VERSION_KEY) or key.startswith(_HASH_PREFIX):
            raise ValueError(f"save_arrays: metadata key {key!r} is reserved by the file format")
    user[_FORMAT_KEY] = FORMAT
    user[_VERSION_KEY] = str(FORMAT_VERSION)
    for name, array in arrays.items():
        user[_HASH_PREFIX + name] = _sha256(array)
    return user


def save_arrays(path: str | os.PathLike, arrays: Mapping[str, np.ndarray],
                metadata: Mapping[str, str] | None = None) -> None:
    """Writes named arrays to a safetensors file, atomically, with a sha256 per tensor.

    The bytes are written to a temporary file in the same folder, flushed and fsync'ed, then
    renamed over `path`; on any failure the previous file (if any) is left as it was and the
    temporary file is removed. A `path` that is a symlink stays one: the file it points to is
    replaced (temporary file in that file's folder). Temporaries of `path` left by a writer
    that was killed mid-save are removed first; a live writer's never are.

    Args:
        path: the file to write (conventionally `*.safetensors`).
        arrays: name -> numpy array of dtype float32, float64, int64 or bool. Names are free-form
            strings (slashes welcome), except the empty string and `'__metadata__'`.
        metadata: optional str -> str pairs stored in the file's header and returned by
            `load_arrays`. The keys `format`, `format_version` and `sha256:*` are reserved.

    Raises:
        TypeError: an array that is not a numpy array or has another dtype, or non-str metadata.
        ValueError: an invalid name or a reserved metadata key.
        OSError: the file could not be written (the old one is intact).

    Example:

    >>> import tempfile, numpy as np
    >>> path = tempfile.mkdtemp() + "/w.safetensors"
    >>> save_arrays(path, {"dense/kernel": np.ones((2, 3), np.float32)})
    >>> load_arrays(path).arrays["dense/kernel"].shape
    (2, 3)
    """
    prepared = _prepare_arrays(arrays)
    header = _build_metadata(prepared, metadata)
    write_atomically(os.fspath(path), safetensors.numpy.save(prepared, metadata=header))


# --------------------------------------------------------------------------- loading


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


def _read_metadata(path: str, data: bytes) -> dict[str, str]:
    # Called only after safetensors has validated the header, so its length and JSON are sound.
    # JSON itself allows a key twice and keeps the last: in a file whose every tensor carries
    # a checksum, two values for one name (a tensor or a metadata key) mean a forged or
    # damaged header, so it is refused rather than resolved silently.
    length = int.from_bytes(data[:8], "little")
    try:
        header = json.loads(data[8:8 + length], object_pairs_hook=_no_duplicates)
    except _DuplicateKey as dup:
        raise WeightFileError(f"{path!r} is corrupted: its header names {dup.args[0]!r} more "
                              "than once") from None
    return dict(header.get("__metadata__") or {})


def _as_array(name: str, entry: dict, dtype: np.dtype, problems: list[str]) -> np.ndarray | None:
    try:
        return np.frombuffer(entry["data"], dtype=dtype).reshape(entry["shape"])
    except ValueError as err:  # e.g. shape [0, 2**62]: no data, but numpy cannot index it
        problems.append(f"{name}: shape {list(entry['shape'])} cannot be an array ({err})")
        return None


def _parse(path: str, data: bytes) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Decodes and verifies a whole file; raises WeightFileError listing every problem."""
    try:
        entries = safetensors.deserialize(data)
    except Exception as err:  # the Rust parser raises SafetensorError, older ones other types
        raise WeightFileError(f"{path!r} is not a readable safetensors file (truncated or "
                              f"corrupted?): {err}") from err
    metadata = _read_metadata(path, data)
    if metadata.get(_FORMAT_KEY) != FORMAT:
        raise WeightFileError(f"{path!r} is a safetensors file but not a pyfrozen weight file "
                              f"(metadata 'format' is {metadata.get(_FORMAT_KEY)!r}, "
                              f"expected {FORMAT!r})")
    version = metadata.get(_VERSION_KEY)
    if version != str(FORMAT_VERSION):
        raise WeightFileError(f"{path!r} has weight-file format version {version!r}; this "
                              f"pyfrozen reads version {FORMAT_VERSION}")
    arrays, problems = {}, []
    for name, entry in entries:
        dtype = _DTYPES.get(entry["dtype"])
        if dtype is None:
            problems.append(f"{name}: unsupported dtype {entry['dtype']} (supported: "
                            f"{_SUPPORTED})")
            continue
        array = _as_array(name, entry, dtype, problems)
        if array is None:
            continue
        digest = metadata.get(_HASH_PREFIX + name)
        if digest is None:
            problems.append(f"{name}: no sha256 in the metadata")
        elif digest != hashlib.sha256(entry["data"]).hexdigest():
            problems.append(f"{name}: sha256 mismatch, the tensor's data is corrupted")
        arrays[name] = array
    names = {name for name, _ in entries}
    problems += [f"{key[len(_HASH_PREFIX):]}: has a sha256 in the metadata but no tensor"
                 for key in metadata if key.startswith(_HASH_PREFIX)
                 and key[len(_HASH_PREFIX):] not in names]
    if problems:
        raise WeightFileError(f"{path!r} is corrupted ({len(problems)} problem"
                              f"{'s' if len(problems) > 1 else ''}):\n  " + "\n  ".join(problems))
    user = {k: v for k, v in metadata.items()
            if k not in (_FORMAT_KEY, _VERSION_KEY) and not k.startswith(_HASH_PREFIX)}
    return arrays, user


def _normalise_expected(expected: Mapping[str, tuple]) -> dict[str, tuple[Shape, np.dtype]]:
    normalised = {}
    for name, spec in expected.items():
        try:
            shape, dtype = spec
            normalised[name] = (tuple(int(d) for d in shape), np.dtype(dtype))
        except (TypeError, ValueError) as err:
            raise TypeError(f"load_arrays: expected[{name!r}] must be (shape, dtype), "
                            f"got {spec!r}") from err
    return normalised


def _compare(arrays: dict[str, np.ndarray],
             expected: dict[str, tuple[Shape, np.dtype]]) -> LoadedArrays:
    result = LoadedArrays(arrays={})
    for name, (shape, dtype) in expected.items():
        if name not in arrays:
            result.missing.append(name)
            continue
        found = arrays[name]
        if found.shape != shape or found.dtype.newbyteorder("=") != dtype.newbyteorder("="):
            result.mismatched.append(Mismatch(name, shape, dtype, found.shape,
                                              found.dtype.newbyteorder("=")))
        else:
            result.arrays[name] = found
    result.unexpected = sorted(set(arrays) - set(expected))
    return result


def _mismatch_report(path: str, result: LoadedArrays,
                     expected: dict[str, tuple[Shape, np.dtype]], found: dict) -> str:
    lines = [f"missing: {name} (expected {_spec(*expected[name])})" for name in result.missing]
    lines += [f"unexpected: {name} ({_spec(found[name].shape, found[name].dtype)})"
              for name in result.unexpected]
    lines += [f"mismatched: {m}" for m in result.mismatched]
    return (f"{path!r} does not match the expected weights ({len(lines)} problem"
            f"{'s' if len(lines) > 1 else ''}); nothing was loaded:\n  " + "\n  ".join(lines)
            + "\n(load with skip_mismatch=True to load the tensors that match)")


def load_arrays(path: str | os.PathLike,
                expected: Mapping[str, tuple[Shape, np.dtype | str]] | None = None, *,
                skip_mismatch: bool = False) -> LoadedArrays:
    """Reads a weight file written by `save_arrays`, verifying every tensor's sha256.

    A file that is truncated, corrupted (any tensor whose sha256 differs), not a pyfrozen weight
    file or of an unknown format version raises, whatever `skip_mismatch` says. When `expected`
    is given, the file's names, shapes and dtypes are compared with it; every difference is
    reported in one error, and nothing is returned, unless `skip_mismatch` is true.

    Args:
        path: the file to read.
        expected: optional name -> (shape, dtype) the caller needs.
        skip_mismatch: with `expected`, return only the arrays that match and list the rest in
            the result instead of raising (e.g. a pretrained base whose head was replaced).

    Returns:
        A `LoadedArrays`: `arrays` plus the `missing`, `unexpected` and `mismatched` lists
        (all empty unless `skip_mismatch` is true) and the user `metadata`.

    Raises:
        WeightFileError: (a ValueError) the file is unreadable, corrupted, not a regular
            file (a FIFO, a device, a folder), or does not match `expected` while
            `skip_mismatch` is false; the message lists every problem.
        OSError: the file cannot be opened.

    Example:

    >>> import tempfile, numpy as np
    >>> path = tempfile.mkdtemp() + "/w.safetensors"
    >>> save_arrays(path, {"base/kernel": np.zeros((3, 4)), "head/kernel": np.zeros((4, 10))})
    >>> r = load_arrays(path, {"base/kernel": ((3, 4), "float64"),
    ...                        "head/kernel": ((4, 2), "float64")}, skip_mismatch=True)
    >>> sorted(r.arrays), r.missing, r.unexpected, [m.name for m in r.mismatched]
    (['base/kernel'], [], [], ['head/kernel'])
    """
    path_str = os.fspath(path)
    data = read_regular_file(path_str, WeightFileError)
    arrays, metadata = _parse(path_str, data)
    # frombuffer views are read-only and keep the whole file alive: hand out owned copies.
    arrays = {name: a.astype(a.dtype.newbyteorder("="), copy=True) for name, a in arrays.items()}
    if expected is None:
        return LoadedArrays(arrays=arrays, metadata=metadata)
    return check_expected(path_str, arrays, expected, skip_mismatch=skip_mismatch,
                          metadata=metadata)


def check_expected(path: str, arrays: dict[str, np.ndarray],
                   expected: Mapping[str, tuple[Shape, np.dtype | str]], *,
                   skip_mismatch: bool = False,
                   metadata: dict[str, str] | None = None) -> LoadedArrays:
    """Compares arrays read from ``path`` with ``expected``, as ``load_arrays`` does (for
    callers that set some of a file's tensors aside first).

    Raises:
        WeightFileError: a difference while ``skip_mismatch`` is false (every one listed).
    """
    wanted = _normalise_expected(expected)
    result = _compare(arrays, wanted)
    result.metadata = dict(metadata or {})
    if not skip_mismatch and (result.missing or result.unexpected or result.mismatched):
        raise WeightFileError(_mismatch_report(path, result, wanted, arrays))
    return result
