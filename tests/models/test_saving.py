"""Weight files: paths inside the model, bit-exact round trips, refusals, skip_mismatch."""

from __future__ import annotations

import os

import numpy as np
import pytest

import pyfrozen
from pyfrozen.io import WeightFileError, save_arrays
from pyfrozen.layers import Dense, Input
from pyfrozen.models import Model, Sequential
from pyfrozen.models.saving import weight_paths


def mlp(name=None):
    return Sequential([Input((4,)), Dense(8, activation="relu", name="hidden"),
                       Dense(3, name="out")], name=name)


def test_weights_round_trip_bit_exactly_into_a_rebuilt_model(tmp_path):
    path = tmp_path / "w.safetensors"
    model = Sequential([Input((4,)), Dense(8), Dense(3)])  # auto-named layers
    model.save_weights(str(path))
    rebuilt = Sequential([Input((4,)), Dense(8), Dense(3)])  # other global names
    assert rebuilt.layers[0].name != model.layers[0].name
    rebuilt.load_weights(str(path))
    for a, b in zip(model.get_weights(), rebuilt.get_weights(), strict=True):
        assert a.tobytes() == b.tobytes()


def test_nested_auto_named_functional_model_loads_into_a_rebuilt_model(tmp_path):
    def build():
        inp = Input((4,))
        base = Model(inp, Dense(3)(inp))  # auto-named "functional", "functional_1", ...
        outer = Input((4,))
        return Model(outer, Dense(2)(base(outer)))

    path = tmp_path / "w.safetensors"
    model = build()
    model.save_weights(str(path))
    rebuilt = build()
    rebuilt.load_weights(str(path))
    for a, b in zip(model.get_weights(), rebuilt.get_weights(), strict=True):
        assert a.tobytes() == b.tobytes()


def test_two_weights_with_one_path_are_refused_not_overwritten(tmp_path):
    class Pair(pyfrozen.layers.Layer):
        def __init__(self):
            super().__init__()
            self.a, self.b = Dense(2, name="d"), Dense(2, name="d")

        def call(self, x):
            return self.a(x) + self.b(x)

    inp = Input((3,))
    model = Model(inp, Pair()(inp))
    with pytest.raises(ValueError, match="have the path 'pair/d/kernel'"):
        model.save_weights(str(tmp_path / "w.safetensors"))


