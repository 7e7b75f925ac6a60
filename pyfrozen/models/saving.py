"""Weight files of models: safetensors keyed by each weight's path inside the model.

A path is the chain of layer names from the model down to the weight
(``conv_pw_13/kernel``, ``base/conv1_bn/moving_mean``). Layers named by the user keep
their name; auto-named layers get the Keras-style name they would have in a fresh
process, counted within their parent (``dense``, ``dense_1``), so a model rebuilt in
the same process (whose auto names carry higher global counters) loads its file.

A weight's freeze mask (``set_freeze_mask``) is stored beside it as a bool tensor
``<path>:freeze_mask`` and set again on load; a weight the file has no mask for keeps
the mask it has in the model (loading pretrained weights never unfreezes anything).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from pyfrozen.autograd import no_grad
from pyfrozen.io.weights import (
    LoadedArrays,
    Mismatch,
    WeightFileError,
    check_expected,
    load_arrays,
    save_arrays,
)
from pyfrozen.layers.layer import Layer, snake_case
from pyfrozen.tensor import Parameter

MASK_SUFFIX = ":freeze_mask"


class LoadResult(NamedTuple):
    """What ``load_weights(..., skip_mismatch=True)`` left out."""

    missing: list[str]
    unexpected: list[str]
    mismatched: list[Mismatch]


def _child_names(layers: list[Layer]) -> list[str]:
    taken = {layer.name for layer in layers if layer._explicit_name}
    counts: dict[str, int] = {}
    names = []
    for layer in layers:
        if layer._explicit_name:
            names.append(layer.name)
            continue
        base = _default_base(layer)
        while True:
            k = counts.get(base, 0)
            counts[base] = k + 1
            name = base if k == 0 else f"{base}_{k}"
            if name not in taken:
                break
        taken.add(name)
        names.append(name)
    return names


def _default_base(layer: Layer) -> str:
    # A plain functional Model is auto-named "functional" (as Keras), not after its class.
    return "functional" if type(layer).__name__ == "Model" else snake_case(type(layer).__name__)


def weight_paths(layer: Layer, prefix: str = "") -> list[tuple[str, Parameter]]:
    """(path, weight) for every weight under ``layer``, in ``layer.weights`` order."""
    out = [(f"{prefix}{p.name}", p) for p in layer._own_weights(True) + layer._own_weights(False)]
    graph = getattr(layer, "_graph", None)
    # Execution order, not model.layers (Keras's depth order): a file's auto-named keys
    # (dense, dense_1, ...) must mean the same layers as in files written before.
    children = graph.called_layers() if graph is not None else list(layer._tracked)
    for name, child in zip(_child_names(children), children, strict=True):
        out += weight_paths(child, f"{prefix}{name}/")
    seen: set[int] = set()
    paths: set[str] = set()
    unique = []
    for path, p in out:  # a layer shared twice holds its weights once
        if id(p) not in seen:
            if path in paths:  # two weights under one key: one would silently overwrite
                raise ValueError(f"two weights of {layer.name!r} have the path {path!r}: "
                                 "give the sub-layers that hold them different names")
            seen.add(id(p))
            paths.add(path)
            unique.append((path, p))
    return unique


def save_weights(model: Layer, filepath: str) -> None:
    """Writes ``model``'s weights (atomically, with a sha256 per tensor)."""
    if not model.built:
        raise ValueError(f"model {model.name!r} is not built yet: call it on data or "
                         "build(input_shape) before save_weights")
    pairs = weight_paths(model)
    arrays = {path: p.data for path, p in pairs}
    arrays.update({path + MASK_SUFFIX: p.freeze_mask for path, p in pairs
                   if p.freeze_mask is not None})
    save_arrays(filepath, arrays, metadata={"model": model.name})


def load_weights(model: Layer, filepath: str, skip_mismatch: bool = False) -> Any:
    """Loads a file written by ``save_weights`` into ``model``.

    Names, shapes and dtypes are checked first; unless ``skip_mismatch``, any
    difference raises ``WeightFileError`` listing every one and nothing is loaded. A
    truncated or corrupted file always raises and leaves the model unchanged.

    Returns:
        With ``skip_mismatch``: a LoadResult (missing, unexpected, mismatched); else None.
    """
    if not model.built:
        raise ValueError(f"model {model.name!r} is not built yet: call it on data or "
                         "build(input_shape) before load_weights")
    pairs = weight_paths(model)
    expected = {path: (p.shape, p.dtype) for path, p in pairs}
    loaded = load_arrays(filepath)
    masks = {k[:-len(MASK_SUFFIX)]: v for k, v in loaded.arrays.items() if k.endswith(MASK_SUFFIX)}
    weights = {k: v for k, v in loaded.arrays.items() if not k.endswith(MASK_SUFFIX)}
    result = check_expected(str(filepath), weights, expected, skip_mismatch=skip_mismatch,
                            metadata=loaded.metadata)
    masks = _check_masks(str(filepath), masks, dict(pairs), result, skip_mismatch)
    with no_grad():  # every check passed: from here on nothing can fail half-way
        for path, p in pairs:
            if path in result.arrays:
                np.copyto(p.data, result.arrays[path])
                p._bump_version()
            if path in masks:
                p.set_freeze_mask(masks[path])
    if skip_mismatch:
        return LoadResult(result.missing, result.unexpected, result.mismatched)
    return None


def _check_masks(filepath: str, masks: dict[str, np.ndarray], params: dict[str, Parameter],
                 result: LoadedArrays, skip_mismatch: bool) -> dict[str, np.ndarray]:
    """The masks to set: each must be bool and fit a weight that is being loaded."""
    usable, problems = {}, []
    for path, mask in sorted(masks.items()):  # sorted: the same message for the same file
        if path not in params:  # a mask of a weight the model does not have
            if skip_mismatch:
                result.unexpected.append(path + MASK_SUFFIX)
            else:
                problems.append(f"{path}{MASK_SUFFIX}: the model has no weight {path!r}")
            continue
        if path not in result.arrays:  # its weight was left out (skip_mismatch)
            continue
        problem = freeze_mask_problem(mask, params[path].shape)
        if problem:
            problems.append(f"{path}{MASK_SUFFIX}: {problem}")
        else:
            usable[path] = mask
    if problems:
        raise WeightFileError(f"{filepath!r}: freeze masks that cannot be restored; nothing was "
                              "loaded:\n  " + "\n  ".join(problems))
    return usable


def freeze_mask_problem(mask: np.ndarray, shape: tuple[int, ...]) -> str | None:
    """Why ``mask`` read from a file cannot be a freeze mask of a weight of ``shape``."""
    if mask.dtype != np.bool_:
        return f"dtype {mask.dtype}, expected bool"
    try:
        np.broadcast_to(mask, shape)
    except ValueError:
        return f"freeze mask of shape {mask.shape} does not broadcast to {tuple(shape)}"
    return None
