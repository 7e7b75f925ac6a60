"""TensorFlow.js and ONNX files of a model with LoRA adapters hold the merged weight.

Those files have one kernel per layer and no notion of an adapter, so a model whose
layers carry adapters (pyfrozen.layers.lora) is written from a copy in which each
adapted layer is a plain layer with ``W + (alpha / rank) A B``: the files load in tfjs
and onnxruntime as ordinary models with the same predictions. Keras files need no copy:
they hold an adapted layer as Keras writes one (pyfrozen.saving.keras_weights). The
model itself is not touched (a ``.safetensors`` file keeps W, A and B, to resume
training).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyfrozen.layers.layer import Layer
from pyfrozen.models.freezing import walk
from pyfrozen.saving.keras_model import from_keras, to_keras


def _layers(model: Layer) -> list[Layer]:
    return [layer for layer, _ in walk(model)]  # every layer under the model, each once


def has_adapters(model: Layer) -> bool:
    """Whether some layer of ``model`` holds an unmerged LoRA adapter."""
    return any(getattr(layer, "lora_enabled", False) for layer in _layers(model))


def _plain(spec: Any) -> Any:
    """A Keras config without the adapters' ``lora_rank`` / ``lora_alpha``."""
    if isinstance(spec, dict):
        return {k: _plain(v) for k, v in spec.items() if k not in ("lora_rank", "lora_alpha")}
    if isinstance(spec, list):
        return [_plain(v) for v in spec]
    return spec


def merged_copy(model: Layer) -> Layer:
    """A new model with ``model``'s structure, names and freeze masks, each adapter
    merged into its layer's base weight and dropped (the copy's layers are plain)."""
    copy = from_keras(_plain(to_keras(model)))
    for source, target in zip(_layers(model), _layers(copy), strict=True):
        if source.name != target.name:  # the copy is built from the same config
            raise RuntimeError(f"merged copy: layer {target.name!r} stands where "
                               f"{source.name!r} is")
        if not source._params:  # a nested model: its layers come in the walk
            continue
        pairs = source.merged_weights() if getattr(source, "lora_enabled", False) else [
            (p, p.data) for p in source._own_weights(True) + source._own_weights(False)]
        target.set_weights([value for _, value in pairs])
        # Kept as a file of the model would keep them (pyfrozen.saving.keras_weights).
        for (p, _), q in zip(pairs, target._own_weights(True) + target._own_weights(False),
                             strict=True):
            q.set_freeze_mask(p.freeze_mask)
    return copy


def merging(write: Callable[..., Any]) -> Callable[..., Any]:
    """``write(model, filepath, **kw)`` that writes a merged copy of an adapted model."""
    def write_merged(model: Any, filepath: Any, **kwargs: Any) -> Any:
        return write(merged_copy(model) if has_adapters(model) else model, filepath, **kwargs)

    write_merged.__doc__ = write.__doc__
    write_merged.__name__ = getattr(write, "__name__", "write")
    return write_merged
