"""Keras 3's HDF5 weight layout (``.weights.h5``, ``model.weights.h5`` in a ``.keras`` zip).

A Keras 3 weight file is a tree of groups; every object that owns state has a group
``<path>/vars`` (``vars`` at the root for the model itself) holding datasets named
``0, 1, ...`` in the object's variable order, and the object's name as the ``name``
attribute of that group. This module reads and writes that tree as a flat mapping
``path -> VarsGroup`` and knows nothing about layers: pyfrozen.saving maps models onto
it. Files are read whole into memory and checked before anything is handed out, and
written through ``write_atomically``, so a crash never leaves half a file; each dataset
pyfrozen writes carries the sha256 of its bytes, checked on load.

h5py is optional (``pip install "pyfrozen[keras]"``); it is imported only when an HDF5
file is read or written.
"""

from __future__ import annotations

import hashlib
import io
import os
from typing import Any, NamedTuple

import numpy as np

from pyfrozen.io.files import read_regular_file, write_atomically
from pyfrozen.io.weights import WeightFileError

__all__ = ["VarsGroup", "decode_vars", "encode_vars", "h5py_module", "read_vars", "write_vars"]

# The dtypes a weight may have in pyfrozen; anything else (bfloat16, strings) is refused.
_DTYPES = (np.dtype("float32"), np.dtype("float64"), np.dtype("int64"))


# pyfrozen's freeze masks sit beside an owner's ``vars`` group, in a group Keras never
# reads (it opens ``<path>/vars`` only), so the file stays a valid Keras 3 file.
MASKS = "pyfrozen_freeze_masks"


class VarsGroup(NamedTuple):
    """One ``vars`` group: the owner's recorded name, its variables in order and the
    freeze masks of some of them (by variable index)."""

    name: str | None
    arrays: list[np.ndarray]
    masks: dict[int, np.ndarray] = {}  # noqa: RUF012 (never mutated: a fresh dict is made)


def h5py_module() -> Any:
    """h5py, or an ImportError naming the extra that installs it."""
    try:
        import h5py
    except ImportError as err:
        raise ImportError('Keras weight files (.weights.h5, .keras) need h5py: '
                          'pip install "pyfrozen[keras]"') from err
    return h5py


# HDF5 keeps no checksum of the data: pyfrozen records a sha256 of each dataset's bytes as
# an attribute (Keras ignores it), so a flipped bit in a file pyfrozen wrote is caught.
# Files written by Keras have none, and are read as they are.
_SHA256 = "sha256"


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


# --------------------------------------------------------------------------- reading


def _checked(dataset: Any, dtype: Any, label: str, where: str) -> np.ndarray:
    array = np.array(dataset[()], dtype=dtype)
    expected = dataset.attrs.get(_SHA256)
    if expected is not None:
        expected = expected.decode() if isinstance(expected, bytes) else str(expected)
        if expected != _digest(array):
            raise WeightFileError(f"{label}: {where} is corrupted (sha256 mismatch)")
    return array


def _vars_path(path: str) -> str:
    return f"{path}/vars" if path else "vars"


def _read_masks(h5py: Any, group: Any, label: str, where: str) -> dict[int, np.ndarray]:
    masks = {}
    for key in group:
        item = group.get(key, getlink=True)
        if not isinstance(item, h5py.HardLink) or not key.isdigit():
            raise WeightFileError(f"{label}: {where}/{key} is not a freeze mask")
        dataset = group[key]
        if not isinstance(dataset, h5py.Dataset) or dataset.dtype != np.bool_:
            raise WeightFileError(f"{label}: {where}/{key} is not a boolean freeze mask")
        masks[int(key)] = _checked(dataset, bool, label, f"{where}/{key}")
    return masks


