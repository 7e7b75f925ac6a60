"""pyfrozen.io.h5: Keras 3's HDF5 weight layout, read whole and checked, written atomically."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from pyfrozen.io.h5 import VarsGroup, decode_vars, encode_vars, read_vars, write_vars
from pyfrozen.io.weights import WeightFileError


@pytest.fixture
def groups(rng) -> dict[str, VarsGroup]:
    return {
        "": VarsGroup("functional", []),
        "layers/dense": VarsGroup("head", [rng.standard_normal((3, 2)).astype(np.float32),
                                           np.full(2, -0.0, np.float32)]),
        "layers/sequential/layers/batch_normalization": VarsGroup(
            "bn", [rng.standard_normal(4) for _ in range(4)]),  # float64
        "layers/input_layer": VarsGroup("x", []),
        "layers/conv2d": VarsGroup("c", [np.zeros((1, 1, 2, 3), np.float32)],
                                   {0: np.array([True, False, True])}),
    }


def same(a: dict[str, VarsGroup], b: dict[str, VarsGroup]) -> bool:
    return a.keys() == b.keys() and all(
        a[k].name == b[k].name and len(a[k].arrays) == len(b[k].arrays)
        and {i: m.tolist() for i, m in a[k].masks.items()}
        == {i: m.tolist() for i, m in b[k].masks.items()}
        and all(x.dtype == y.dtype and x.tobytes() == y.tobytes()
                for x, y in zip(a[k].arrays, b[k].arrays, strict=True)) for k in a)


def test_round_trip_is_bit_identical_with_names(h5py, groups, tmp_path):
    path = tmp_path / "w.weights.h5"
    write_vars(path, groups)
    assert same(read_vars(path), groups)
    with h5py.File(path, "r") as f:  # Keras's own layout: <path>/vars/<i>, name attribute
        assert f["layers/dense/vars"].attrs["name"] == "head"
        assert f["vars"].attrs["name"] == "functional"
        assert sorted(f["layers/dense/vars"]) == ["0", "1"]


@pytest.mark.parametrize("keep", [0, 8, 100, 0.5, 0.9, -1])
def test_truncated_file_raises(h5py, groups, keep):
    data = encode_vars(groups)
    cut = int(len(data) * keep) if isinstance(keep, float) else keep
    with pytest.raises(WeightFileError, match="'w' is not a readable HDF5 weight file"):
        decode_vars(data[:cut], "'w'")


def test_not_hdf5_at_all_raises(tmp_path, h5py):
    path = tmp_path / "w.weights.h5"
    path.write_bytes(b"PK\x03\x04 this is a zip, not HDF5" * 10)
    with pytest.raises(WeightFileError, match="not a readable HDF5 weight file"):
        read_vars(path)


def _outside_vars(h5py, f):
    f["layers/dense/kernel"] = np.zeros(3, np.float32)


def _gap_in_names(h5py, f):
    f["layers/dense/vars/0"] = np.zeros(3, np.float32)
    f["layers/dense/vars/2"] = np.zeros(3, np.float32)


def _half_precision(h5py, f):
    f["layers/dense/vars/0"] = np.zeros(3, np.float16)


def _soft_link(h5py, f):
    f["layers/a/vars/0"] = np.zeros(3, np.float32)
    f["layers/b"] = h5py.SoftLink("/layers/a")


def _float_mask(h5py, f):
    f["layers/a/vars/0"] = np.zeros(3, np.float32)
    f["layers/a/pyfrozen_freeze_masks/0"] = np.zeros(3, np.float32)


@pytest.mark.parametrize(("write", "message"), [
    (_float_mask, "pyfrozen_freeze_masks/0 is not a boolean freeze mask"),
    (_outside_vars, "'layers/dense/kernel' lies outside a 'vars'"),
    (_gap_in_names, r"should hold datasets 0\.\.1, found \['0', '2'\]"),
    (_half_precision, "layers/dense/vars/0 has dtype float16"),
    (_soft_link, "'layers/b' is a link"),
])
def test_files_outside_the_layout_are_refused(h5py, tmp_path, write, message):
    path = tmp_path / "odd.weights.h5"
    with h5py.File(path, "w") as f:
        write(h5py, f)
    with pytest.raises(WeightFileError, match=message):
        read_vars(path)


def test_failed_write_keeps_the_old_file(groups, tmp_path, h5py):
    path = tmp_path / "w.weights.h5"
    write_vars(path, groups)
    before = path.read_bytes()
    bad = dict(groups, **{"layers/odd": VarsGroup("odd", [np.array([{}, None])])})
    with pytest.raises(TypeError):  # h5py cannot store Python objects: fails mid-encode
        write_vars(path, bad)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.weights.h5"]  # no temporary left


def test_missing_h5py_names_the_extra(monkeypatch, groups):
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "pyfrozen\[keras\]"'):
        encode_vars(groups)
    with pytest.raises(ImportError, match=r"pyfrozen\[keras\]"):
        decode_vars(b"", "'w'")


def test_a_flipped_bit_in_a_pyfrozen_file_is_caught(groups, tmp_path, h5py):
    path = tmp_path / "w.weights.h5"
    write_vars(path, groups)
    with h5py.File(path, "r+") as f:  # in place, as a bad disk would: the layout stays valid
        data = f["layers/dense/vars/0"][()]
        data.view(np.uint32)[0, 0] ^= 1
        f["layers/dense/vars/0"][...] = data
    with pytest.raises(WeightFileError, match=r"layers/dense/vars/0 is corrupted \(sha256"):
        read_vars(path)


def test_files_without_checksums_are_read_as_keras_writes_them(h5py, tmp_path):
    path = tmp_path / "keras.weights.h5"
    with h5py.File(path, "w") as f:
        f["layers/dense/vars/0"] = np.arange(3, dtype=np.float32)
        f["layers/dense/vars"].attrs["name"] = "d"
    found = read_vars(path)["layers/dense"]
    assert found.name == "d" and found.arrays[0].tolist() == [0.0, 1.0, 2.0]
