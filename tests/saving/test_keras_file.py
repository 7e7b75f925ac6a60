"""``.keras`` files: pyfrozen <-> Keras 3 (the oracle), round trips and malformed files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import pyfrozen
from pyfrozen.io.weights import WeightFileError
from pyfrozen.layers import BatchNormalization, Conv2D, Dense, Input, ReLU
from pyfrozen.saving import UnsupportedKerasConfig

# Keras under torch 2.13 + numpy 2 warns inside its own code (np.array of a tensor) when it
# saves or converts: third-party noise, an error under filterwarnings=error.
KERAS_WARNING = "ignore:__array__ implementation doesn't accept:DeprecationWarning"


def nested(seed: int = 0):
    rng = np.random.default_rng(seed)
    inner = pyfrozen.Sequential([Input((8, 8, 3)), Conv2D(4, 3, padding="same", name="c"),
                                 BatchNormalization(name="bn"), ReLU(6.0)], name="inner")
    x = Input((8, 8, 3), name="img")
    y = inner(x)
    y = pyfrozen.layers.Add()([y, Conv2D(4, 1, name="skip")(x)])
    y = pyfrozen.layers.GlobalAveragePooling2D()(y)
    model = pyfrozen.Model(x, Dense(2, activation="softmax", name="head")(y), name="net")
    for w in model.weights:
        w.data[...] = rng.uniform(0.5, 1.5, w.shape)
    return model


def test_keras_written_file_loads(keras3_files, h5py):
    folder, x, y = keras3_files
    path = folder / "mobilenet_025_96.keras"
    model = pyfrozen.saving.load_model(path)
    assert pyfrozen.models.load_model is pyfrozen.saving.load_model
    assert float(np.abs(model.predict(x) - y).max()) <= 1e-4
    summary = model.summary(print_fn=lambda _: None)
    assert (summary.total_params, summary.trainable_params,
            summary.non_trainable_params) == (218_544, 213_072, 5_472)
    assert model.name == json.loads(zipfile.ZipFile(path).read("config.json"))["config"]["name"]


def test_imported_mobilenet_is_fine_tuned_with_a_new_head(weights_bytes, keras3_files, h5py, rng):
    folder, x, _ = keras3_files
    path = folder / "mobilenet_025_96.keras"
    base = pyfrozen.saving.load_model(path)
    base.trainable = False
    inputs = Input((96, 96, 3))
    model = pyfrozen.Model(inputs, Dense(3, activation="softmax")(base(inputs, training=False)))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before, head = weights_bytes(base), model.layers[-1].kernel.numpy().copy()
    model.fit(x, np.array([0, 1, 2, 0]), epochs=2, verbose=0)
    assert weights_bytes(base) == before
    assert not np.array_equal(model.layers[-1].kernel.numpy(), head)


@pytest.mark.filterwarnings(KERAS_WARNING)
def test_pyfrozen_file_loads_in_keras(keras_predict, keras3_files, keras, tmp_path):
    folder, x, y = keras3_files
    path = folder / "mobilenet_025_96.keras"
    ours = pyfrozen.saving.load_model(path)
    ours.save(tmp_path / "m.keras")
    theirs = keras.saving.load_model(tmp_path / "m.keras")
    assert float(np.abs(keras_predict(theirs, x) - y).max()) <= 1e-4
    assert theirs.count_params() == 218_544


@pytest.mark.filterwarnings(KERAS_WARNING)
def test_nested_model_through_keras_and_back(keras_predict, weights_bytes, keras, tmp_path, rng):
    x = rng.standard_normal((3, 8, 8, 3)).astype(np.float32)
    ours = nested()
    ours.get_layer("skip").trainable = False
    ours.save(str(tmp_path / "ours.keras"))
    theirs = keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_allclose(keras_predict(theirs, x), ours.predict(x), atol=1e-5)
    assert not theirs.get_layer("skip").trainable
    theirs.save(tmp_path / "theirs.keras")
    back = pyfrozen.saving.load_model(tmp_path / "theirs.keras")
    assert weights_bytes(back) == weights_bytes(ours)
    assert [type(layer).__name__ for layer in back.layers] == [
        type(layer).__name__ for layer in ours.layers]
    assert not back.get_layer("skip").trainable and back.get_layer("head").trainable


def test_pyfrozen_round_trip_is_bit_identical_and_keeps_flags(weights_bytes, tmp_path, rng):
    x = rng.standard_normal((3, 8, 8, 3)).astype(np.float32)
    model = nested()
    model.get_layer("inner").trainable = False
    model.save(str(tmp_path / "m.keras"))
    back = pyfrozen.models.load_model(str(tmp_path / "m.keras"))
    assert weights_bytes(back) == weights_bytes(model)
    np.testing.assert_array_equal(back.predict(x), model.predict(x))
    assert [w.trainable for w in back.weights] == [w.trainable for w in model.weights]
    assert back.get_layer("inner").get_layer("bn").epsilon == 1e-3
    assert back.count_params() == model.count_params()


def test_sequential_round_trip(tmp_path, rng):
    model = pyfrozen.Sequential([Input((4,)), Dense(3, activation="relu", use_bias=False),
                                 Dense(2, name="out")], name="stack")
    model.save(str(tmp_path / "s.keras"))
    back = pyfrozen.saving.load_model(str(tmp_path / "s.keras"))
    x = rng.standard_normal((5, 4)).astype(np.float32)
    assert type(back) is pyfrozen.Sequential and back.name == "stack"
    np.testing.assert_array_equal(back.predict(x), model.predict(x))


# --------------------------------------------------------------------------- malformed files


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "m.keras"
    nested().save(str(path))
    return path


@pytest.mark.parametrize("cut", [0.0, 0.3, 0.7, 0.99])
def test_truncated_zip_raises(saved, cut):
    data = saved.read_bytes()
    saved.write_bytes(data[:int(len(data) * cut)])
    with pytest.raises(WeightFileError, match="m.keras' is not a readable .keras zip"):
        pyfrozen.saving.load_model(saved)


def test_corrupted_member_is_caught_by_its_crc(saved):
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as archive:
        info = archive.getinfo("model.weights.h5")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF  # one flipped byte inside the weights
    saved.write_bytes(bytes(data))
    with pytest.raises(WeightFileError, match="model.weights.h5 fails its CRC check"):
        pyfrozen.saving.load_model(saved)


def rewrite(path, config):
    with zipfile.ZipFile(path) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def test_unknown_layer_class_is_named(saved):
    config = json.loads(zipfile.ZipFile(saved).read("config.json"))
    config["config"]["layers"][-1]["class_name"] = "LSTM"
    rewrite(saved, config)
    with pytest.raises(UnsupportedKerasConfig, match=r"layer 'head' \(LSTM\): Unknown layer"):
        pyfrozen.saving.load_model(saved)


def test_model_options_pyfrozen_lacks_are_named(tmp_path):
    path = tmp_path / "s.keras"
    pyfrozen.Sequential([Input((4,)), Dense(2)], name="stack").save(str(path))
    config = json.loads(zipfile.ZipFile(path).read("config.json"))
    config["config"]["dtype"]["config"]["name"] = "mixed_bfloat16"
    rewrite(path, config)
    with pytest.raises(UnsupportedKerasConfig, match=r"model 'stack' \(Sequential\): dtype "
                                                     r"'mixed_bfloat16' is not supported"):
        pyfrozen.saving.load_model(path)


def test_weights_that_do_not_fit_the_config_raise(saved):
    config = json.loads(zipfile.ZipFile(saved).read("config.json"))
    config["config"]["layers"][-1]["config"]["units"] = 5
    rewrite(saved, config)
    with pytest.raises(WeightFileError, match=r"mismatched: layers/dense \(head\)/kernel"):
        pyfrozen.saving.load_model(saved)


def test_missing_member_is_named(saved):
    with zipfile.ZipFile(saved) as archive:
        config = archive.read("config.json")
    with zipfile.ZipFile(saved, "w") as archive:
        archive.writestr("config.json", config)
    with pytest.raises(WeightFileError, match="has no model.weights.h5"):
        pyfrozen.saving.load_model(saved)


def test_unsavable_model_raises_and_keeps_the_old_file(saved):
    class Custom(pyfrozen.Model):
        def call(self, x):
            return x

    before = saved.read_bytes()
    model = Custom(name="my_subclass")
    model.built = True
    with pytest.raises(UnsupportedKerasConfig, match="'my_subclass' .*subclassed model"):
        model.save(str(saved))
    assert saved.read_bytes() == before
    with pytest.raises(FileExistsError, match="overwrite=False"):
        nested().save(str(saved), overwrite=False)


# --------------------------------------------------------------------------- graph shapes


def two_towers(lib, seed=None):
    """Two inputs, a shared layer, two outputs; pa, pb and o1 all Dense(4) on 4 features,
    so weights put in the wrong same-class group would load without a shape error."""
    L = lib.layers
    a, b = lib.Input((4,), name="a"), lib.Input((4,), name="b")
    shared = L.Dense(4, name="shared")
    ya = shared(L.Dense(4, name="pa")(a))
    yb = shared(L.Dense(4, name="pb")(b))
    o1 = L.Dense(4, name="o1")(L.Concatenate(name="cat")([ya, yb]))
    o2 = L.Activation("sigmoid", name="o2")(L.Add(name="add")([ya, yb]))
    model = lib.Model([a, b], [o1, o2], name="towers")
    if seed is not None:
        rng = np.random.default_rng(seed)
        for w in model.weights:
            w.data[...] = rng.standard_normal(w.shape)
    return model


@pytest.mark.filterwarnings(KERAS_WARNING)
def test_multi_input_shared_layer_model_matches_keras(keras, keras_predict, weights_bytes,
                                                      tmp_path, rng):
    x = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(2)]
    ours = two_towers(pyfrozen, seed=0)
    ours.save(str(tmp_path / "ours.keras"))
    theirs = keras.saving.load_model(tmp_path / "ours.keras")
    assert [layer.name for layer in theirs.layers] == [
        spec["name"] for spec in json.loads(
            zipfile.ZipFile(tmp_path / "ours.keras").read("config.json"))["config"]["layers"]]
    for got, want in zip(theirs([*x], training=False), ours.predict(x), strict=True):
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-5, atol=1e-5)
    # Keras's own weight file of the same architecture (its group order) loads into ours.
    keras_built = two_towers(keras)
    keras_built.set_weights([w.numpy() * 2 for w in ours.weights])
    keras_built.save_weights(str(tmp_path / "k.weights.h5"))
    again = two_towers(pyfrozen, seed=1)
    again.load_weights(str(tmp_path / "k.weights.h5"))
    for got, want in zip(again.predict(x), keras_built([*x], training=False), strict=True):
        np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.filterwarnings(KERAS_WARNING)
def test_compiled_keras_model_loads_without_its_optimizer(keras, tmp_path, rng):
    model = two_towers(keras)
    model.compile(optimizer="adam", loss=["mse", "mse"])
    x = [rng.standard_normal((4, 4)).astype(np.float32) for _ in range(2)]
    model.fit(x, [np.zeros((4, 4)), np.zeros((4, 4))], verbose=0)
    model.save(tmp_path / "fit.keras")
    ours = pyfrozen.saving.load_model(tmp_path / "fit.keras")
    for got, want in zip(ours.predict(x), model([*x], training=False), strict=True):
        np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.filterwarnings(KERAS_WARNING)
@pytest.mark.parametrize("name", ["m.keras", "m.weights.h5"])
def test_freeze_masks_travel_in_keras_files_that_keras_still_reads(keras, keras_predict,
                                                                   tmp_path, rng, name):
    model = nested()
    model.get_layer("head").set_freeze_mask("kernel", np.array([True, False]))
    model.get_layer("inner").get_layer("c").set_freeze_mask("bias", np.array([1, 0, 0, 1], bool))
    path = str(tmp_path / name)
    if name.endswith(".keras"):
        model.save(path)
        back = pyfrozen.saving.load_model(path)
        theirs = keras.saving.load_model(path)
    else:
        model.save_weights(path)
        back = nested(seed=1)
        back.load_weights(path)
        nested().save(str(tmp_path / "plain.keras"))  # the architecture, for Keras
        theirs = keras.saving.load_model(tmp_path / "plain.keras")
        theirs.load_weights(path)  # Keras ignores the masks' group
    masks = [None if w.freeze_mask is None else w.freeze_mask.tolist() for w in model.weights]
    assert [None if w.freeze_mask is None else w.freeze_mask.tolist()
            for w in back.weights] == masks
    x = rng.standard_normal((2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(keras_predict(theirs, x), model.predict(x), atol=1e-5)