def _read_group(h5py: Any, group: Any, label: str, where: str) -> VarsGroup:
    names = list(group.keys())
    if sorted(names, key=lambda n: (len(n), n)) != [str(i) for i in range(len(names))]:
        raise WeightFileError(f"{label}: group {where!r} should hold datasets 0..{len(names) - 1}"
                              f", found {sorted(names)}")
    arrays = []
    for i in range(len(names)):
        item = group.get(str(i), getlink=True)
        if not isinstance(item, h5py.HardLink):
            raise WeightFileError(f"{label}: {where}/{i} is a link, refusing to follow it")
        dataset = group[str(i)]
        if not isinstance(dataset, h5py.Dataset):
            raise WeightFileError(f"{label}: {where}/{i} is not a dataset")
        if dataset.dtype not in _DTYPES or "dtype" in dataset.attrs:
            kind = dataset.attrs.get("dtype", dataset.dtype)
            raise WeightFileError(f"{label}: {where}/{i} has dtype {kind}; pyfrozen reads "
                                  "float32, float64 and int64 weights")
        arrays.append(_checked(dataset, dataset.dtype.newbyteorder("="), label, f"{where}/{i}"))
    name = group.attrs.get("name")
    return VarsGroup(name.decode() if isinstance(name, bytes) else name, arrays)


def _walk(h5py: Any, group: Any, prefix: str, label: str, out: dict[str, VarsGroup],
          skip: tuple[str, ...] = ()) -> None:
    for key in group:
        if not prefix and key in skip:
            continue
        link = group.get(key, getlink=True)
        where = f"{prefix}/{key}" if prefix else key
        if not isinstance(link, h5py.HardLink):
            raise WeightFileError(f"{label}: {where!r} is a link, refusing to follow it")
        item = group[key]
        if key == "vars" and isinstance(item, h5py.Group):
            found = _read_group(h5py, item, label, where)
            out[prefix] = found._replace(masks=out.get(prefix, found).masks)
        elif key == MASKS and isinstance(item, h5py.Group):
            masks = _read_masks(h5py, item, label, where)
            out[prefix] = out.get(prefix, VarsGroup(None, []))._replace(masks=masks)
        elif isinstance(item, h5py.Group):
            _walk(h5py, item, where, label, out)
        else:
            raise WeightFileError(f"{label}: dataset {where!r} lies outside a 'vars' group; "
                                  "not a Keras 3 weight file")


def decode_vars(data: bytes, label: str, skip: tuple[str, ...] = ()) -> dict[str, VarsGroup]:
    """Every ``vars`` group of an HDF5 file held in ``data``, by owner path ("" = root);
    top-level groups named in ``skip`` (e.g. ``"optimizer"``) are not read at all.

    Raises:
        WeightFileError: ``data`` is not a readable HDF5 file (truncated, corrupted) or not
            in Keras 3's layout; ``label`` names it in the message.
    """
    h5py = h5py_module()
    out: dict[str, VarsGroup] = {}
    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            _walk(h5py, f, "", label, out, skip)
    except WeightFileError:
        raise
    except Exception as err:  # h5py raises OSError, KeyError, RuntimeError on damaged files
        raise WeightFileError(f"{label} is not a readable HDF5 weight file (truncated or "
                              f"corrupted?): {err}") from err
    return out


def read_vars(path: str | os.PathLike) -> dict[str, VarsGroup]:
    """``decode_vars`` of the regular file at ``path``."""
    path_str = os.fspath(path)
    return decode_vars(read_regular_file(path_str, WeightFileError), repr(path_str))


# --------------------------------------------------------------------------- writing


def _store(group: Any, key: str, array: np.ndarray) -> None:
    array = np.ascontiguousarray(array)
    dataset = group.create_dataset(key, data=array)
    dataset.attrs[_SHA256] = _digest(array)


def encode_vars(groups: dict[str, VarsGroup]) -> bytes:
    """The bytes of an HDF5 file holding ``groups`` in Keras 3's layout."""
    h5py = h5py_module()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        for path, group in groups.items():
            h5_group = f.create_group(_vars_path(path))
            if group.name is not None:
                h5_group.attrs["name"] = group.name
            for i, array in enumerate(group.arrays):
                _store(h5_group, str(i), array)
            for i, mask in group.masks.items():
                _store(f.require_group(f"{path}/{MASKS}" if path else MASKS), str(i), mask)
    return buffer.getvalue()


def write_vars(path: str | os.PathLike, groups: dict[str, VarsGroup]) -> None:
    """Writes ``groups`` to ``path`` atomically (the old file stays whole on failure)."""
    write_atomically(os.fspath(path), encode_vars(groups))
