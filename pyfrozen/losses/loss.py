"""The Loss base class and Keras 3's reduction of per-sample losses.

A loss is called as ``loss(y_true, y_pred, sample_weight=None)`` and returns a scalar
Tensor (or the per-sample losses for ``reduction=None``) differentiable with respect to
``y_pred``. Subclasses implement ``call(y_true, y_pred)``, the per-sample losses; the
base class weights and reduces them as Keras 3 does (``keras/src/losses/loss.py``):

- ``"sum_over_batch_size"`` (alias ``"mean"``): the sum of the weighted losses divided
  by their number (not by the sum of the weights);
- ``"mean_with_sample_weight"``: the sum divided by the sum of the sample weights;
- ``"sum"``: the sum; ``None`` / ``"none"``: the weighted per-sample losses.

The built-in losses also give a fused path: without sample weights the core computes
the reduced loss and its gradient in one pass (``pyfrozen.ops.loss``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen import ops
from pyfrozen.ops._util import float_operand
from pyfrozen.ops.loss import _target
from pyfrozen.tensor import Tensor

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
REDUCTIONS = ("sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight")


def standardize_reduction(reduction: Any) -> str | None:
    """``reduction`` checked against Keras 3's names.

    Raises:
        ValueError: an unknown reduction, listing the valid ones.
    """
    if not (reduction is None or isinstance(reduction, str)) or reduction not in REDUCTIONS:
        raise ValueError(
            f"Invalid value for argument `reduction`. Expected one of {list(REDUCTIONS)}. "
            f"Received: reduction={reduction!r}"
        )
    return reduction


def _fused_reduction(reduction: str | None) -> str:
    """The ops' name ("mean", "sum", "none") of a reduction without sample weights."""
    if reduction in (None, "none"):
        return "none"
    return "sum" if reduction == "sum" else "mean"


def to_snake_case(name: str) -> str:
    """Keras's ``to_snake_case`` of a class name: ``KLDivergence`` -> ``kl_divergence``."""
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper()
                                   or (i + 1 < len(name) and name[i + 1].islower())):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def as_prediction(y_pred: Any, dtype: Any, where: str) -> Tensor:
    """``y_pred`` as a float Tensor (cast differentiably to ``dtype`` when one is set)."""
    if dtype is None and isinstance(y_pred, Tensor) and y_pred.data.dtype in _FLOATS:
        return y_pred  # the common case, once per step: no further checks
    if not isinstance(y_pred, Tensor):
        array = np.asarray(y_pred)
        if array.dtype.kind != "f" or not isinstance(y_pred, np.ndarray):
            # Python numbers are float32 (as pyfrozen.tensor); arrays keep their float dtype
            array = array.astype(np.float32 if dtype is None else dtype)
        y_pred = Tensor._wrap(array)
    y_pred = float_operand(y_pred, where, "y_pred")
    if dtype is not None and y_pred.dtype != np.dtype(dtype):
        y_pred = ops.cast(y_pred, dtype)
    return y_pred


def as_target(y_true: Any, y_pred: Tensor, where: str) -> Tensor:
    """``y_true`` cast to ``y_pred``'s dtype (Keras casts ``y_true`` to the loss dtype)."""
    return _target(y_true, y_pred, where, "y_true")


def squeeze_or_expand_to_same_rank(x1: Any, x2: Any, expand_rank_1: bool = True):
    """Keras's rule: when ranks differ by one and the longer has a last axis of 1,
    squeeze it (or expand a rank-1 partner). Works on Tensors and arrays."""

    def squeeze(x):
        return ops.reshape(x, x.shape[:-1]) if isinstance(x, Tensor) else np.asarray(x)[..., 0]

    def expand(x):
        return ops.reshape(x, (*x.shape, 1)) if isinstance(x, Tensor) else np.asarray(x)[..., None]

    r1, r2 = np.ndim(x1), np.ndim(x2)
    if r1 == r2 + 1 and np.shape(x1)[-1] == 1:
        return (x1, expand(x2)) if r2 == 1 and expand_rank_1 else (squeeze(x1), x2)
    if r2 == r1 + 1 and np.shape(x2)[-1] == 1:
        return (expand(x1), x2) if r1 == 1 and expand_rank_1 else (x1, squeeze(x2))
    return x1, x2


