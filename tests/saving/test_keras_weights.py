"""pyfrozen.saving.keras_weights: Keras 3 ``.weights.h5`` files in and out, Keras as oracle."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen.applications import MobileNet
from pyfrozen.io.h5 import write_vars
from pyfrozen.io.weights import WeightFileError
from pyfrozen.layers import BatchNormalization, Dense, Input, ReLU
from pyfrozen.saving.keras_weights import owners, save_keras_weights_groups


def mobilenet(**kw):
    return MobileNet(alpha=0.25, input_shape=(96, 96, 3), include_top=False, pooling="avg",
                     **kw)


def nested_pyfrozen(seed: int = 0):
    rng = np.random.default_rng(seed)
    inner = pyfrozen.Sequential([Input((4,)), Dense(3, name="d1"), BatchNormalization()],
                                name="inner")
    x = Input((4,), name="x")
    model = pyfrozen.Model(x, ReLU()(Dense(2)(inner(x))))
    for w in model.weights:  # every weight off its default, BN statistics included
        w.data[...] = rng.uniform(0.5, 1.5, w.shape)
    return model


def nested_keras(keras):
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d1"),
                              keras.layers.BatchNormalization()], name="inner")
    x = keras.Input((4,), name="x")
    return keras.Model(x, keras.layers.ReLU()(keras.layers.Dense(2)(inner(x))))


def test_keras_file_loads_through_the_public_api(keras3_files, h5py):
    folder, x, y = keras3_files
    path = folder / "mobilenet_025_96.weights.h5"
    loaded = mobilenet()
    loaded.load_weights(str(path))
    for model in (mobilenet(weights=path), loaded):
        assert float(np.abs(model.predict(x) - y).max()) <= 1e-4
        assert model.summary(print_fn=lambda _: None).total_params == 218_544


def test_pyfrozen_file_loads_in_keras_with_the_same_predictions(keras_predict, weights_bytes,
                                                                keras3_files, keras, tmp_path):
    folder, x, y = keras3_files
    path = folder / "mobilenet_025_96.weights.h5"
    ours = mobilenet(weights=path)
    out = tmp_path / "m.weights.h5"
    ours.save_weights(str(out))
    theirs = keras.applications.MobileNet(alpha=0.25, input_shape=(96, 96, 3),
                                          include_top=False, pooling="avg", weights=None)
    theirs.load_weights(str(out))
    assert float(np.abs(keras_predict(theirs, x) - y).max()) <= 1e-4
    for w, v in zip(ours.weights, theirs.weights, strict=True):  # bit-identical transfer
        assert w.numpy().tobytes() == v.value.detach().cpu().numpy().tobytes()


# Keras's save_weights under torch 2.13 and numpy 2 warns inside Keras (np.array of a tensor).
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept:DeprecationWarning")
def test_nested_model_both_ways_with_keras(keras_predict, weights_bytes, keras, h5py, tmp_path,
                                           rng):
    x = rng.standard_normal((5, 4)).astype(np.float32)
    ours = nested_pyfrozen()
    ours.save_weights(str(tmp_path / "ours.weights.h5"))
    theirs = nested_keras(keras)
    theirs.load_weights(str(tmp_path / "ours.weights.h5"))
    np.testing.assert_allclose(keras_predict(theirs, x), ours.predict(x), atol=1e-6)
    # Keras's own file has the same groups as ours, and loads back into a fresh pyfrozen model.
    theirs.save_weights(str(tmp_path / "theirs.weights.h5"))
    keras_paths = set(pyfrozen.io.h5.read_vars(tmp_path / "theirs.weights.h5"))
    assert keras_paths == {path for path, _ in owners(ours)}
    back = nested_pyfrozen(seed=1)
    back.load_weights(str(tmp_path / "theirs.weights.h5"))
    assert weights_bytes(back) == weights_bytes(ours)


def test_mismatch_raises_listing_it_and_changes_nothing(weights_bytes, tmp_path, h5py):
    source = nested_pyfrozen()
    source.save_weights(str(tmp_path / "w.weights.h5"))
    inner = pyfrozen.Sequential([Input((4,)), Dense(3, name="d1"), BatchNormalization()])
    x = Input((4,), name="x")
    target = pyfrozen.Model(x, ReLU()(Dense(7)(inner(x))))  # another head
    before = weights_bytes(target)
    with pytest.raises(WeightFileError, match=r"mismatched: layers/dense \(dense.*\)/kernel: "
                       r"expected \(3, 7\) float32, found \(3, 2\) float32"):
        target.load_weights(str(tmp_path / "w.weights.h5"))
    assert weights_bytes(target) == before
    # skip_mismatch (Keras's flag): the base loads, the head is reported and left alone.
    result = target.load_weights(str(tmp_path / "w.weights.h5"), skip_mismatch=True)
    assert [m.name.split(" ")[0] for m in result.mismatched] == ["layers/dense"]
    assert not result.missing and not result.unexpected
    assert target.layers[2].kernel.numpy().tobytes() == before[-2]
    assert weights_bytes(target.layers[1]) == weights_bytes(source.layers[1])


def test_missing_and_unexpected_groups_are_named(tmp_path, h5py):
    small = pyfrozen.Sequential([Input((4,)), Dense(3)])
    small.save_weights(str(tmp_path / "small.weights.h5"))
    bigger = pyfrozen.Sequential([Input((4,)), Dense(3), Dense(2)])
    with pytest.raises(WeightFileError, match=r"missing: layers/dense_1 .*2 variables, no group"):
        bigger.load_weights(str(tmp_path / "small.weights.h5"))
    bigger.save_weights(str(tmp_path / "big.weights.h5"))
    with pytest.raises(WeightFileError, match=r"unexpected: layers/dense_1 .*2 variables"):
        small.load_weights(str(tmp_path / "big.weights.h5"))


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.97])
def test_truncated_file_raises_and_changes_nothing(weights_bytes, keras3_files, tmp_path, cut,
                                                   h5py):
    path = keras3_files[0] / "mobilenet_025_96.weights.h5"
    data = path.read_bytes()
    broken = tmp_path / "cut.weights.h5"
    broken.write_bytes(data[:int(len(data) * cut)])
    model = mobilenet()
    before = weights_bytes(model)
    with pytest.raises(WeightFileError, match="cut.weights.h5' is not a readable HDF5"):
        model.load_weights(str(broken))
    assert weights_bytes(model) == before
    with pytest.raises(WeightFileError, match="cut.weights.h5' is not a readable HDF5"):
        mobilenet(weights=broken)


@pytest.mark.parametrize("name", ["w.h5", "w.keras", "w.npz", "w"])
def test_other_suffixes_raise_naming_the_two(tmp_path, name):
    model = pyfrozen.Sequential([Input((4,)), Dense(3)])
    for call in (model.save_weights, model.load_weights):
        with pytest.raises(ValueError, match=r'must end in one of: "\.safetensors", '
                                             r'"\.weights\.h5"'):
            call(str(tmp_path / name))
    assert list(tmp_path.iterdir()) == []


def test_safetensors_and_h5_hold_the_same_weights(weights_bytes, tmp_path, h5py):
    model = nested_pyfrozen()
    for name in ("w.safetensors", "w.weights.h5"):
        model.save_weights(str(tmp_path / name))
        back = nested_pyfrozen(seed=3)
        back.load_weights(str(tmp_path / name))
        assert weights_bytes(back) == weights_bytes(model)


def test_a_freeze_mask_that_does_not_fit_raises_and_changes_nothing(weights_bytes, tmp_path,
                                                                     h5py):
    groups = save_keras_weights_groups(nested_pyfrozen())
    dense = groups["layers/dense"]
    groups["layers/dense"] = dense._replace(masks={0: np.ones(5, bool)})
    write_vars(tmp_path / "bad.weights.h5", groups)
    target = nested_pyfrozen(seed=2)
    before = weights_bytes(target)
    for skip in (False, True):
        with pytest.raises(WeightFileError, match=r"layers/dense \(dense.*\)/kernel: freeze "
                                                  r"mask of shape \(5,\) does not broadcast"):
            target.load_weights(str(tmp_path / "bad.weights.h5"), skip_mismatch=skip)
    assert weights_bytes(target) == before
    assert all(w.freeze_mask is None for w in target.weights)


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept:DeprecationWarning")
def test_custom_layer_with_sub_layers_uses_keras_paths(keras, keras_predict, tmp_path, rng):
    # Keras keeps a custom layer's sub-layers under their attribute names (sorted), lists
    # as containers with per-class counters: layers/block/blocks/dense_1, layers/block/proj.
    def block_class(lib):
        class Block(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.proj = lib.layers.Dense(3)
                self.blocks = [lib.layers.Dense(3), lib.layers.Dense(3)]

            def call(self, x):
                return self.blocks[1](self.blocks[0](self.proj(x)))

        return Block

    x = keras.Input((4,))
    theirs = keras.Model(x, block_class(keras)()(x))
    theirs.save_weights(str(tmp_path / "k.weights.h5"))
    inputs = Input((4,))
    ours = pyfrozen.Model(inputs, block_class(pyfrozen)()(inputs))
    assert {p for p, _ in owners(ours)} == set(pyfrozen.io.h5.read_vars(tmp_path / "k.weights.h5"))
    ours.load_weights(str(tmp_path / "k.weights.h5"))
    data = rng.standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_allclose(ours.predict(data), keras_predict(theirs, data), atol=1e-6)
