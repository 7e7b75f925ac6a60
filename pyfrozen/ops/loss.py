"""Losses: softmax cross-entropy, binary cross-entropy and mean squared error.

Each loss computes its value and the gradient of the *mean* loss in one forward pass
(the core kernels do both at once) and keeps only that gradient array for backward,
and only when someone needs it; backward scales it by the incoming gradient. The
reductions follow Keras: a per-sample loss (mean over the last axis for the
element-wise losses, one value per row of logits for cross-entropy), then ``"mean"``
(Keras's ``"sum_over_batch_size"``), ``"sum"`` or ``"none"`` over the samples.

Targets that are float Tensors may require a gradient too: every loss here gives it.

Dtypes (Keras's rule, the same as for layer and model inputs): the prediction's dtype is
the compute dtype, and targets are cast to it: float64 one-hot labels for float32 logits,
integer or boolean 0/1 targets. Integer class indices for the sparse cross-entropy stay
integers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen import _core
from pyfrozen.autograd.function import Function
from pyfrozen.ops._util import float_operand
from pyfrozen.ops.elementwise import cast
from pyfrozen.tensor import Tensor

_EPSILON = 1e-7  # Keras's backend.epsilon(): probabilities are clipped to [eps, 1 - eps]


# ---------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------


def _reduction(value: str | None, op: str) -> str:
    """The canonical reduction name ("mean", "sum" or "none") for a Keras spelling."""
    if value is None or value == "none":
        return "none"
    if value in ("mean", "sum_over_batch_size"):
        return "mean"
    if value == "sum":
        return "sum"
    raise ValueError(
        f"{op}: unknown reduction {value!r} (expected 'mean', 'sum_over_batch_size', "
        "'sum' or 'none')"
    )


def _reduce(mean: float, per_sample: np.ndarray | None, samples: int, reduction: str,
            dtype: np.dtype) -> np.ndarray:
    """The forward result: the mean or sum as a 0-d array, or the per-sample losses."""
    if reduction == "none":
        return per_sample.astype(dtype, copy=False)
    return np.asarray(mean * samples if reduction == "sum" else mean, dtype=dtype)


def _scale(g: np.ndarray, dy: np.ndarray, samples: int, reduction: str) -> np.ndarray:
    """The gradient of the reduced loss from ``g``, the gradient of the mean loss.

    The mean is ``sum / samples``, so the sum (and each per-sample loss, whose own
    samples-th share of the mean ``g`` holds) has ``samples`` times ``g``.
    """
    if reduction == "mean":
        return g * dy
    factor = dy * samples  # dy keeps the loss's dtype (samples is a Python int)
    if reduction == "none":
        factor = factor[..., None]
    return g * factor


def _backward(ctx, dy):
    """Backward shared by every loss: the saved mean-loss gradients, scaled by dy."""
    samples, reduction = ctx.reduction
    grads = [None if g is None else _scale(g, dy, samples, reduction) for g in ctx.saved_tensors]
    return tuple(grads[: len(ctx.needs_input_grad)])


def _target(value: Any, like: Tensor, op: str, name: str) -> Tensor:
    """A target (labels) as a Tensor of ``like``'s dtype: the prediction's dtype is the
    loss's compute dtype, and targets are cast to it as Keras casts ``y_true`` (float64
    one-hot labels for a float32 model, integer or boolean 0/1 targets). A float Tensor
    target that requires a gradient is cast differentiably."""
    dtype = like.data.dtype
    if isinstance(value, Tensor):
        if value.data.dtype == dtype:
            return value
        if value.data.dtype.kind == "f":
            return cast(value, dtype)
        value = value.data
    array = np.asarray(value)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"{op}: {name} has unsupported dtype {array.dtype}")
    if array.dtype == dtype and isinstance(value, np.ndarray):
        return Tensor._wrap(array)
    return Tensor._wrap(array.astype(dtype))


def _pred_and_target(pred: Any, target: Any, op: str) -> tuple[Tensor, Tensor]:
    """The operands of an element-wise loss: a float pred with at least one axis and a
    target of its shape."""
    pred = float_operand(pred, op, "pred")
    target = _target(target, pred, op, "target")
    if pred.ndim == 0:
        raise ValueError(f"{op}: pred must have at least one axis, got shape {pred.shape}")
    if pred.shape != target.shape:
        raise ValueError(
            f"{op}: target shape {target.shape} does not match pred shape {pred.shape}"
        )
    return pred, target


# ---------------------------------------------------------------------------------------
# Softmax cross-entropy
# ---------------------------------------------------------------------------------------


def _ce_from_logits(x, labels, targets, need_x, need_t, per_row):
    """(mean loss, per-row losses, d mean / d logits, d mean / d targets) via the core."""
    rows = x.shape[0]
    mean, gx = _core.softmax_cross_entropy(x, labels if targets is None else targets,
                                           need_grad=need_x)
    losses = gt = None
    if per_row or need_t:
        lsm = _core.log_softmax(x)
        if per_row:
            losses = _ce_rows(lsm, labels, targets)
        if need_t:
            gt = np.negative(lsm, out=lsm)
            gt /= rows
    return mean, losses, gx, gt


def _ce_rows(log_p, labels, targets):
    """Per-row cross-entropy from log-probabilities; 0 * log(0) counts as 0 (as the core)."""
    if targets is None:
        return -np.take_along_axis(log_p, labels[:, None], axis=1)[:, 0]
    terms = np.where(targets != 0, targets * log_p, 0)
    return -terms.sum(axis=1)


def _ce_from_probs(p, labels, targets, need_x, need_t, per_row):
    """Keras's cross-entropy on probabilities, in numpy: rows are normalised to sum 1,
    clipped to [eps, 1 - eps] (the clip passes no gradient where it is active)."""
    rows, classes = p.shape
    total = p.sum(axis=1, keepdims=True)
    q = p / total
    eps = p.dtype.type(_EPSILON)
    clipped = np.clip(q, eps, 1 - eps)
    log_q = np.log(clipped)
    if targets is None:
        targets = np.zeros_like(p)
        targets[np.arange(rows), labels] = 1
    losses = _ce_rows(log_q, None, targets)
    mean = float(losses.astype(np.float64).mean()) if rows else float("nan")
    gx = gt = None
    if need_x:
        inside = (q >= eps) & (q <= 1 - eps)
        gq = np.where(inside, -targets / clipped, 0)
        # d q_k / d p_j = (delta_kj - q_k) / total
        gx = (gq - (gq * q).sum(axis=1, keepdims=True)) / (total * rows)
    if need_t:
        gt = -log_q / rows
    return mean, (losses if per_row else None), gx, gt


class SoftmaxCrossEntropy(Function):
    """Cross-entropy of softmax(logits) (or of given probabilities) with labels."""

    @staticmethod
    def forward(ctx, logits, targets=None, *, labels=None, from_logits=True, reduction="mean"):
        shape = logits.shape
        x = np.ascontiguousarray(logits).reshape(-1, shape[-1])
        t = None if targets is None else np.ascontiguousarray(targets).reshape(x.shape)
        needs = ctx.needs_input_grad
        need_t = len(needs) > 1 and needs[1]
        compute = _ce_from_logits if from_logits else _ce_from_probs
        mean, losses, gx, gt = compute(x, labels, t, needs[0], need_t, reduction == "none")
        # Only the gradients someone needs, as arrays of the inputs' shapes.
        ctx.save_for_backward(
            None if gx is None else gx.reshape(shape), None if gt is None else gt.reshape(shape)
        )
        ctx.reduction = (x.shape[0], reduction)
        per_sample = None if losses is None else losses.reshape(shape[:-1])
        return _reduce(mean, per_sample, x.shape[0], reduction, logits.dtype)

    backward = staticmethod(_backward)


def _sparse_labels(labels: Any, logits: Tensor) -> np.ndarray:
    """Integer labels as a C-contiguous int64 vector, one per row of logits."""
    array = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
    rows = logits.shape[:-1]
    if array.shape == (*rows, 1):  # Keras accepts a trailing axis of 1
        array = array.reshape(rows)
    if array.shape != rows:
        raise ValueError(
            f"softmax_cross_entropy: integer labels of shape {array.shape} do not match "
            f"logits {logits.shape} (expected {rows}): integer labels are class indices; "
            "give one-hot labels as floats"
        )
    return np.ascontiguousarray(array, dtype=np.int64).reshape(-1)


def _check_label_range(labels: np.ndarray, logits: Tensor) -> None:
    classes = logits.shape[-1]
    bad = np.flatnonzero((labels < 0) | (labels >= classes))
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"softmax_cross_entropy: label {int(labels[i])} at row {i} is out of range for "
            f"{classes} classes (logits {logits.shape})"
        )


def softmax_cross_entropy(
    logits: Any, labels: Any, *, from_logits: bool = True, reduction: str | None = "mean"
) -> Tensor:
    """Categorical cross-entropy between labels and softmax(logits).

    Keras's ``SparseCategoricalCrossentropy`` when ``labels`` are integers and
    ``CategoricalCrossentropy`` when they are probabilities (torch's
    ``F.cross_entropy`` for both). The last axis holds the classes; every other
    position is one sample. With ``from_logits=False`` the input holds probabilities:
    as Keras, each row is divided by its sum and clipped to ``[1e-7, 1 - 1e-7]``.

    Args:
        logits: float Tensor (..., classes).
        labels: integer class indices of shape ``logits.shape[:-1]`` (a trailing axis
            of 1 is accepted; they stay integers), or probabilities shaped like
            ``logits`` (a float Tensor that may require a gradient), cast to the logits'
            dtype as Keras casts ``y_true`` (float64 one-hot labels for float32 logits).
        from_logits: whether ``logits`` are unnormalised scores (the default) or
            probabilities.
        reduction: ``"mean"`` (alias ``"sum_over_batch_size"``), ``"sum"``, or
            ``"none"``/None for the per-sample losses (shape ``logits.shape[:-1]``).

    Returns:
        A 0-d Tensor (or the per-sample losses for ``reduction="none"``).

    Raises:
        ValueError: shapes do not match (both are named), a label is outside
            ``[0, classes)``, or the reduction is unknown.
        TypeError: logits are not float, or labels are neither integers nor floats.

    Example:

    >>> import numpy as np, pyfrozen
    >>> logits = pyfrozen.tensor([[2.0, 0.5, -1.0]], requires_grad=True)
    >>> loss = pyfrozen.ops.softmax_cross_entropy(logits, np.array([0]))
    >>> round(loss.item(), 4)
    0.2413
    """
    op = "softmax_cross_entropy"
    reduction = _reduction(reduction, op)
    logits = float_operand(logits, op, "logits")
    if logits.ndim == 0 or logits.shape[-1] == 0:
        raise ValueError(
            f"{op}: logits need a class axis with at least one class, got shape {logits.shape}"
        )
    array = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
    kwargs = dict(from_logits=bool(from_logits), reduction=reduction)
    if array.dtype.kind in "iu":
        sparse = _sparse_labels(array, logits)
        if not from_logits:  # the core checks the range on the logits path
            _check_label_range(sparse, logits)
        return SoftmaxCrossEntropy.apply(logits, labels=sparse, **kwargs)
    if array.dtype.kind != "f":
        raise TypeError(f"{op}: labels must be integers or float probabilities, got "
                        f"{array.dtype}")
    targets = _target(labels, logits, op, "labels")
    if targets.shape != logits.shape:
        raise ValueError(
            f"{op}: probability labels of shape {targets.shape} do not match logits "
            f"{logits.shape}"
        )
    return SoftmaxCrossEntropy.apply(logits, targets, **kwargs)


# ---------------------------------------------------------------------------------------
# Binary cross-entropy
# ---------------------------------------------------------------------------------------


def _bce_clip(p: np.ndarray) -> np.ndarray:
    """pred clipped as the core does (in pred's dtype), as float64."""
    eps = p.dtype.type(_EPSILON)
    return np.clip(p, eps, p.dtype.type(1) - eps).astype(np.float64)


def _bce_elements(p: np.ndarray, t: np.ndarray, from_logits: bool) -> np.ndarray:
    """Element-wise losses in float64 (for reduction="none"), the core's formulas."""
    t = t.astype(np.float64)
    if from_logits:
        x = p.astype(np.float64)
        return np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))
    q = _bce_clip(p)
    return -(t * np.log(q) + (1 - t) * np.log1p(-q))


