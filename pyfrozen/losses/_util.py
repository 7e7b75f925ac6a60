"""Helpers of the built-in losses: reductions of composed losses, shape checks, axis moves,
clipping, and the one-time warning about logits given as probabilities (and back)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from pyfrozen import ops
from pyfrozen.tensor import Tensor


class FromLogitsWarning(UserWarning):
    """A crossentropy loss got logits where it expects probabilities, or the reverse."""


def reduce(per_sample: Tensor, reduction: str) -> Tensor:
    """A composed loss's per-sample values reduced as the fused ops do ("mean", "sum",
    "none"); a 0-d value is returned as it is (Keras's ``reduce_values``)."""
    if reduction == "none" or per_sample.ndim == 0 or per_sample.shape == (0,):
        return per_sample
    return ops.sum(per_sample) if reduction == "sum" else ops.mean(per_sample)


def check_same_shape(y_true: Any, y_pred: Tensor, where: str, hint: str = "") -> None:
    if tuple(np.shape(y_true)) != y_pred.shape:
        raise ValueError(
            f"{where}: y_true shape {tuple(np.shape(y_true))} does not match y_pred shape "
            f"{y_pred.shape}{hint}"
        )


def check_axis(axis: Any, ndim: int, where: str) -> int:
    """``axis`` as a non-negative int (a bool is refused, as Keras does)."""
    if axis == -1 and type(axis) is int and ndim:
        return ndim - 1
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"{where}: `axis` must be of type `int`. Received: axis={axis!r}")
    if not -ndim <= axis < max(ndim, 1):
        raise ValueError(f"{where}: axis {axis} is out of range for y_pred with {ndim} axes")
    return int(axis) % max(ndim, 1)


def axis_last(x: Any, axis: int) -> Any:
    """``x`` (Tensor or array) with ``axis`` moved to the end, differentiably."""
    ndim = np.ndim(x)
    if axis == ndim - 1:
        return x
    if isinstance(x, Tensor):
        perm = [i for i in range(ndim) if i != axis] + [axis]
        return ops.transpose(x, perm)
    return np.moveaxis(np.asarray(x), axis, -1)


def clip(x: Tensor, low: float, high: float) -> Tensor:
    """``clip(x, low, high)`` from relu: the gradient is 1 inside, 0 where clipped."""
    if not x.requires_grad:
        return Tensor._wrap(np.clip(x.data, low, high).astype(x.dtype, copy=False))
    above = ops.add(ops.relu(ops.sub(x, low)), low)  # max(x, low)
    return ops.sub(high, ops.relu(ops.sub(high, above)))  # min(., high)


def absolute(x: Tensor) -> Tensor:
    """``|x|`` with gradient ``sign(x)`` (0 at 0, as TF's ``abs``)."""
    if not x.requires_grad:
        return Tensor._wrap(np.abs(x.data))
    return ops.add(ops.relu(x), ops.relu(ops.neg(x)))


# Where a bare loss function (not a Loss instance) already warned: once per process.
_FUNCTION_WARNED: set[str] = set()

_LOGITS = (
    "{name} received y_pred values outside [0, 1] (min {low:.3g}, max {high:.3g}) with "
    "from_logits=False: these look like logits. Pass from_logits=True (e.g. "
    "{cls}(from_logits=True)) or end the model with a {act} activation. This warning "
    "is shown once."
)
_PROBS = (
    "{name} received from_logits=True, but y_pred was produced by a {act}: it holds "
    "probabilities, not logits. Drop the final activation or pass from_logits=False. "
    "This warning is shown once."
)


def check_from_logits(name: str, cls: str, act: str, from_logits: bool, y_pred: Tensor,
                      state: set[str] | None) -> None:
    """Warns once (per Loss instance, or per process for a bare function) when ``y_pred``
    is clearly logits with ``from_logits=False`` (values outside [0, 1]), or clearly
    probabilities with ``from_logits=True`` (it comes straight from a softmax / sigmoid op
    on the tape, the check TF Keras makes on its graph). Values inside [0, 1] are never
    called logits: a sum that is not 1 is not reliable (multi-label sigmoid outputs)."""
    state = _FUNCTION_WARNED if state is None else state
    key = f"{name}:{from_logits}"
    if key in state:
        return
    message = None
    if from_logits:
        if y_pred.grad_fn in ("softmax", "sigmoid"):
            message = _PROBS.format(name=name, act=y_pred.grad_fn)
    elif y_pred.size:
        low, high = float(y_pred.data.min()), float(y_pred.data.max())
        if low < 0 or high > 1:
            message = _LOGITS.format(name=name, low=low, high=high, cls=cls, act=act)
    if message is not None:
        state.add(key)
        warnings.warn(message, FromLogitsWarning, stacklevel=4)
