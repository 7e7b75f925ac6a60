"""Files of models with LoRA adapters (pyfrozen.saving.lora_merge): what they keep
besides the merged kernels."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen.layers import Dense, Input


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