def _bce_target_grad(p: np.ndarray, count: int, from_logits: bool) -> np.ndarray:
    """d mean / d target: -x / count on logits, log((1 - p) / p) / count on probabilities."""
    if from_logits:
        g = -p.astype(np.float64)
    else:
        q = _bce_clip(p)
        g = np.log1p(-q) - np.log(q)
    return (g / count).astype(p.dtype)


class BinaryCrossEntropy(Function):
    @staticmethod
    def forward(ctx, pred, target, *, from_logits=False, reduction="mean"):
        p, t = np.ascontiguousarray(pred), np.ascontiguousarray(target)
        need_p, need_t = ctx.needs_input_grad
        mean, gp = _core.binary_cross_entropy(p, t, from_logits=from_logits, need_grad=need_p)
        gt = _bce_target_grad(p, p.size, from_logits) if need_t else None
        ctx.save_for_backward(gp, gt)
        samples = p.size // p.shape[-1] if p.shape[-1] else 0
        ctx.reduction = (samples, reduction)
        losses = None
        if reduction == "none":
            losses = _bce_elements(p, t, from_logits).mean(axis=-1)
        return _reduce(mean, losses, samples, reduction, p.dtype)

    backward = staticmethod(_backward)


def binary_cross_entropy(
    pred: Any, target: Any, *, from_logits: bool = False, reduction: str | None = "mean"
) -> Tensor:
    """Binary cross-entropy, Keras's ``BinaryCrossentropy``.

    With ``from_logits=False`` (the Keras default) ``pred`` holds probabilities,
    clipped to ``[1e-7, 1 - 1e-7]``; the clip passes no gradient where it is active
    (TF's ``clip_by_value``). With ``from_logits=True`` the stable form
    ``max(x, 0) - x t + log1p(exp(-|x|))`` is used. The per-sample loss is the mean
    over the last axis (so a 1-D ``pred`` is one sample, as in Keras).

    Args:
        pred: float Tensor of probabilities or logits, at least 1-D.
        target: values in [0, 1], same shape; a float Tensor target may require a
            gradient. Targets of any other dtype (float64 for a float32 ``pred``,
            integer, boolean) are cast to ``pred``'s dtype, as Keras casts ``y_true``.
        from_logits: whether ``pred`` holds logits.
        reduction: ``"mean"`` (alias ``"sum_over_batch_size"``), ``"sum"``, or
            ``"none"``/None for the per-sample losses (shape ``pred.shape[:-1]``).

    Returns:
        A 0-d Tensor (or the per-sample losses for ``reduction="none"``).

    Raises:
        ValueError: ``pred`` and ``target`` shapes differ (both are named), or the
            reduction is unknown.
        TypeError: ``pred`` is not float, or the target is not numeric.

    Example:

    >>> import pyfrozen
    >>> pred = pyfrozen.tensor([[0.6, 0.4], [0.4, 0.6]])
    >>> loss = pyfrozen.ops.binary_cross_entropy(pred, [[0, 1], [0, 0]])
    >>> round(loss.item(), 3)
    0.815
    """
    op = "binary_cross_entropy"
    reduction = _reduction(reduction, op)
    pred, target = _pred_and_target(pred, target, op)
    return BinaryCrossEntropy.apply(
        pred, target, from_logits=bool(from_logits), reduction=reduction
    )


