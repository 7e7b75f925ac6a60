"""Optimizer: the Keras 3 optimizer contract on the core's fused, masked update kernels.

What differs from Keras, on purpose (freezing that behaves better):

- Only trainable weights move. A weight with ``trainable=False`` (or every element
  masked) passed to ``apply`` is skipped: no update, no decay, no state. A partly
  masked weight is updated with its ``update_mask``: frozen elements of the weight
  and of its optimizer state stay bit-identical (-0.0 and denormals included).
- State is created lazily, per weight, at the weight's first update, and kept while
  the weight is frozen; a weight that never trained has none (``variables`` counts
  it). Step counts are per weight too: Adam's bias correction for a weight unfrozen at
  step 5,000 is that of its first step. (Per weight, not per element: elements of a
  weight unmasked while the rest of it trained continue from the weight's count.)
- New weights may join at any call (Keras requires the variables it was built with).
- ``lr_multipliers`` scale the rate per layer (see ``lr_multipliers.py``).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from pyfrozen.layers.layer import snake_case
from pyfrozen.optimizers import clipping, schedules
from pyfrozen.optimizers import lr_multipliers as _multipliers
from pyfrozen.tensor import Parameter, Tensor


def check_number(name: str, value: Any, low: float = 0.0, high: float | None = None,
                 optional: bool = False) -> float | None:
    """``value`` as a float in ``[low, high)`` (``high`` None: no bound), else ValueError."""
    if value is None and optional:
        return None
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if ok:
        value = float(value)
        ok = math.isfinite(value) and value >= low and (high is None or value < high)
    if not ok:
        span = f">= {low:g}" if high is None else f"in [{low:g}, {high:g})"
        raise ValueError(f"Argument `{name}` must be a float {span}. Received: {name}={value!r}")
    return value


class _WeightState:
    """One weight's optimizer state: its update count and slot arrays (zeros at first)."""

    __slots__ = ("weight", "step", "slots")

    def __init__(self, weight: Parameter, names: Sequence[str]) -> None:
        self.weight = weight  # held: the id() key must not be reused by another weight
        self.step = 0
        self.slots = {name: np.zeros_like(weight.data) for name in names}


