"""pyfrozen models onto Keras 3's weight layout (``.weights.h5``), both ways.

Keras 3 keys state by the object's place in the model, not by its name: a functional
or Sequential model keeps its layers under ``layers/<class in snake case>`` with a
per-class counter in the order of Keras's ``model.layers`` (pyfrozen.saving.keras_order;
``batch_normalization``,
``batch_normalization_1``, ...; a functional model's input layers count, a
Sequential's do not); a nested model repeats this inside its own path
(``layers/functional/layers/dense``). Each owner's own variables sit in ``<path>/vars``
as ``0, 1, ...``: first those created trainable, then the others (moving statistics),
which is pyfrozen's creation order as well. A layer reached twice (shared) is stored
once, at its first place. Custom layers keep their sub-layers under their attribute
names, sorted, as Keras does.

pyfrozen also stores each weight's freeze mask beside its owner's ``vars`` group (in a
group Keras does not read, pyfrozen.io.h5), and sets it again on load; a weight the
file has no mask for keeps the mask it has (loading never unfreezes anything).

Reading checks every group against the model before any weight is touched: a count,
shape or dtype that disagrees, a group the model does not have, or a group missing
raises listing every problem (``skip_mismatch=True`` loads the groups that match and
returns what it left out), so a failed load leaves the model unchanged. A layer with a
LoRA adapter is written as Keras's ``save_own_variables`` writes one (its merged kernel,
no adapter: ``merged_weights``) and takes the file's kernel into its base weight, as
Keras's ``load_own_variables`` does (``_loaded_and_reset``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen.autograd import no_grad
from pyfrozen.io.h5 import VarsGroup, read_vars, write_vars
from pyfrozen.io.weights import Mismatch, WeightFileError
from pyfrozen.layers.layer import Layer, snake_case
from pyfrozen.models.model import Model
from pyfrozen.models.saving import LoadResult, freeze_mask_problem
from pyfrozen.models.sequential import Sequential
from pyfrozen.tensor import Parameter

# pyfrozen classes that Keras 3 calls by another name (the group names follow Keras's).
_KERAS_CLASS = {"ReLU6": "ReLU"}


def keras_class_name(layer: Layer) -> str:
    """The Keras 3 class a pyfrozen layer is saved as (``Functional`` for a plain Model)."""
    if type(layer) is Model:
        return "Functional"
    name = type(layer).__name__
    return _KERAS_CLASS.get(name, name)


# --------------------------------------------------------------------------- the walk


def _children(layer: Layer) -> list[tuple[str, list[Layer] | Layer]]:
    """(attribute, child or list of children) in Keras's walk order."""
    if isinstance(layer, Sequential):
        return [("layers", layer.layers)]
    if isinstance(layer, Model) and layer._graph is not None:
        return [("layers", layer._graph.layers())]
    found = []
    for attr in sorted(vars(layer)):
        if attr.startswith("_"):
            continue  # pyfrozen tracks only public attributes (Layer.__setattr__)
        value = getattr(layer, attr)
        if isinstance(value, Layer):
            found.append((attr, value))
        elif isinstance(value, (list, tuple)) and any(isinstance(v, Layer) for v in value):
            found.append((attr, [v for v in value if isinstance(v, Layer)]))
    return found


def owners(model: Layer) -> list[tuple[str, Layer]]:
    """(Keras path, layer) for every layer under ``model`` (itself at ""), each once."""
    out: list[tuple[str, Layer]] = []
    seen: set[int] = set()

    def visit(layer: Layer, path: str) -> None:
        if id(layer) in seen:
            return
        seen.add(id(layer))
        out.append((path, layer))
        for attr, child in _children(layer):
            base = f"{path}/{attr}" if path else attr
            if isinstance(child, Layer):
                visit(child, base)
                continue
            counts: dict[str, int] = {}
            for item in child:
                stem = snake_case(keras_class_name(item))
                k = counts.get(stem, -1) + 1
                counts[stem] = k
                visit(item, f"{base}/{stem}" if k == 0 else f"{base}/{stem}_{k}")

    visit(model, "")
    return out


def own_variables(layer: Layer) -> list[Parameter]:
    """A layer's own weights in Keras's order: created trainable first, then the rest."""
    return layer._own_weights(True) + layer._own_weights(False)


# --------------------------------------------------------------------------- saving


def save_keras_weights_groups(model: Layer) -> dict[str, VarsGroup]:
    """The ``vars`` groups of ``model`` as Keras 3 writes them (every layer named)."""
    if not model.built:
        raise ValueError(f"model {model.name!r} is not built yet: call it on data or "
                         "build(input_shape) before save_weights")
    groups = {}
    for path, layer in owners(model):
        # An adapted layer holds its merged kernel and no adapter (Keras's save_own_variables).
        pairs = layer.merged_weights() if getattr(layer, "lora_enabled", False) else [
            (p, p.data) for p in own_variables(layer)]
        masks = {i: p.freeze_mask for i, (p, _) in enumerate(pairs) if p.freeze_mask is not None}
        groups[path] = VarsGroup(layer.name, [value for _, value in pairs], masks)
    return groups


def save_keras_weights(model: Layer, filepath: str, **_: Any) -> None:
    """Writes ``model``'s weights as a Keras 3 ``.weights.h5`` file, atomically."""
    write_vars(filepath, save_keras_weights_groups(model))


# --------------------------------------------------------------------------- loading


