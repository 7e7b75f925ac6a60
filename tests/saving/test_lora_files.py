"""Files of models with LoRA adapters (pyfrozen.saving.lora_merge): what they keep
besides the merged kernels."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import pyfrozen
from pyfrozen.layers import Dense, Input
from pyfrozen.saving.lora_merge import merged_copy


def _masked_and_adapted():
    inputs = Input((6,))
    masked = Dense(5, name="masked")
    model = pyfrozen.Model(inputs, Dense(3, name="adapted")(masked(inputs)))
    return model


def _masks(model):
    return [None if w.freeze_mask is None else w.freeze_mask.tolist() for w in model.weights]


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_an_adapter_elsewhere_in_the_model_keeps_the_freeze_masks_in_keras_files(
        suffix, tmp_path):
    """The files are written from a merged copy of the model: it must carry the masks
    as the model itself would (without LoRA they travel in both files)."""
    model = _masked_and_adapted()
    mask = np.zeros((6, 5), bool)
    mask[:, 1:3] = True
    model.get_layer("masked").set_freeze_mask("kernel", mask)
    model.get_layer("masked").set_freeze_mask("bias", np.array([1, 0, 0, 1, 0], bool))
    model.get_layer("adapted").enable_lora(2)
    path = str(tmp_path / f"m{suffix}")
    model.save_weights(path) if suffix == ".weights.h5" else model.save(path)
    if suffix == ".weights.h5":
        back = _masked_and_adapted()
        back.load_weights(path)
    else:
        back = pyfrozen.saving.load_model(path)
    layer = back.get_layer("masked")
    np.testing.assert_array_equal(layer.kernel.freeze_mask, mask)
    assert layer.bias.freeze_mask.tolist() == [True, False, False, True, False]
    kept = [m for w, m in zip(model.weights, _masks(model), strict=True)
            if not w.name.startswith("lora_")]
    assert [m for w, m in zip(back.weights, _masks(back), strict=True)
            if not w.name.startswith("lora_")] == kept


def test_the_merged_copy_for_tfjs_and_onnx_keeps_the_freeze_masks():
    model = _masked_and_adapted()
    model.get_layer("masked").set_freeze_mask("kernel", np.arange(5) % 2 == 0)
    adapted = model.get_layer("adapted")
    adapted.enable_lora(2, b_initializer="random_normal")
    adapted.set_freeze_mask("bias", np.array([True, False, True]))
    copy = merged_copy(model)
    assert not copy.get_layer("adapted").lora_enabled
    np.testing.assert_array_equal(copy.get_layer("adapted").kernel.numpy(),
                                  adapted.merged_kernel())
    assert _masks(copy) == [m for w, m in zip(model.weights, _masks(model), strict=True)
                            if not w.name.startswith("lora_")]
    assert _masks(copy)[0] == [True, False, True, False, True]


def test_the_config_of_an_adapted_layer_carries_its_rank_and_alpha_as_keras_does():
    layer = Dense(3, name="adapted")
    layer(np.zeros((1, 4), np.float32))
    assert "lora_rank" not in layer.get_config()
    layer.enable_lora(2, lora_alpha=3.0, b_initializer="random_normal")
    config = layer.get_config()
    assert (config["lora_rank"], config["lora_alpha"]) == (2, 3.0)
    again = Dense.from_config(config)  # enables the adapter once built, as Keras
    assert "lora_rank" in again.get_config() and not again.lora_enabled
    again(np.zeros((1, 4), np.float32))
    assert again.lora_enabled and (again.lora_rank, again.lora_alpha) == (2, 3.0)
    assert [w.name for w in again.weights] == [w.name for w in layer.weights]
    assert not again.kernel.trainable and again.lora_kernel_a.trainable
    layer.merge_lora()
    assert "lora_rank" not in layer.get_config()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"lora_rank": 0}, "lora_rank"), ({"lora_rank": 2.5}, "lora_rank"),
    ({"lora_rank": 2, "lora_alpha": float("nan")}, r"'bad'.*lora_alpha")])
def test_a_bad_lora_rank_or_alpha_in_the_constructor_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Dense(3, name="bad", **kwargs)


def _keras_adapted(keras):
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="adapted")(x))
    model.get_layer("conv").enable_lora(2, lora_alpha=3.0)
    model.get_layer("adapted").enable_lora(2, lora_alpha=3.0)
    rng = np.random.default_rng(12)
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32)
                       for w in model.get_weights()])
    return model


def test_a_keras_file_of_an_adapted_keras_model_loads_with_its_adapters(
        keras, keras_predict, tmp_path):
    """Keras writes lora_rank / lora_alpha in the config and the merged kernels; loading
    builds, enables the adapters and puts the merged kernels in the base weights with
    B zeroed (Keras's load_own_variables): Keras's predictions."""
    x = np.random.default_rng(13).standard_normal((2, 6, 6, 3)).astype(np.float32)
    with warnings.catch_warnings():  # Keras's torch backend trips numpy 2's copy warning
        warnings.simplefilter("ignore", DeprecationWarning)
        theirs = _keras_adapted(keras)
        expected = keras_predict(theirs, x)
        theirs.save(str(tmp_path / "k.keras"))
    model = pyfrozen.saving.load_model(str(tmp_path / "k.keras"))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    for name in ("conv", "adapted"):
        layer = model.get_layer(name)
        assert layer.lora_enabled and (layer.lora_rank, layer.lora_alpha) == (2, 3.0)
        assert not layer._lora_adapters()[1].numpy().any()
        assert not getattr(layer, layer._lora_base).trainable


def test_keras_loads_the_keras_file_of_an_adapted_model_as_one_it_wrote(
        keras, keras_predict, tmp_path):
    """pyfrozen writes what Keras writes for an adapted model: lora_rank / lora_alpha in
    the config of the layers Keras adapts (Dense, Conv2D), the merged kernels as the
    weights. DepthwiseConv2D's adapter (beyond Keras) is written as a plain layer with
    the merged kernel."""
    inputs = Input((6, 6, 3))
    depthwise = pyfrozen.layers.DepthwiseConv2D(3, padding="same", name="depthwise")
    conv = pyfrozen.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")
    x = pyfrozen.layers.GlobalAveragePooling2D(name="gap")(conv(depthwise(inputs)))
    model = pyfrozen.Model(inputs, Dense(3, name="adapted")(x))
    for layer in (depthwise, conv, model.get_layer("adapted")):
        layer.enable_lora(2, lora_alpha=3.0, b_initializer="random_normal")
    x = np.random.default_rng(14).standard_normal((2, 6, 6, 3)).astype(np.float32)
    expected = model.predict(x, verbose=0)
    model.save(str(tmp_path / "m.keras"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        theirs = keras.saving.load_model(str(tmp_path / "m.keras"))
        np.testing.assert_allclose(keras_predict(theirs, x), expected, rtol=1e-5, atol=1e-5)
    for name in ("conv", "adapted"):
        assert theirs.get_layer(name).lora_enabled
        assert theirs.get_layer(name).get_config()["lora_rank"] == 2
    assert len(theirs.get_layer("depthwise").weights) == 2
    back = pyfrozen.saving.load_model(str(tmp_path / "m.keras"))
    np.testing.assert_allclose(back.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    assert [back.get_layer(n).lora_enabled for n in ("depthwise", "conv", "adapted")] == [
        False, True, True]
    assert back.get_layer("adapted").lora_alpha == 3.0