class Optimizer:
    """Base class of the optimizers (Keras 3's arguments and methods).

    Args:
        learning_rate: a float >= 0, a ``schedules.LearningRateSchedule`` (called with
            ``iterations``) or a callable without arguments.
        weight_decay: decoupled weight decay, ``w -= w * learning_rate * weight_decay``
            before each update (Keras 3 does this for every optimizer).
        clipnorm: clip each weight's gradient to this L2 norm.
        clipvalue: clip every gradient element into ``[-clipvalue, clipvalue]``.
        global_clipnorm: clip all gradients together to this joint L2 norm.
        use_ema, ema_momentum, ema_overwrite_frequency, gradient_accumulation_steps:
            Keras's arguments, accepted for configs; not implemented (a non-default
            value raises NotImplementedError).
        loss_scale_factor: gradients are divided by it (see ``scale_loss``).
        name: the optimizer's name.
        lr_multipliers: ``{glob pattern over layer names: multiplier}`` (resolved by
            ``resolve_lr_multipliers(model)``; see ``pyfrozen.optimizers.lr_multipliers``).

    Frozen elements are left out of every clipping norm (see ``clipping.py``).
    """

    def __init__(self, learning_rate: Any, weight_decay: float | None = None,
                 clipnorm: float | None = None, clipvalue: float | None = None,
                 global_clipnorm: float | None = None, use_ema: bool = False,
                 ema_momentum: float = 0.99, ema_overwrite_frequency: int | None = None,
                 loss_scale_factor: float | None = None,
                 gradient_accumulation_steps: int | None = None, name: str | None = None,
                 lr_multipliers: Mapping[str, float] | None = None, **kwargs: Any) -> None:
        if kwargs.pop("decay", None) is not None:
            warnings.warn("Argument `decay` is no longer supported and will be ignored.",
                          stacklevel=3)
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        self.name = name if name is not None else snake_case(type(self).__name__)
        self.weight_decay = check_number("weight_decay", weight_decay, optional=True)
        self.clipnorm = check_number("clipnorm", clipnorm, optional=True)
        self.clipvalue = check_number("clipvalue", clipvalue, optional=True)
        self.global_clipnorm = check_number("global_clipnorm", global_clipnorm, optional=True)
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be "
                             f"set. Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                             f"global_clipnorm={global_clipnorm}")
        self._check_unsupported(use_ema, gradient_accumulation_steps)
        self.use_ema = use_ema
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.loss_scale_factor = check_number("loss_scale_factor", loss_scale_factor,
                                              optional=True)
        if self.loss_scale_factor == 0.0:
            raise ValueError("Argument `loss_scale_factor` must be > 0. Received: 0")
        self._iterations = np.zeros((), np.int64)
        self._learning_rate: Any = None
        self.learning_rate = learning_rate
        self._states: dict[int, _WeightState] = {}
        self._built_variables: list[Parameter] | None = None
        self._exclude_ids: set[int] = set()
        self._exclude_pattern: re.Pattern[str] | None = None
        self._lr_multipliers = _multipliers.check_multipliers(lr_multipliers)
        self._lr_model: Any = None
        self._resolved: dict[int, tuple[str, float]] | None = None

    @staticmethod
    def _check_unsupported(use_ema: bool, accumulation: int | None) -> None:
        if accumulation and not accumulation >= 2:
            raise ValueError("`gradient_accumulation_steps` must be an integer >= 2. "
                             f"Received: gradient_accumulation_steps={accumulation}")
        if use_ema or accumulation:
            raise NotImplementedError("use_ema and gradient_accumulation_steps are not "
                                      "implemented by pyfrozen's optimizers")

    # --- what subclasses provide ------------------------------------------------------------

    def _slot_names(self) -> tuple[str, ...]:
        """Names of the state arrays each weight gets (Keras's variable names)."""
        return ()

    def _update(self, param: np.ndarray, grad: np.ndarray, slots: dict[str, np.ndarray],
                step: int, learning_rate: float, weight_decay: float,
                mask: np.ndarray | None) -> None:
        """One in-place update of ``param`` and ``slots``; ``step`` counts from 1."""
        raise NotImplementedError(f"{type(self).__name__} must implement _update()")

    # --- Keras's properties ---------------------------------------------------------------------

    @property
    def iterations(self) -> int:
        """How many times ``apply`` has updated weights (the schedules' step)."""
        return int(self._iterations)

    @property
    def learning_rate(self) -> float:
        """The current rate (a schedule is evaluated at ``iterations``); settable."""
        return self._current_learning_rate()

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        if isinstance(value, schedules.LearningRateSchedule) or callable(value):
            self._learning_rate = value
            return
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            raise TypeError("This optimizer was created with a `LearningRateSchedule` object "
                            "as its `learning_rate` constructor argument, hence its learning "
                            "rate is not settable. If you need the learning rate to be "
                            "settable, you should instantiate the optimizer with a float "
                            "`learning_rate` argument.")
        if isinstance(value, (np.ndarray, Tensor)) and np.ndim(value) == 0:
            value = float(value.item())
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise ValueError("Argument `learning_rate` should be float, or an instance of "
                             "LearningRateSchedule, or a callable (that takes in the current "
                             "iteration value and returns the corresponding learning rate "
                             f"value). Received instead: learning_rate={value!r}")
        value = check_number("learning_rate", value)
        self._learning_rate = np.array(value, np.float64)  # one of ``variables``, as Keras

    def _current_learning_rate(self) -> float:
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            value = lr(self.iterations)
        elif callable(lr):
            value = lr()
        else:
            return float(lr)
        value = float(np.asarray(value.data if isinstance(value, Tensor) else value))
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"optimizer {self.name!r}: the learning rate at iteration "
                             f"{self.iterations} is {value}; it must be finite and >= 0")
        return value

    @property
    def variables(self) -> list[np.ndarray]:
        """The iteration counter, the learning rate (unless a schedule) and every state
        array, per weight in the order weights were first updated."""
        out = [self._iterations]
        if isinstance(self._learning_rate, np.ndarray):
            out.append(self._learning_rate)
        for state in self._states.values():
            out.extend(state.slots.values())
        return out

    @property
    def built(self) -> bool:
        return self._built_variables is not None

    def build(self, variables: Sequence[Parameter]) -> None:
        """Remembers ``variables`` for ``apply(grads)`` without variables (no state yet)."""
        self._built_variables = list(variables)

    def state_of(self, weight: Parameter) -> dict[str, Any] | None:
        """``{"step": updates so far, slot name: array, ...}``, None if never updated.

        The arrays are the optimizer's own (not copies): writing to them changes its state.
        """
        state = self._states.get(id(weight))
        if state is None:
            return None
        return {"step": state.step, **state.slots}

    def scale_loss(self, loss: Any) -> Any:
        """``loss * loss_scale_factor`` when one is set (gradients are divided back)."""
        return loss if self.loss_scale_factor is None else loss * self.loss_scale_factor

    def finalize_variable_values(self, var_list: Sequence[Parameter]) -> None:
        """Keras's end-of-training hook; nothing to do without EMA."""

    def exclude_from_weight_decay(self, var_list: Iterable[Parameter] | None = None,
                                  var_names: Iterable[str] | None = None) -> None:
        """No weight decay for the weights in ``var_list``, nor for those whose name
        contains (``re.search``) one of ``var_names`` (``["bias", "gamma"]``)."""
        self._exclude_ids = {id(v) for v in var_list or ()}
        names = list(var_names or ())
        self._exclude_pattern = re.compile("|".join(names)) if names else None

    def _decays(self, weight: Parameter) -> bool:
        if not self.weight_decay or id(weight) in self._exclude_ids:
            return False
        return not (self._exclude_pattern and self._exclude_pattern.search(weight.name or ""))

    # --- learning-rate multipliers ---------------------------------------------------------------

    @property
    def lr_multipliers(self) -> dict[str, float] | None:
        """``{pattern: multiplier}`` or None; settable (re-resolved against the model)."""
        return None if self._lr_multipliers is None else dict(self._lr_multipliers)

    @lr_multipliers.setter
    def lr_multipliers(self, value: Mapping[str, float] | None) -> None:
        checked = _multipliers.check_multipliers(value)
        resolved = None
        if checked is not None and self._lr_model is not None:
            resolved = _multipliers.resolve(checked, self._lr_model)
        self._lr_multipliers, self._resolved = checked, resolved

    def resolve_lr_multipliers(self, model: Any) -> dict[str, float]:
        """Matches ``lr_multipliers`` against ``model``'s layer names (compile calls this).

        Returns:
            ``{weight path: multiplier}`` for every weight of the model.

        Raises:
            ValueError: a pattern matches no weight.
        """
        resolved = _multipliers.resolve(self._lr_multipliers or {}, model)
        self._lr_model, self._resolved = model, resolved
        return {path: value for path, value in resolved.values()}

    def _multiplier(self, weight: Parameter) -> float:
        if self._lr_multipliers is None:
            return 1.0
        entry = None if self._resolved is None else self._resolved.get(id(weight))
        if entry is None:
            raise ValueError(
                f"optimizer {self.name!r} has lr_multipliers but does not know the layer of "
                f"weight {weight.name!r} {weight.shape}: call "
                "optimizer.resolve_lr_multipliers(model) with the model holding it "
                "(compile does) before applying gradients")
        return entry[1]

    # --- applying gradients ---------------------------------------------------------------------

    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, Parameter]]) -> int:
        """``apply`` on (gradient, weight) pairs; returns ``iterations`` (tf.keras)."""
        pairs = list(grads_and_vars)
        self.apply([g for g, _ in pairs], [v for _, v in pairs])
        return self.iterations

    def apply(self, grads: Sequence[Any], trainable_variables: Sequence[Parameter] | None = None
              ) -> None:
        """Updates the weights with their gradients (Tensors, arrays or None).

        Weights that are not trainable are skipped (no state is created for them). A
        None gradient of a trainable weight is skipped with Keras's warning; all of
        them None raises. Every pair is checked before any weight changes.

        Raises:
            ValueError: lengths, shapes or the learning rate do not fit, or no gradient.
            TypeError: a variable is not a Parameter.
        """
        grads = list(grads)
        if not grads:
            return
        variables = self._variables_for(grads, trainable_variables)
        pairs = self._checked_pairs(grads, variables)
        lr = self._current_learning_rate()
        rates = [lr * self._multiplier(p) for _, p in pairs]
        clipped = self._clip([g for g, _ in pairs], [p.update_mask for _, p in pairs])
        for g, (_, p), rate in zip(clipped, pairs, rates, strict=True):
            self._apply_one(g, p, rate)
        self._iterations += 1

    def _variables_for(self, grads: list[Any], variables: Sequence[Parameter] | None
                       ) -> list[Parameter]:
        if variables is None:
            if self._built_variables is None:
                raise ValueError("When passing `grads` without `variables`, the optimizer must "
                                 "already be built on a list of variables. Call "
                                 "`optimizer.build(trainable_variables)` first.")
            variables = self._built_variables
        variables = list(variables)
        if len(grads) != len(variables):
            raise ValueError(f"optimizer {self.name!r}: {len(grads)} gradients for "
                             f"{len(variables)} variables")
        if not self.built:
            self.build(variables)
        return variables

    def _checked_pairs(self, grads: list[Any], variables: list[Parameter]
                       ) -> list[tuple[np.ndarray, Parameter]]:
        pairs, missing = [], []
        for g, p in zip(grads, variables, strict=True):
            if not isinstance(p, Parameter):
                raise TypeError(f"optimizer {self.name!r} updates Parameters (layer weights); "
                                f"received a {type(p).__name__}")
            if not p.requires_grad:
                continue  # frozen: never updated, no state
            if g is None:
                missing.append(p.name)
                continue
            pairs.append((self._grad_array(g, p), p))
        if missing and not pairs:
            raise ValueError("No gradients provided for any variable.")
        if missing:
            warnings.warn(f"Gradients do not exist for variables {missing} when minimizing the "
                          "loss. If using `model.compile()`, did you forget to provide a "
                          "`loss` argument?", stacklevel=3)
        return pairs

    def _grad_array(self, grad: Any, weight: Parameter) -> np.ndarray:
        a = grad.data if isinstance(grad, Tensor) else np.asarray(grad)
        if a.shape != weight.shape:
            raise ValueError(f"optimizer {self.name!r}: gradient of shape {a.shape} for weight "
                             f"{weight.name!r} of shape {weight.shape}")
        if a.dtype.kind not in "fiu":
            raise TypeError(f"optimizer {self.name!r}: gradient of weight {weight.name!r} has "
                            f"dtype {a.dtype}")
        if a.dtype != weight.dtype:
            a = a.astype(weight.dtype)  # Keras casts the gradient to the variable's dtype
        if np.may_share_memory(a, weight.data):
            a = a.copy()  # the kernels refuse overlapping arrays
        return np.ascontiguousarray(a)

    def _clip(self, grads: list[np.ndarray], masks: list[np.ndarray | None]
              ) -> list[np.ndarray]:
        if self.loss_scale_factor is not None:
            grads = [g / g.dtype.type(self.loss_scale_factor) for g in grads]
        if self.clipnorm:
            return [clipping.clip_by_norm(g, m, self.clipnorm)
                    for g, m in zip(grads, masks, strict=True)]
        if self.global_clipnorm:
            return clipping.clip_by_global_norm(grads, masks, self.global_clipnorm)
        if self.clipvalue:
            return [clipping.clip_by_value(g, self.clipvalue) for g in grads]
        return grads

    def _apply_one(self, grad: np.ndarray, weight: Parameter, learning_rate: float) -> None:
        state = self._states.get(id(weight))
        if state is None:
            state = self._states[id(weight)] = _WeightState(weight, self._slot_names())
        state.step += 1
        decay = self.weight_decay if self._decays(weight) else 0.0
        self._update(weight.data, grad, state.slots, state.step, learning_rate, decay,
                     weight.update_mask)
        weight._bump_version()

    # --- config ------------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """Keras's config keys (plus ``lr_multipliers`` when set). A callable learning
        rate is stored as its current value."""
        lr = self._learning_rate
        if isinstance(lr, schedules.LearningRateSchedule):
            lr_config: Any = schedules.serialize(lr)
        else:
            lr_config = self._current_learning_rate()
        config = {"name": self.name, "learning_rate": lr_config,
                  "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                  "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                  "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                  "ema_overwrite_frequency": self.ema_overwrite_frequency,
                  "loss_scale_factor": self.loss_scale_factor,
                  "gradient_accumulation_steps": self.gradient_accumulation_steps}
        if self._lr_multipliers is not None:
            config["lr_multipliers"] = dict(self._lr_multipliers)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> Optimizer:
        """The optimizer ``get_config`` describes (fresh state)."""
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} name={self.name!r}, iterations={self.iterations}, "
                f"weights with state={len(self._states)}>")