def _weights(sample_weight: Any, values: Tensor, where: str) -> Tensor:
    """Sample weights of ``values``'s dtype, brought to its rank as Keras does."""
    data = sample_weight.data if isinstance(sample_weight, Tensor) else np.asarray(sample_weight)
    if data.dtype.kind not in "fiub":
        raise TypeError(f"{where}: sample_weight must be numeric, got {data.dtype}")
    weight = Tensor._wrap(np.asarray(data, dtype=values.dtype))
    if isinstance(sample_weight, Tensor) and sample_weight.requires_grad:
        weight = ops.cast(sample_weight, values.dtype)
    values, weight = squeeze_or_expand_to_same_rank(values, weight)
    try:
        np.broadcast_shapes(weight.shape, values.shape)
    except ValueError:
        raise ValueError(
            f"{where}: sample_weight of shape {weight.shape} does not broadcast to the "
            f"per-sample losses of shape {values.shape}"
        ) from None
    return values, weight


# What the last reduction divided by: ("sum", 1.0), or ("mean", the divisor) where the
# divisor is what the loss counts (samples, valid samples, or the weights' sum). A
# data-parallel step weights each rank's loss by it (pyfrozen.models.compile_utils).
_last_normaliser: list[tuple[str, float]] = []


def take_normaliser() -> tuple[str, float] | None:
    """The ``(kind, divisor)`` of the last loss reduction since the previous call, or None
    (internal: a data-parallel step makes every rank's share of the loss exact)."""
    found = _last_normaliser[0] if _last_normaliser else None
    _last_normaliser.clear()
    return found


def _record(kind: str, divisor: float) -> None:
    _last_normaliser[:] = [(kind, float(divisor))]  # one slot: nothing accumulates


def reduce_weighted_values(values: Tensor, sample_weight: Any = None, mask: Any = None,
                           reduction: str | None = "sum_over_batch_size",
                           where: str = "loss") -> Tensor:
    """Keras 3's ``reduce_weighted_values``: weight (and mask) the per-sample losses, then
    reduce. A mask (bool, per sample) counts only valid samples in the mean."""
    reduction = standardize_reduction(reduction)
    weight = valid = None
    if mask is not None:
        mask = np.asarray(mask, dtype=values.dtype)
        if reduction in ("mean", "sum_over_batch_size"):
            valid = mask.sum()
            mask = mask * (mask.size / valid if valid else 0)
        weight = Tensor._wrap(mask)
    if sample_weight is not None:
        values, sample_weight = _weights(sample_weight, values, where)
        weight = sample_weight if weight is None else ops.mul(weight, sample_weight)
    if weight is not None:
        values, weight = squeeze_or_expand_to_same_rank(values, weight)
        values = ops.mul(values, weight)
    _last_normaliser.clear()
    reduced = reduce_values(values, weight, reduction)
    if valid is not None and _last_normaliser:  # the mean over the valid samples only
        _record("mean", valid)
    return reduced


def reduce_values(values: Tensor, sample_weight: Tensor | None = None,
                  reduction: str | None = "sum_over_batch_size") -> Tensor:
    """Keras 3's ``reduce_values``: the sum, or the sum over the number of losses (or over
    the sum of the weights for ``"mean_with_sample_weight"``)."""
    if reduction in (None, "none") or values.shape in ((), (0,)):
        return values
    total = ops.sum(values)
    if reduction == "sum":
        _record("sum", 1.0)
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = float(np.broadcast_to(sample_weight.data, values.shape).sum())
    else:
        divisor = float(values.size)
    _record("mean", divisor)
    return ops.mul(total, 1.0 / divisor) if divisor else ops.mul(total, 0.0)


