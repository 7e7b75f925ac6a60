"""Learning-rate schedules with Keras 3's names, arguments and formulas.

A schedule is called with the optimizer's step count (``optimizer.iterations``, the
number of updates applied before this one) and returns the learning rate as a Python
float, computed in double precision (Keras computes in the dtype of
``initial_learning_rate``, float32 for a Python float).

>>> from pyfrozen.optimizers import schedules
>>> s = schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
>>> s(0), s(10), s(20)
(0.1, 0.05, 0.025)
"""

from __future__ import annotations

import math
from typing import Any


class LearningRateSchedule:
    """Base class: subclasses implement ``__call__(step)`` and ``get_config()``."""

    def __call__(self, step: int) -> float:
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override "
            "`__call__(self, step)`.")

    def get_config(self) -> dict[str, Any]:
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `get_config()` "
            "in order to be serializable.")

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LearningRateSchedule:
        """Instantiates a schedule from the output of ``get_config()``."""
        return cls(**config)


def _check_decay_steps(name: str, value: Any) -> None:
    if value <= 0:
        raise ValueError(f"Argument `{name}` must be > 0. Received: {name}={value}")


class ExponentialDecay(LearningRateSchedule):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: > 0; the rate is multiplied by ``decay_rate`` every
            ``decay_steps`` steps.
        decay_rate: the decay factor.
        staircase: if True, ``step / decay_steps`` is an integer division.
        name: kept in the config.

    Raises:
        ValueError: ``decay_steps <= 0``.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                 staircase: bool = False, name: str = "ExponentialDecay") -> None:
        _check_decay_steps("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def __call__(self, step: int) -> float:
        p = float(step) / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return float(self.initial_learning_rate) * float(self.decay_rate) ** p

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_rate": self.decay_rate,
                "staircase": self.staircase, "name": self.name}


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[1]`` while
    ``step <= boundaries[1]``, ..., ``values[-1]`` after the last boundary.

    Args:
        boundaries: strictly increasing step numbers.
        values: one more value than boundaries.
        name: kept in the config.

    Raises:
        ValueError: the lengths do not fit, or the boundaries do not increase.
    """

    def __init__(self, boundaries: list[int], values: list[float],
                 name: str = "PiecewiseConstant") -> None:
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. "
                f"Received: boundaries={boundaries} of length {len(boundaries)}, and "
                f"values={values} of length {len(values)}.")
        if any(b >= c for b, c in zip(boundaries, boundaries[1:], strict=False)):
            raise ValueError(f"`boundaries` must be strictly increasing. Received: "
                             f"boundaries={boundaries}")
        self.boundaries = list(boundaries)
        self.values = list(values)
        self.name = name

    def __call__(self, step: int) -> float:
        for boundary, value in zip(self.boundaries, self.values, strict=False):
            if step <= boundary:
                return float(value)
        return float(self.values[-1])

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Optional linear warmup, then a cosine decay (Keras 3's formula).

    Without ``warmup_target``: ``initial_learning_rate * ((1 - alpha) * c + alpha)``
    with ``c = 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps))``. With it:
    a linear ramp from ``initial_learning_rate`` to ``warmup_target`` over
    ``warmup_steps`` steps, then the same decay from ``warmup_target`` over the next
    ``decay_steps`` steps.

    Args:
        initial_learning_rate: the rate at step 0.
        decay_steps: > 0, the length of the decay.
        alpha: the final rate as a fraction of the decay's starting rate.
        name: kept in the config.
        warmup_target: the rate reached at the end of the warmup (None: no warmup).
        warmup_steps: the length of the warmup.

    Raises:
        ValueError: ``decay_steps <= 0``.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, alpha: float = 0.0,
                 name: str = "CosineDecay", warmup_target: float | None = None,
                 warmup_steps: int = 0) -> None:
        _check_decay_steps("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def _decay(self, step: float, start: float) -> float:
        cosine = 0.5 * (1.0 + math.cos(math.pi * step / self.decay_steps))
        return start * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step: int) -> float:
        initial = float(self.initial_learning_rate)
        step = float(step)
        if self.warmup_target is None:
            return self._decay(min(step, self.decay_steps), initial)
        target, warmup = float(self.warmup_target), float(self.warmup_steps)
        step = min(step, self.decay_steps + warmup)
        if step < warmup:
            return (target - initial) * (step / warmup) + initial
        return self._decay(step - warmup, target)

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "alpha": self.alpha, "name": self.name,
                "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps}


_SCHEDULES = {cls.__name__: cls for cls in (ExponentialDecay, PiecewiseConstantDecay,
                                             CosineDecay)}


def serialize(schedule: LearningRateSchedule) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` (Keras's layout)."""
    return {"module": "pyfrozen.optimizers.schedules", "class_name": type(schedule).__name__,
            "config": schedule.get_config(), "registered_name": None}


def deserialize(config: dict[str, Any]) -> LearningRateSchedule:
    """The schedule a ``serialize`` dict (ours or Keras's) describes.

    Raises:
        ValueError: an unknown ``class_name``.
    """
    name = config.get("class_name")
    if name not in _SCHEDULES:
        raise ValueError(f"Could not interpret learning rate schedule {name!r}. Known "
                         f"schedules: {sorted(_SCHEDULES)}")
    return _SCHEDULES[name].from_config(dict(config.get("config", {})))
