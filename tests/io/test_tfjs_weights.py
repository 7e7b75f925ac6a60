"""io/tfjs_weights.py: the byte stream of a tfjs weights manifest, both ways."""

from __future__ import annotations

import numpy as np
import pytest

from pyfrozen.io.tfjs_weights import TfjsWeightsError, read_manifest_weights, write_shards


def test_write_then_read_across_shard_boundaries(tmp_path, rng):
    weights = [("a/kernel", rng.standard_normal((3, 5)).astype(np.float32)),
               ("a/bias", rng.standard_normal(5).astype(np.float32)),
               ("b/empty", np.zeros((0, 4), np.float32)),
               ("b/scalar", np.array(2.5, np.float32))]
    manifest = write_shards(str(tmp_path), weights, shard_bytes=7)  # inside floats
    assert manifest[0]["paths"] == [f"group1-shard{i}of12.bin" for i in range(1, 13)]
    assert manifest[0]["weights"][2] == {"name": "b/empty", "shape": [0, 4], "dtype": "float32"}
    back = read_manifest_weights(str(tmp_path), manifest, "test")
    assert list(back) == [name for name, _ in weights]
    for name, value in weights:
        assert back[name].dtype == np.float32 and back[name].shape == value.shape
        assert back[name].tobytes() == value.tobytes()
        assert back[name].flags.writeable  # a copy, not a view of the file's bytes


@pytest.mark.parametrize(("manifest", "message"), [
    ({"paths": []}, "'weightsManifest' must be a list of groups, got dict"),
    ([{"paths": ["x.bin"]}], "group 0 must hold 'paths' and 'weights' lists"),
    ([{"paths": ["x.bin"], "weights": ["w"]}], "a weight entry must be an object"),
    ([{"paths": [], "weights": [{"name": "w", "shape": [2.0], "dtype": "float32"}]}],
     r"'w' has shape \[2.0\]"),
    ([{"paths": [], "weights": [{"name": "w", "shape": [True], "dtype": "float32"}]}],
     r"'w' has shape \[True\]"),
    ([{"paths": [7], "weights": []}], "shard path 7 must be a relative file name"),
], ids=["not_a_list", "no_weights", "entry_not_object", "float_dim", "bool_dim",
        "path_not_string"])
def test_malformed_manifests(tmp_path, manifest, message):
    with pytest.raises(TfjsWeightsError, match=message):
        read_manifest_weights(str(tmp_path), manifest, "test")
