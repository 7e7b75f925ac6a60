"""Freeze helpers mixed into Model: ``freeze`` / ``unfreeze`` by glob patterns over layer
names, and ``freeze_to`` a layer in ``model.layers`` order.

Patterns (``fnmatch`` syntax, case-sensitive) match the ``name`` of any layer in the
model, nested models included (``"conv_pw_1[23]*"``, ``"mobilenet*"``). A matched
container (a nested model) freezes or unfreezes everything inside it.

- ``freeze`` sets ``trainable = False`` on each matched layer (recursively, as Keras).
- ``unfreeze`` sets the matched layers, and every layer inside them, trainable, except
  BatchNormalization, which stays as it was unless ``include_bn=True`` (fine-tuning
  with BN statistics moving on small batches destroys what the base learned). The
  containers above an unfrozen layer are marked trainable too (their flag only, so
  their other layers stay frozen): a model whose ``trainable`` is False reports no
  trainable weights, and would hide the unfrozen layer from ``trainable_weights``.
- ``freeze_to(name)`` freezes every layer up to and including ``name`` in ``model.layers``
  order (Keras's: by depth from the outputs, so ``base.layers[:k]`` idioms agree)
  and unfreezes every layer after it (BN after the cut as ``unfreeze``): the usual
  "train the top of the network" in one call, and a frozen prefix for ``fit``.

A pattern that matches no layer raises ValueError naming the model's layers (a typo
would otherwise freeze nothing without a word). Changes take effect at the next
training step without recompiling (see ``trainer.py``); as they are made on purpose
with pyfrozen's own API, they do not trigger the trainer's "trainable weights changed
since compile()" notice (a later plain ``layer.trainable = ...`` still does).
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from pyfrozen.layers.batch_normalization import BatchNormalization
from pyfrozen.layers.input_layer import InputLayer
from pyfrozen.layers.layer import Layer


def _is_bn(layer: Layer) -> bool:
    return isinstance(layer, BatchNormalization)


def _children(layer: Layer) -> list[Layer]:
    """Sub-layers in graph order (a functional model's ``layers``), else tracking order."""
    layers = getattr(layer, "layers", None)
    children = layers if isinstance(layers, list) else list(layer._tracked)
    return [c for c in children if not isinstance(c, InputLayer) and c is not layer]


def walk(root: Layer) -> list[tuple[Layer, tuple[Layer, ...]]]:
    """(layer, its ancestors below ``root``) for every layer under ``root``, depth first
    in graph order, each layer once (a layer used twice is listed at its first use)."""
    out: list[tuple[Layer, tuple[Layer, ...]]] = []
    seen: set[int] = set()

    def visit(layer: Layer, parents: tuple[Layer, ...]) -> None:
        for child in _children(layer):
            if id(child) not in seen:
                seen.add(id(child))
                out.append((child, parents))
                visit(child, (*parents, child))

    visit(root, ())
    return out


def _patterns(patterns: str | Iterable[str], method: str) -> list[str]:
    if isinstance(patterns, str):
        found = [patterns]
    else:
        found = list(patterns) if isinstance(patterns, Iterable) else []
    if not found or not all(isinstance(p, str) for p in found):
        raise TypeError(f"{method}: patterns must be a glob pattern or a list of them, "
                        f"received {patterns!r}")
    return found


def match(model: Layer, patterns: str | Iterable[str], method: str
          ) -> list[tuple[Layer, tuple[Layer, ...]]]:
    """The layers (with ancestors) whose name matches a pattern, in graph order.

    Raises:
        ValueError: a pattern matches no layer (the message lists the layer names).
    """
    found = _patterns(patterns, method)
    layers = walk(model)
    used = {p: False for p in found}
    out = []
    for layer, parents in layers:
        hits = [p for p in found if fnmatchcase(layer.name, p)]
        for p in hits:
            used[p] = True
        if hits:
            out.append((layer, parents))
    unused = [p for p, hit in used.items() if not hit]
    if unused:
        raise ValueError(f"{method}: pattern(s) {unused} match no layer of model "
                         f"{model.name!r}; its layers are {[la.name for la, _ in layers]}")
    return out


def set_layer_trainable(layer: Layer, include_bn: bool) -> None:
    """Makes ``layer`` and every layer inside it trainable, BN only with ``include_bn``."""
    if _is_bn(layer) and not include_bn:
        return
    layer._trainable = True
    for p, created in zip(layer._params, layer._created_trainable, strict=True):
        if created:
            p.trainable = True
    for child in list(layer._tracked):
        set_layer_trainable(child, include_bn)


def unfreeze_layers(model: Layer, found: list[tuple[Layer, tuple[Layer, ...]]],
                    include_bn: bool) -> None:
    """Unfreezes ``found`` and marks their containers trainable (flag only)."""
    for layer, parents in found:
        if _is_bn(layer) and not include_bn:
            continue
        set_layer_trainable(layer, include_bn)
        for parent in (model, *parents):
            parent._trainable = True


def acknowledge(model: Layer) -> None:
    """Takes the trainable set as changed on purpose: the trainer's one-time notice
    (meant for Keras code that sets ``trainable`` after ``compile`` and expects nothing
    to happen) compares from the next step on instead."""
    if getattr(model, "_compiled_trainable", None) is not None:
        model._compiled_trainable = None


class Freezing:
    """``freeze`` / ``unfreeze`` / ``freeze_to`` for Model (a mixin; see module notes)."""

    def freeze(self, patterns: str | Iterable[str]) -> list[str]:
        """Freezes every layer whose name matches a glob pattern (nested models included).

        Returns:
            The names of the matched layers, in graph order.

        Raises:
            ValueError: a pattern matches no layer (the message lists the layers).
        """
        found = match(self, patterns, "freeze")
        for layer, _ in found:
            layer.trainable = False
        acknowledge(self)
        return [layer.name for layer, _ in found]

    def unfreeze(self, patterns: str | Iterable[str], include_bn: bool = False) -> list[str]:
        """Makes every layer whose name matches a glob pattern trainable, with the layers
        inside it; BatchNormalization stays as it was unless ``include_bn=True``.

        Returns:
            The names of the matched layers, in graph order.

        Raises:
            ValueError: a pattern matches no layer (the message lists the layers).
        """
        found = match(self, patterns, "unfreeze")
        unfreeze_layers(self, found, include_bn)
        acknowledge(self)
        return [layer.name for layer, _ in found]

    def freeze_to(self, layer_name: str, include_bn: bool = False) -> None:
        """Freezes every layer up to and including ``layer_name`` in graph order (nested
        models expanded) and unfreezes every layer after it (BN only with ``include_bn``).

        Raises:
            ValueError: no layer has that name (the message lists the layers).
        """
        layers = walk(self)
        names = [layer.name for layer, _ in layers]
        if layer_name not in names:
            raise ValueError(f"freeze_to: model {self.name!r} has no layer {layer_name!r}; "
                             f"its layers are {names}")
        target = layers[names.index(layer_name)][0]
        # Leaves: layers holding no layers (a nested model is expanded). The cut is after
        # the named layer's last leaf (the layer itself when it holds none).
        leaves = [(la, ps) for la, ps in layers if not _children(la) or la is target]
        cut = max(i for i, (la, ps) in enumerate(leaves)
                  if la is target or any(p is target for p in ps))
        for layer, _ in leaves[: cut + 1]:
            layer.trainable = False
        unfreeze_layers(self, leaves[cut + 1:], include_bn)
        acknowledge(self)