def test_bad_files_are_rejected_and_load_nothing(tmp_path):
    path = tmp_path / "w.safetensors"
    mlp().save_weights(str(path))
    other = Sequential([Input((4,)), Dense(8, name="hidden"), Dense(2, name="out")])
    before = other.get_weights()
    with pytest.raises(WeightFileError, match=r"out/kernel"):
        other.load_weights(str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightFileError):
        other.load_weights(str(path))
    corrupted = bytearray(data)
    corrupted[-5] ^= 0xFF
    path.write_bytes(bytes(corrupted))
    with pytest.raises(WeightFileError, match="sha256"):
        mlp().load_weights(str(path))
    for a, b in zip(before, other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_skip_mismatch_loads_the_base_of_a_replaced_head(tmp_path):
    path = tmp_path / "w.safetensors"
    source = mlp()
    source.save_weights(str(path))
    target = Sequential([Input((4,)), Dense(8, activation="relu", name="hidden"),
                         Dense(10, name="out")])
    missing, unexpected, mismatched = target.load_weights(str(path), skip_mismatch=True)
    assert (missing, unexpected) == ([], [])
    assert sorted(m.name for m in mismatched) == ["out/bias", "out/kernel"]
    np.testing.assert_array_equal(target.get_layer("hidden").kernel.data,
                                  source.get_layer("hidden").kernel.data)


def test_paths_use_fresh_process_names_for_auto_named_layers():
    inp = Input((4,))
    inner = Model(inp, Dense(2, name="proj")(Dense(3)(inp)))
    outer_in = Input((4,))
    model = Model(outer_in, Dense(1)(Dense(5)(inner(outer_in))), name="outer")
    shared = Dense(4)  # used twice: its weights are listed once
    x = Input((4,))
    twice = Model(x, shared(shared(x)))
    assert [path for path, _ in weight_paths(model)] == [
        "functional/dense/kernel", "functional/dense/bias",
        "functional/proj/kernel", "functional/proj/bias",
        "dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"]
    assert [path for path, _ in weight_paths(twice)] == ["dense/kernel", "dense/bias"]


def test_an_unbuilt_model_can_neither_save_nor_load(tmp_path):
    model = Sequential([Dense(2)])
    path = str(tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match="is not built yet.*before save_weights"):
        model.save_weights(path)
    with pytest.raises(ValueError, match="is not built yet.*before load_weights"):
        model.load_weights(path)


def test_save_weights_through_a_symlink_keeps_the_link(tmp_path):
    model = mlp()
    (tmp_path / "runs").mkdir()
    target = tmp_path / "runs" / "epoch_3.safetensors"
    latest = tmp_path / "latest.safetensors"
    latest.symlink_to(target)
    model.save_weights(str(latest))
    assert latest.is_symlink() and target.is_file()
    other = mlp()
    other.load_weights(str(latest))
    for a, b in zip(model.get_weights(), other.get_weights(), strict=True):
        assert a.tobytes() == b.tobytes()


def test_save_weights_into_a_missing_folder_names_the_path_given(tmp_path):
    path = tmp_path / "missing" / "w.safetensors"
    with pytest.raises(FileNotFoundError, match="missing' does not exist") as info:
        mlp().save_weights(str(path))
    assert info.value.filename == str(path)


def test_load_weights_refuses_a_fifo(tmp_path):
    fifo = tmp_path / "w.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(WeightFileError, match="is a FIFO"):
        mlp().load_weights(str(fifo))


# --------------------------------------------------------------------------- freeze masks


def masked_mlp():
    model = mlp()
    model.layers[0].set_freeze_mask("kernel", np.array([True, False, True, False, True, False,
                                                        True, False]))
    model.layers[1].set_freeze_mask("bias", np.array([False, True, False]))
    return model


def test_freeze_masks_are_saved_and_restored(tmp_path):
    pyfrozen.utils.set_random_seed(0)  # an init where some unmasked hidden unit is active
    source = masked_mlp()
    path = tmp_path / "w.safetensors"
    source.save_weights(str(path))
    target = mlp()
    assert all(w.freeze_mask is None for w in target.weights)
    target.load_weights(str(path))
    for a, b in zip(source.weights, target.weights, strict=True):
        if a.freeze_mask is None:
            assert b.freeze_mask is None
        else:
            np.testing.assert_array_equal(a.freeze_mask, b.freeze_mask)
    # ... and they act: a training step leaves the frozen elements bit-identical.
    kernel = target.layers[0].kernel
    before = kernel.numpy().copy()
    target.compile(optimizer="sgd", loss="mse")
    target.fit(np.ones((4, 4), np.float32), np.zeros((4, 3), np.float32), epochs=1, verbose=0)
    frozen = np.broadcast_to(kernel.freeze_mask, kernel.shape)
    assert np.array_equal(kernel.numpy()[frozen], before[frozen])
    assert not np.array_equal(kernel.numpy()[~frozen], before[~frozen])


def test_a_file_without_masks_keeps_the_models_masks(tmp_path):
    path = tmp_path / "w.safetensors"
    mlp().save_weights(str(path))
    target = masked_mlp()
    target.load_weights(str(path))  # pretrained weights never unfreeze anything
    assert target.layers[0].kernel.freeze_mask is not None


def test_a_mask_that_does_not_fit_raises_and_changes_nothing(tmp_path):
    path = tmp_path / "w.safetensors"
    arrays = {p: w.numpy() for p, w in weight_paths(mlp())}
    name = next(iter(arrays))
    arrays[name + ":freeze_mask"] = np.ones(3, bool)
    arrays["nowhere/kernel:freeze_mask"] = np.ones(1, bool)
    save_arrays(str(path), arrays)
    target = mlp()
    before = [w.numpy().copy() for w in target.weights]
    with pytest.raises(WeightFileError, match="freeze masks that cannot be restored") as info:
        target.load_weights(str(path))
    assert f"{name}:freeze_mask: freeze mask of shape (3,) does not broadcast" in str(info.value)
    assert "the model has no weight 'nowhere/kernel'" in str(info.value)
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, target.weights, strict=True))
    assert all(w.freeze_mask is None for w in target.weights)


def test_file_keys_follow_execution_order_not_keras_layer_order():
    # model.layers lists a, c, b (Keras's depth order) but the layers run c, a, b: the
    # auto-named keys of a .safetensors file keep meaning the layers in the order they
    # run, as in files written before model.layers took Keras's order.
    from pyfrozen.layers import Add, Dense, Input

    inputs = Input((3,))
    c = Dense(3)
    a = Dense(3)
    b = Dense(3)
    model = pyfrozen.Model(inputs, Add()([c(inputs), b(a(inputs))]))
    assert [layer for layer in model.layers[1:4]] == [a, c, b]
    keys = {path.split("/")[0]: p for path, p in weight_paths(model)}
    assert keys["dense"] is c.kernel or keys["dense"] is c.bias
    assert {path: p for path, p in weight_paths(model)}["dense_1/kernel"] is a.kernel
    assert {path: p for path, p in weight_paths(model)}["dense_2/kernel"] is b.kernel


def test_save_weights_takes_keras_overwrite_argument(tmp_path):
    path = tmp_path / "w.safetensors"
    mlp().save_weights(str(path), overwrite=True)
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=False"):
        mlp().save_weights(str(path), overwrite=False)
    assert path.read_bytes() == before