def _mask_problems(where: str, params: list[Parameter], group: VarsGroup) -> list[str]:
    problems = []
    for i, mask in group.masks.items():
        if i >= len(params):
            problems.append(f"{where}: a freeze mask for variable {i}, which does not exist")
            continue
        problem = freeze_mask_problem(mask, tuple(params[i].shape))
        if problem:
            problems.append(f"{where}/{params[i].name}: {problem}")
    return problems


def _loaded_and_reset(layer: Layer) -> tuple[list[Parameter], list[Parameter]]:
    """The variables a file holds for ``layer``, and those loading resets to zeros.

    A layer with a LoRA adapter loads as Keras 3's ``load_own_variables`` does: files
    hold the merged kernel and no adapter (Keras and pyfrozen write them so), which goes
    into the base weight, and ``B`` is set to zeros, so the layer computes exactly the
    file's model. Keras zeroes ``A`` as well, which leaves an adapter whose two
    gradients are zero for good (it can never train again); pyfrozen keeps ``A``, so
    the adapter still trains from the loaded weights.
    """
    params = own_variables(layer)
    if not getattr(layer, "lora_enabled", False):
        return params, []
    a, b = layer._lora_adapters()
    return [p for p in params if p is not a and p is not b], [b]


def _compare_layer(path: str, layer: Layer, group: VarsGroup | None,
                   result: LoadResult, plan: list[tuple[Parameter, np.ndarray, Any]]) -> None:
    params, reset = _loaded_and_reset(layer)
    stored = group.arrays if group is not None else []
    where = f"{path or 'the model'} ({layer.name})"
    if len(stored) != len(params):
        if group is None:
            result.missing.append(f"{where}: {len(params)} variables, no group in the file")
        else:
            # Told as a Mismatch of the variable list's length, so the result keeps one type.
            result.mismatched.append(Mismatch(f"{where}: number of variables", (len(params),),
                                              np.dtype("int64"), (len(stored),),
                                              np.dtype("int64")))
        return
    pending = []
    for i, (p, value) in enumerate(zip(params, stored, strict=True)):
        if value.shape != tuple(p.shape) or value.dtype != p.data.dtype:
            result.mismatched.append(Mismatch(f"{where}/{p.name}", tuple(p.shape), p.data.dtype,
                                              value.shape, value.dtype))
            return
        pending.append((p, value, group.masks.get(i) if group is not None else None))
    problems = _mask_problems(where, params, group) if group is not None else []
    if problems:  # a damaged file, not a model mismatch: skip_mismatch does not hide it
        raise WeightFileError("freeze masks that cannot be restored; nothing was loaded:\n  "
                              + "\n  ".join(problems))
    plan += pending + [(p, np.zeros_like(p.data), None) for p in reset]


def match_groups(model: Layer, groups: dict[str, VarsGroup],
                 label: str) -> tuple[list[tuple[Parameter, np.ndarray, Any]], LoadResult]:
    """What to copy where (weight, value, freeze mask or None), and what does not fit
    (missing / unexpected / mismatched)."""
    result = LoadResult([], [], [])
    plan: list[tuple[Parameter, np.ndarray, Any]] = []
    known = set()
    for path, layer in owners(model):
        known.add(path)
        try:
            _compare_layer(path, layer, groups.get(path), result, plan)
        except WeightFileError as err:
            raise WeightFileError(f"{label}: {err}") from None
    result.unexpected.extend(
        f"{path or 'the root'} ({g.name}): {len(g.arrays)} variables the model has no place for"
        for path, g in groups.items() if path not in known and g.arrays)
    return plan, result


def _report(label: str, result: LoadResult) -> str:
    lines = [f"missing: {m}" for m in result.missing]
    lines += [f"unexpected: {u}" for u in result.unexpected]
    lines += [f"mismatched: {m}" for m in result.mismatched]
    return (f"{label} does not match the model ({len(lines)} problem"
            f"{'s' if len(lines) > 1 else ''}); nothing was loaded:\n  " + "\n  ".join(lines)
            + "\n(load with skip_mismatch=True to load the layers that match)")


def load_keras_weights_groups(model: Layer, groups: dict[str, VarsGroup], label: str,
                              skip_mismatch: bool = False) -> LoadResult | None:
    """Copies ``groups`` into ``model`` after checking all of them (see the module doc)."""
    if not model.built:
        raise ValueError(f"model {model.name!r} is not built yet: call it on data or "
                         "build(input_shape) before load_weights")
    plan, result = match_groups(model, groups, label)
    if not skip_mismatch and (result.missing or result.unexpected or result.mismatched):
        raise WeightFileError(_report(label, result))
    with no_grad():  # every check passed: nothing below can fail half-way
        for p, value, mask in plan:
            np.copyto(p.data, value)
            p._bump_version()
            if mask is not None:  # a weight without a mask in the file keeps its own
                p.set_freeze_mask(mask)
    return result if skip_mismatch else None


def load_keras_weights(model: Layer, filepath: str,
                       skip_mismatch: bool = False) -> LoadResult | None:
    """Loads a Keras 3 ``.weights.h5`` file (written by Keras or by pyfrozen)."""
    if not model.built:
        raise ValueError(f"model {model.name!r} is not built yet: call it on data or "
                         "build(input_shape) before load_weights")
    return load_keras_weights_groups(model, read_vars(filepath), repr(str(filepath)),
                                     skip_mismatch)


__all__ = ["keras_class_name", "load_keras_weights", "load_keras_weights_groups", "owners",
           "save_keras_weights", "save_keras_weights_groups"]
