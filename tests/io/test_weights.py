"""pyfrozen.io.weights: safetensors weight files, verified on load, written atomically."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from pyfrozen.io import weights
from pyfrozen.io.weights import Mismatch, WeightFileError, load_arrays, save_arrays


@pytest.fixture
def arrays(rng) -> dict[str, np.ndarray]:
    return {
        "conv_pw_13/kernel": rng.standard_normal((1, 1, 8, 16)).astype(np.float32),
        "conv_pw_13_bn/gamma": rng.standard_normal(16).astype(np.float32),
        "dense/kernel": rng.standard_normal((16, 10)),  # float64
        "optimizer/iterations": np.array(7, dtype=np.int64),
        "empty": np.zeros((0, 3), np.float32),
    }


def spec(arrays: dict[str, np.ndarray]) -> dict[str, tuple]:
    return {name: (a.shape, a.dtype) for name, a in arrays.items()}


def header(path: Path) -> tuple[int, dict]:
    data = path.read_bytes()
    length = int.from_bytes(data[:8], "little")
    return 8 + length, json.loads(data[8:8 + length])


# --------------------------------------------------------------------------- round trip


def test_round_trip_is_bit_exact(tmp_path, arrays):
    path = tmp_path / "w.safetensors"
    save_arrays(path, arrays, metadata={"epoch": "3"})
    result = load_arrays(path, spec(arrays))
    assert sorted(result.arrays) == sorted(arrays)
    for name, a in arrays.items():
        got = result.arrays[name]
        assert got.dtype == a.dtype and got.shape == a.shape
        assert got.tobytes() == a.tobytes()
    assert (result.missing, result.unexpected, result.mismatched) == ([], [], [])
    assert result.metadata == {"epoch": "3"}


def test_bit_exact_for_special_values(tmp_path):
    special = np.array([np.nan, -np.nan, np.inf, -np.inf, -0.0, 5e-324, np.finfo(np.float64).max])
    special32 = np.array([np.nan, -np.inf, -0.0, 1e-45, np.finfo(np.float32).max], np.float32)
    path = tmp_path / "w.safetensors"
    save_arrays(path, {"x": special, "y": special32})
    loaded = load_arrays(path).arrays
    assert loaded["x"].tobytes() == special.tobytes()
    assert loaded["y"].tobytes() == special32.tobytes()


def test_loaded_arrays_are_owned_writeable_and_native(tmp_path):
    path = tmp_path / "w.safetensors"
    save_arrays(path, {"big_endian": np.arange(4, dtype=">f8")})
    got = load_arrays(path).arrays["big_endian"]
    assert got.flags.writeable and got.flags.owndata and got.dtype == np.float64
    np.testing.assert_array_equal(got, [0, 1, 2, 3])


def test_non_contiguous_and_scalar_inputs(tmp_path):
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    path = tmp_path / "w.safetensors"
    save_arrays(path, {"t": base.T, "s": base[::2, 1::3], "c": np.int64(5)})
    got = load_arrays(path).arrays
    np.testing.assert_array_equal(got["t"], base.T)
    np.testing.assert_array_equal(got["s"], base[::2, 1::3])
    assert got["c"].shape == () and got["c"] == 5


def test_keys_are_paths_with_slashes(tmp_path, arrays):
    path = tmp_path / "w.safetensors"
    save_arrays(path, arrays)
    _, head = header(path)
    assert "conv_pw_13/kernel" in head and "optimizer/iterations" in head
    # Any safetensors reader sees the same names and values (the file is plain safetensors).
    plain = safetensors.numpy.load_file(str(path))
    np.testing.assert_array_equal(plain["conv_pw_13/kernel"], arrays["conv_pw_13/kernel"])


def test_metadata_has_format_version_and_a_hash_per_tensor(tmp_path, arrays):
    path = tmp_path / "w.safetensors"
    save_arrays(path, arrays)
    meta = header(path)[1]["__metadata__"]
    assert meta["format"] == weights.FORMAT and meta["format_version"] == "1"
    assert sorted(k for k in meta if k.startswith("sha256:")) == sorted(
        "sha256:" + name for name in arrays)
    assert all(len(meta["sha256:" + name]) == 64 for name in arrays)


def test_load_without_expected_returns_everything(tmp_path, arrays):
    path = tmp_path / "w.safetensors"
    save_arrays(path, arrays)
    result = load_arrays(str(path))
    assert sorted(result.arrays) == sorted(arrays)


def test_expected_accepts_dtype_names_and_lists(tmp_path):
    path = tmp_path / "w.safetensors"
    save_arrays(path, {"k": np.zeros((2, 3), np.float32)})
    assert "k" in load_arrays(path, {"k": ([2, 3], "float32")}).arrays


# --------------------------------------------------------------------------- saving errors


@pytest.mark.parametrize("dtype", [np.float16, np.int32, np.uint8, np.complex64])
def test_save_rejects_other_dtypes(tmp_path, dtype):
    with pytest.raises(TypeError, match=r"'w' has dtype .*float32, float64, int64, bool only"):
        save_arrays(tmp_path / "w.safetensors", {"w": np.zeros(3, dtype)})
    assert list(tmp_path.iterdir()) == []


def test_save_rejects_non_arrays_and_bad_names(tmp_path):
    path = tmp_path / "w.safetensors"
    with pytest.raises(TypeError, match="'w' is a list, expected a numpy array"):
        save_arrays(path, {"w": [1.0, 2.0]})
    with pytest.raises(TypeError, match="dict of name -> array"):
        save_arrays(path, [np.zeros(2)])
    for bad in ("", "__metadata__", 3):
        with pytest.raises(ValueError, match="invalid tensor name"):
            save_arrays(path, {bad: np.zeros(2)})
    assert not path.exists()


def test_save_rejects_reserved_or_non_string_metadata(tmp_path):
    path = tmp_path / "w.safetensors"
    for key in ("format", "format_version", "sha256:w"):
        with pytest.raises(ValueError, match=f"metadata key '{key}' is reserved"):
            save_arrays(path, {"w": np.zeros(2)}, metadata={key: "x"})
    with pytest.raises(TypeError, match="metadata must map str to str"):
        save_arrays(path, {"w": np.zeros(2)}, metadata={"epoch": 3})
    assert not path.exists()


# --------------------------------------------------------------------------- damaged files


def test_one_corrupted_byte_names_the_tensor(tmp_path, arrays):
    path = tmp_path / "w.safetensors"
    save_arrays(path, arrays)
    start, head = header(path)
    begin, end = head["dense/kernel"]["data_offsets"]
    data = bytearray(path.read_bytes())
    data[start + (begin + end) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(WeightFileError, match=r"dense/kernel: sha256 mismatch") as info:
        load_arrays(path, spec(arrays), skip_mismatch=True)  # corruption is never skipped
    assert "conv_pw_13/kernel" not in str(info.value)


def test_corrupted_hash_entries(tmp_path):
    raw = {"a": np.ones(2, np.float32), "b": np.ones(3, np.float32)}
    meta = {"format": weights.FORMAT, "format_version": "1",
            "sha256:a": "0" * 64, "sha256:ghost": "0" * 64}  # b has none
    path = tmp_path / "w.safetensors"
    safetensors.numpy.save_file(raw, str(path), metadata=meta)
    with pytest.raises(WeightFileError, match=r"3 problems") as info:
        load_arrays(path)
    message = str(info.value)
    assert "a: sha256 mismatch" in message
    assert "b: no sha256 in the metadata" in message
    assert "ghost: has a sha256 in the metadata but no tensor" in message


@pytest.mark.parametrize("keep", [0, 5, 8, 40, -1])
def test_truncated_file_raises(tmp_path, arrays, keep):
    path = tmp_path / "w.safetensors"
    save_arrays(path, arrays)
    data = path.read_bytes()
    path.write_bytes(data[:keep] if keep >= 0 else data[:-1])
    with pytest.raises(WeightFileError, match="not a readable safetensors file"):
        load_arrays(path, spec(arrays), skip_mismatch=True)


def test_garbage_and_trailing_bytes_raise(tmp_path, arrays):
    path = tmp_path / "w.safetensors"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(WeightFileError, match="not a readable safetensors file"):
        load_arrays(path)
    save_arrays(path, arrays)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(WeightFileError, match="not a readable safetensors file"):
        load_arrays(path)


def test_pickle_is_not_a_weight_file(tmp_path):
    import pickle

    path = tmp_path / "w.safetensors"
    path.write_bytes(pickle.dumps({"w": np.zeros(3)}))
    with pytest.raises(WeightFileError):
        load_arrays(path)


def test_plain_safetensors_file_is_refused(tmp_path):
    path = tmp_path / "w.safetensors"
    safetensors.numpy.save_file({"w": np.zeros(3)}, str(path))
    with pytest.raises(WeightFileError, match="not a pyfrozen weight file"):
        load_arrays(path)


def test_newer_format_version_is_refused(tmp_path):
    path = tmp_path / "w.safetensors"
    w = np.zeros(3)
    meta = {"format": weights.FORMAT, "format_version": "2", "sha256:w": weights._sha256(w)}
    safetensors.numpy.save_file({"w": w}, str(path), metadata=meta)
    with pytest.raises(WeightFileError, match="format version '2'; this pyfrozen reads version 1"):
        load_arrays(path)


def test_unsupported_dtype_in_file_is_refused(tmp_path):
    path = tmp_path / "w.safetensors"
    h = np.zeros(3, np.float16)
    meta = {"format": weights.FORMAT, "format_version": "1", "sha256:h": weights._sha256(h)}
    safetensors.numpy.save_file({"h": h}, str(path), metadata=meta)
    with pytest.raises(WeightFileError, match="h: unsupported dtype F16"):
        load_arrays(path)


def test_missing_file_is_an_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_arrays(tmp_path / "nope.safetensors")


# --------------------------------------------------------------------------- mismatches


def test_every_mismatch_is_reported_together(tmp_path, arrays):
    path = tmp_path / "w.safetensors"
    save_arrays(path, arrays)
    wanted = spec(arrays)
    del wanted["empty"]                                              # unexpected in the file
    wanted["conv_pw_13/kernel"] = ((1, 1, 8, 32), np.float32)        # wrong shape
    wanted["dense/kernel"] = ((16, 10), np.float32)                  # wrong dtype
    wanted["optimizer/iterations"] = ((1,), np.float64)              # both
    wanted["head/bias"] = ((10,), np.float32)                        # missing
    with pytest.raises(WeightFileError, match="5 problems") as info:
        load_arrays(path, wanted)
    message = str(info.value)
    for line in ("missing: head/bias (expected (10,) float32)",
                 "unexpected: empty ((0, 3) float32)",
                 "mismatched: conv_pw_13/kernel: expected (1, 1, 8, 32) float32, "
                 "found (1, 1, 8, 16) float32",
                 "mismatched: dense/kernel: expected (16, 10) float32, found (16, 10) float64",
                 "mismatched: optimizer/iterations: expected (1,) float64, found () int64",
                 "nothing was loaded", "skip_mismatch=True"):
        assert line in message, line


@pytest.mark.parametrize("change", ["missing", "unexpected", "shape", "dtype"])
def test_each_single_mismatch_raises(tmp_path, arrays, change):
    path = tmp_path / "w.safetensors"
    save_arrays(path, arrays)
    wanted = spec(arrays)
    if change == "missing":
        wanted["extra"] = ((2,), np.float32)
    elif change == "unexpected":
        del wanted["dense/kernel"]
    elif change == "shape":
        wanted["dense/kernel"] = ((10, 16), np.float64)
    else:
        wanted["dense/kernel"] = ((16, 10), np.int64)
    with pytest.raises(WeightFileError, match=r"\(1 problem\)"):
        load_arrays(path, wanted)


def test_skip_mismatch_loads_what_matches(tmp_path, arrays):
    # A pretrained base saved with its old head; the new model has another head.
    path = tmp_path / "w.safetensors"
    save_arrays(path, {**arrays, "old_head/kernel": np.zeros((16, 1000), np.float32)})
    wanted = spec(arrays)
    wanted["dense/kernel"] = ((16, 5), np.float64)
    wanted["new_head/bias"] = ((5,), np.float32)
    result = load_arrays(path, wanted, skip_mismatch=True)
    assert sorted(result.arrays) == sorted(set(arrays) - {"dense/kernel"})
    assert result.missing == ["new_head/bias"]
    assert result.unexpected == ["old_head/kernel"]
    assert result.mismatched == [Mismatch("dense/kernel", (16, 5), np.dtype(np.float64),
                                          (16, 10), np.dtype(np.float64))]
    np.testing.assert_array_equal(result.arrays["conv_pw_13/kernel"], arrays["conv_pw_13/kernel"])


def test_bad_expected_spec_is_a_type_error(tmp_path):
    path = tmp_path / "w.safetensors"
    save_arrays(path, {"w": np.zeros(2)})
    with pytest.raises(TypeError, match=r"expected\['w'\] must be \(shape, dtype\)"):
        load_arrays(path, {"w": (2,)})


# --------------------------------------------------------------------------- forged headers


def write_raw(path: Path, header_text: str, body: bytes = b"") -> None:
    raw = header_text.encode()
    raw += b" " * (-len(raw) % 8)  # safetensors pads the header to 8 bytes
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + body)


def meta_text(**hashes: bytes) -> str:
    pairs = [f'"format": "{weights.FORMAT}"', '"format_version": "1"']
    pairs += [f'"sha256:{name}": "{hashlib.sha256(data).hexdigest()}"'
              for name, data in hashes.items()]
    return '"__metadata__": {' + ", ".join(pairs) + "}"


@pytest.mark.parametrize("skip_mismatch", [False, True])
def test_a_shape_numpy_cannot_hold_is_a_weight_file_error(tmp_path, skip_mismatch):
    path = tmp_path / "w.safetensors"
    write_raw(path, '{"w": {"dtype": "F32", "shape": [0, 4611686018427387904], '
                    '"data_offsets": [0, 0]}, ' + meta_text(w=b"") + "}")
    with pytest.raises(WeightFileError, match=r"w: shape \[0, 4611686018427387904\] cannot be"):
        load_arrays(path, {"w": ((0, 2), np.float32)}, skip_mismatch=skip_mismatch)


def test_a_duplicate_metadata_key_is_refused(tmp_path):
    data = np.ones(2, np.float32).tobytes()
    tensor = f'"w": {{"dtype": "F32", "shape": [2], "data_offsets": [0, {len(data)}]}}'
    path = tmp_path / "w.safetensors"
    write_raw(path, "{" + tensor + ", " + meta_text(w=data)[:-1] + ', "epoch": "1", '
              '"epoch": "2"}}', data)
    with pytest.raises(WeightFileError, match="its header names 'epoch' more than once"):
        load_arrays(path)
    write_raw(path, "{" + tensor + ", " + meta_text(w=data)[:-1]
              + f', "format": "{weights.FORMAT}"' + "}}", data)
    with pytest.raises(WeightFileError, match="names 'format' more than once"):
        load_arrays(path)


def test_a_duplicate_tensor_name_is_refused(tmp_path):
    data = np.ones(2, np.float32).tobytes()
    tensor = f'"w": {{"dtype": "F32", "shape": [2], "data_offsets": [0, {len(data)}]}}'
    path = tmp_path / "w.safetensors"
    write_raw(path, "{" + tensor + ", " + tensor + ", " + meta_text(w=data) + "}", data)
    with pytest.raises(WeightFileError, match="names 'w' more than once"):
        load_arrays(path)
