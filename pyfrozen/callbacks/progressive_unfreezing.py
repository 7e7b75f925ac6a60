"""ProgressiveUnfreezing: unfreezes groups of layers top-down on a schedule of epochs
during ``fit`` (ULMFiT's gradual unfreezing), with per-group learning-rate multipliers."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase

from pyfrozen.callbacks.callback import Callback
from pyfrozen.models.freezing import acknowledge, match, unfreeze_layers
from pyfrozen.optimizers.lr_multipliers import layer_weight_paths

Patterns = str | Sequence[str]


class ProgressiveUnfreezing(Callback):
    """Unfreezes ``groups`` of layers, top group first, at the epochs of ``schedule``.

    Args:
        groups: a list of groups, the top of the network first; a group is a glob
            pattern over layer names or a list of them (as ``Model.unfreeze``).
        schedule: ``{epoch: n_groups}``: from the start of ``epoch`` (0-based, as
            ``on_epoch_begin``) the first ``n_groups`` groups train. The largest entry
            at or before the current epoch applies, so ``fit(initial_epoch=...)``
            resumes with the right groups.
        lr_multipliers: optional, one learning-rate multiplier per group (discriminative
            fine-tuning: lower groups slower). Set on the optimizer as
            ``{pattern: multiplier}`` ahead of its own ``lr_multipliers`` once a group
            is unfrozen.
        keep_bn_frozen: leave BatchNormalization layers frozen (inference mode) when
            their group is unfrozen, as ``Model.unfreeze(include_bn=False)``.

    At the start of ``fit`` every group is frozen (the schedule decides what trains);
    layers outside the groups keep their setting (a new head stays trainable). Groups
    are unfrozen at epoch starts and take effect at that epoch's first step, without
    recompiling; the optimizer creates state for a weight at its first update only, so
    Adam's first step of a late group is a true first step.

    Example:
        ``ProgressiveUnfreezing(["conv_pw_13*", "conv_pw_1[12]*", "conv_pw_[7-9]*"],
        schedule={2: 1, 4: 2, 6: 3}, lr_multipliers=[1.0, 0.5, 0.25])``

    Raises:
        ValueError: a bad schedule or multiplier list (here), or a pattern that matches
            no layer of the model (at ``on_train_begin``, naming the layers).
    """

    def __init__(self, groups: Sequence[Patterns], schedule: Mapping[int, int],
                 lr_multipliers: Sequence[float] | None = None,
                 keep_bn_frozen: bool = True) -> None:
        super().__init__()
        if isinstance(groups, str) or not groups:
            raise ValueError("ProgressiveUnfreezing: `groups` must be a non-empty list of "
                             f"glob patterns (or lists of them). Received: {groups!r}")
        self.groups = [[g] if isinstance(g, str) else list(g) for g in groups]
        self.schedule = _check_schedule(schedule, len(self.groups))
        self.lr_multipliers = _check_multipliers(lr_multipliers, len(self.groups))
        self.keep_bn_frozen = bool(keep_bn_frozen)
        self.unfrozen = 0  # groups unfrozen so far
        self._base_multipliers: dict[str, float] | None = None

    def groups_at(self, epoch: int) -> int:
        """How many groups train at ``epoch`` by the schedule."""
        due = [e for e in self.schedule if e <= epoch]
        return self.schedule[max(due)] if due else 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        found = [match(self.model, g, "ProgressiveUnfreezing") for g in self.groups]
        for group in found:
            for layer, _ in group:
                layer.trainable = False
        self._found = found
        self.unfrozen = 0
        acknowledge(self.model)
        optimizer = getattr(self.model, "optimizer", None)
        if self.lr_multipliers is not None and optimizer is not None:
            self._base_multipliers = optimizer.lr_multipliers

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        target = self.groups_at(epoch)
        if target <= self.unfrozen:
            return
        for group in self._found[self.unfrozen:target]:
            unfreeze_layers(self.model, group, include_bn=not self.keep_bn_frozen)
        self.unfrozen = target
        acknowledge(self.model)
        if self.lr_multipliers is not None:
            self._set_multipliers()

    def _set_multipliers(self) -> None:
        """The unfrozen groups' patterns (those naming weights) ahead of the optimizer's."""
        weights = layer_weight_paths(self.model)
        multipliers: dict[str, float] = {}
        for patterns, value in zip(self.groups[: self.unfrozen], self.lr_multipliers,
                                   strict=False):
            for p in patterns:
                if p not in multipliers and any(fnmatchcase(n, p) for _, names, _ in weights
                                                for n in names):
                    multipliers[p] = value
        for p, value in (self._base_multipliers or {}).items():
            multipliers.setdefault(p, value)
        optimizer = self.model.optimizer
        optimizer.lr_multipliers = multipliers
        optimizer.resolve_lr_multipliers(self.model)


def _check_schedule(schedule: Mapping[int, int], n_groups: int) -> dict[int, int]:
    if not isinstance(schedule, Mapping) or not schedule:
        raise ValueError("ProgressiveUnfreezing: `schedule` must be a non-empty dict "
                         f"{{epoch: number of groups}}. Received: {schedule!r}")
    out = {}
    for epoch, n in schedule.items():
        if not (isinstance(epoch, int) and epoch >= 0 and isinstance(n, int)
                and 0 <= n <= n_groups):
            raise ValueError(f"ProgressiveUnfreezing: schedule entry {epoch!r}: {n!r} needs "
                             f"an epoch >= 0 and a number of groups in [0, {n_groups}]")
        out[epoch] = n
    return out


def _check_multipliers(values: Sequence[float] | None, n_groups: int) -> list[float] | None:
    if values is None:
        return None
    values = list(values)
    if len(values) != n_groups or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            and v >= 0 for v in values):
        raise ValueError(f"ProgressiveUnfreezing: `lr_multipliers` needs one finite number "
                         f">= 0 per group ({n_groups}). Received: {values!r}")
    return [float(v) for v in values]