class Loss:
    """Loss base class (Keras 3's ``keras.losses.Loss``).

    Subclass it and implement ``call(y_true, y_pred)`` returning the per-sample losses
    as a Tensor built from pyfrozen ops; ``__call__`` weights and reduces them.

    Args:
        name: the loss's name (default: the class name in snake case).
        reduction: ``"sum_over_batch_size"`` (default), ``"sum"``, ``"mean"``,
            ``"mean_with_sample_weight"``, or ``None`` / ``"none"``.
        dtype: compute dtype; by default the prediction's dtype (targets are cast to it).

    Example:

    >>> import numpy as np, pyfrozen
    >>> from pyfrozen import losses, ops
    >>> class MeanCubed(losses.Loss):
    ...     def call(self, y_true, y_pred):
    ...         d = y_pred - y_true
    ...         return ops.mean(d * d * d, axis=-1)
    >>> MeanCubed()(np.zeros((2, 2)), np.full((2, 2), 2.0)).item()
    8.0
    """

    def __init__(self, name: str | None = None, reduction: str | None = "sum_over_batch_size",
                 dtype: Any = None) -> None:
        self.name = name or to_snake_case(type(self).__name__)
        self.reduction = standardize_reduction(reduction)
        self._dtype = None if dtype is None else np.dtype(dtype)
        if self._dtype is not None and self._dtype not in (np.float32, np.float64):
            raise ValueError(f"{self.name}: dtype must be float32 or float64, got {dtype}")

    @property
    def dtype(self) -> np.dtype | None:
        """The compute dtype, or None for the prediction's own dtype."""
        return self._dtype

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        y_pred = as_prediction(y_pred, self._dtype, self.name)
        self._check_inputs(y_pred)
        mask = self._mask(y_true, y_pred)
        if sample_weight is None and mask is None:
            fused = self._fused(y_true, y_pred, _fused_reduction(self.reduction))
            if fused is not None:  # over every per-sample loss: rows x positions
                rows = y_pred.size // y_pred.shape[-1] if y_pred.ndim > 1 else y_pred.size
                _record("sum" if self.reduction == "sum" else "mean", rows)
                return fused
        if self._casts_targets():  # as Keras, y_true reaches call() in the loss's dtype
            y_true = as_target(y_true, y_pred, self.name)
        losses = self.call(y_true, y_pred)
        if not isinstance(losses, Tensor):
            losses = Tensor._wrap(np.asarray(losses, dtype=y_pred.dtype))
        return reduce_weighted_values(losses, sample_weight, mask, self.reduction, self.name)

    def call(self, y_true: Any, y_pred: Tensor) -> Tensor:
        """The per-sample losses; subclasses implement it."""
        raise NotImplementedError(f"{type(self).__name__} must implement call(y_true, y_pred)")

    def _fused(self, y_true: Any, y_pred: Tensor, reduction: str) -> Tensor | None:
        """The reduced loss in one fused op, or None where there is none (internal)."""
        return None

    def _mask(self, y_true: Any, y_pred: Tensor) -> np.ndarray | None:
        """Per-sample validity (ignored classes), or None (internal)."""
        return None

    def _check_inputs(self, y_pred: Tensor) -> None:
        """Input checks that warn (from_logits); nothing by default (internal)."""

    def _casts_targets(self) -> bool:
        """Whether call() gets y_true cast to y_pred's dtype (all but the built-ins,
        whose sparse labels stay integers) (internal)."""
        return True

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, for ``from_config`` and ``losses.serialize``."""
        config = {"name": self.name, "reduction": self.reduction}
        if self._dtype is not None:
            config["dtype"] = self._dtype.name
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class LossFunctionWrapper(Loss):
    """A Loss around a function ``fn(y_true, y_pred, **kwargs)`` returning per-sample
    losses, as Keras wraps the lowercase loss functions and user functions.

    Args:
        fn: the loss function.
        reduction, name, dtype: as :class:`Loss` (name defaults to ``fn.__name__``).
        **kwargs: passed to ``fn`` on every call.
    """

    def __init__(self, fn: Any, reduction: str | None = "sum_over_batch_size",
                 name: str | None = None, dtype: Any = None, **kwargs: Any) -> None:
        if not callable(fn):
            raise TypeError(f"LossFunctionWrapper: fn must be callable, got {fn!r}")
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction,
                         dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs
        self._warned: set[str] = set()  # the from_logits warning: once per instance

    def _check_inputs(self, y_pred: Tensor) -> None:
        check = getattr(self.fn, "_check", None)
        if check is not None:
            check(self.name, y_pred, self._warned, **self._fn_kwargs)

    def _casts_targets(self) -> bool:
        return getattr(self.fn, "_reduced", None) is None

    def call(self, y_true: Any, y_pred: Tensor) -> Tensor:
        if np.ndim(y_true) != y_pred.ndim:
            y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        impl = getattr(self.fn, "_reduced", None)  # a built-in: skip its own input checks
        if impl is not None:
            return impl(y_true, y_pred, "none", **self._fn_kwargs)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def _fused(self, y_true: Any, y_pred: Tensor, reduction: str) -> Tensor | None:
        impl = getattr(self.fn, "_reduced", None)  # the built-in functions carry one
        if impl is None:
            return None
        if np.ndim(y_true) != y_pred.ndim:
            y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return impl(y_true, y_pred, reduction, **self._fn_kwargs)

    def get_config(self) -> dict[str, Any]:
        from pyfrozen.losses.registry import serialize  # the registry imports this module

        config = super().get_config()
        config["fn"] = serialize(self.fn)
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        from pyfrozen.losses.registry import deserialize

        config = dict(config)
        config["fn"] = deserialize(config["fn"])
        return cls(**config)

    def __repr__(self) -> str:
        return f"<LossFunctionWrapper({self.fn}, kwargs={self._fn_kwargs})>"


class BuiltinLoss(LossFunctionWrapper):
    """A built-in Keras loss class: a wrapper whose config is its own arguments."""

    def get_config(self) -> dict[str, Any]:
        config = Loss.get_config(self)
        config.update(self._fn_kwargs)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        return cls(**config)

    def __repr__(self) -> str:
        return Loss.__repr__(self)