# ---------------------------------------------------------------------------------------
# Mean squared error
# ---------------------------------------------------------------------------------------


class MeanSquaredError(Function):
    @staticmethod
    def forward(ctx, pred, target, *, reduction="mean"):
        p, t = np.ascontiguousarray(pred), np.ascontiguousarray(target)
        need_p, need_t = ctx.needs_input_grad
        mean, g = _core.mse(p, t, need_grad=need_p or need_t)
        ctx.save_for_backward(g)  # d mean / d target is -g: one array serves both
        samples = p.size // p.shape[-1] if p.shape[-1] else 0
        ctx.reduction = (samples, reduction)
        losses = None
        if reduction == "none":
            d = p.astype(np.float64) - t.astype(np.float64)
            losses = (d * d).mean(axis=-1)
        return _reduce(mean, losses, samples, reduction, p.dtype)

    @staticmethod
    def backward(ctx, dy):
        (g,) = ctx.saved_tensors
        samples, reduction = ctx.reduction
        need_p, need_t = ctx.needs_input_grad
        dp = _scale(g, dy, samples, reduction)
        return (dp if need_p else None), (np.negative(dp) if need_t else None)


def mean_squared_error(pred: Any, target: Any, *, reduction: str | None = "mean") -> Tensor:
    """Mean squared error, Keras's ``MeanSquaredError``: ``mean((pred - target)**2)``.

    The per-sample loss is the mean over the last axis (a 1-D ``pred`` is one sample,
    as in Keras); a float Tensor target may require a gradient too.

    Args:
        pred: float Tensor, at least 1-D.
        target: same shape; cast to ``pred``'s dtype (float of another precision,
            integer, boolean), as Keras casts ``y_true``.
        reduction: ``"mean"`` (alias ``"sum_over_batch_size"``), ``"sum"``, or
            ``"none"``/None for the per-sample losses (shape ``pred.shape[:-1]``).

    Returns:
        A 0-d Tensor (or the per-sample losses for ``reduction="none"``).

    Raises:
        ValueError: ``pred`` and ``target`` shapes differ (both are named), or the
            reduction is unknown.
        TypeError: ``pred`` is not float, or the target is not numeric.

    Example:

    >>> import pyfrozen
    >>> pred = pyfrozen.tensor([[1.0, 1.0], [1.0, 0.0]])
    >>> pyfrozen.ops.mean_squared_error(pred, [[0.0, 1.0], [0.0, 0.0]]).item()
    0.5
    """
    op = "mean_squared_error"
    reduction = _reduction(reduction, op)
    pred, target = _pred_and_target(pred, target, op)
    return MeanSquaredError.apply(pred, target, reduction=reduction)
