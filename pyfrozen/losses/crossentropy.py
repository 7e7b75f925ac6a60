"""Crossentropy losses: categorical, sparse categorical and binary, on the fused ops.

Each loss has Keras 3's class (``CategoricalCrossentropy``, ...) and function
(``categorical_crossentropy``, ...), the same arguments and defaults
(``from_logits=False``). The functions return per-sample losses, as Keras's do; the
classes reduce them, in one fused core call when no sample weight is given.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen import ops
from pyfrozen.losses._util import axis_last, check_axis, check_from_logits, check_same_shape
from pyfrozen.losses.loss import BuiltinLoss, as_prediction, as_target
from pyfrozen.tensor import Tensor

# ---------------------------------------------------------------------------------------
# The computations: (y_true, y_pred Tensor, reduction, **options) -> Tensor
# ---------------------------------------------------------------------------------------


def _smooth(y_true: Tensor, factor: float, offset: float) -> Tensor:
    return ops.add(ops.mul(y_true, 1.0 - factor), offset)


def _categorical(y_true, y_pred, reduction, from_logits=False, label_smoothing=0.0, axis=-1):
    where = "categorical_crossentropy"
    y_pred = as_prediction(y_pred, None, where)
    axis = check_axis(axis, y_pred.ndim, where)
    target = as_target(y_true, y_pred, where)  # integer one-hot labels become floats
    check_same_shape(target, y_pred, where,
                     "; for integer class indices use sparse_categorical_crossentropy")
    y_pred, target = axis_last(y_pred, axis), axis_last(target, axis)
    if label_smoothing:
        target = _smooth(target, label_smoothing, label_smoothing / y_pred.shape[-1])
    return ops.softmax_cross_entropy(y_pred, target, from_logits=bool(from_logits),
                                     reduction=reduction)


def sparse_labels(y_true: Any, y_pred: Tensor, where: str) -> np.ndarray:
    """Class indices as an integer array of ``y_pred.shape[:-1]``: a trailing axis of 1 is
    dropped, float labels holding whole numbers are accepted (Keras casts them)."""
    labels = y_true.data if isinstance(y_true, Tensor) else np.asarray(y_true)
    if labels.ndim == y_pred.ndim and labels.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError(
                f"{where}: y_true must hold integer class indices, got non-integer floats "
                f"(shape {labels.shape}); for probabilities use categorical_crossentropy"
            )
        labels = labels.astype(np.int64)
    elif labels.dtype.kind not in "iu":
        raise TypeError(f"{where}: y_true must hold integer class indices, got {labels.dtype}")
    if labels.shape != y_pred.shape[:-1]:
        raise ValueError(
            f"{where}: y_true shape {np.shape(y_true)} does not match y_pred shape "
            f"{y_pred.shape}: expected class indices of shape {y_pred.shape[:-1]} "
            "(or with a trailing axis of 1); for one-hot labels use categorical_crossentropy"
        )
    return labels


def _check_range(labels: np.ndarray, classes: int, y_pred: Tensor, where: str) -> None:
    if not labels.size or (labels.min() >= 0 and labels.max() < classes):
        return
    bad = (labels < 0) | (labels >= classes)
    if bad.any():
        at = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{where}: label {int(labels[at])} at index {at} of y_true is outside the valid "
            f"range [0, {classes}) for y_pred shape {y_pred.shape} ({classes} classes)"
        )


def _sparse(y_true, y_pred, reduction, from_logits=False, ignore_class=None, axis=-1):
    where = "sparse_categorical_crossentropy"
    y_pred = as_prediction(y_pred, None, where)
    y_pred = axis_last(y_pred, check_axis(axis, y_pred.ndim, where))
    labels = sparse_labels(y_true, y_pred, where)
    valid = None
    if ignore_class is not None:
        valid = labels != ignore_class
        labels = np.where(valid, labels, 0)
    _check_range(labels, y_pred.shape[-1], y_pred, where)
    if valid is None:
        return ops.softmax_cross_entropy(y_pred, labels, from_logits=bool(from_logits),
                                         reduction=reduction)
    losses = ops.softmax_cross_entropy(y_pred, labels, from_logits=bool(from_logits),
                                       reduction="none")
    losses = ops.mul(losses, Tensor._wrap(valid.astype(losses.dtype)))
    if reduction == "none" or losses.ndim == 0:
        return losses
    total = ops.sum(losses)
    count = int(valid.sum())  # Keras: the mean over the samples that count
    return total if reduction == "sum" else ops.mul(total, 1.0 / count if count else 0.0)


def _binary(y_true, y_pred, reduction, from_logits=False, label_smoothing=0.0, axis=-1):
    where = "binary_crossentropy"
    y_pred = as_prediction(y_pred, None, where)
    axis = check_axis(axis, y_pred.ndim, where)
    target = as_target(y_true, y_pred, where)
    check_same_shape(target, y_pred, where)
    y_pred, target = axis_last(y_pred, axis), axis_last(target, axis)
    if label_smoothing:
        target = _smooth(target, label_smoothing, 0.5 * label_smoothing)
    return ops.binary_cross_entropy(y_pred, target, from_logits=bool(from_logits),
                                    reduction=reduction)


# ---------------------------------------------------------------------------------------
# Keras's functions: per-sample losses
# ---------------------------------------------------------------------------------------


def categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                             label_smoothing: float = 0.0, axis: int = -1) -> Tensor:
    """Per-sample categorical crossentropy (Keras's ``categorical_crossentropy``).

    Args:
        y_true: one-hot (or probability) labels shaped like ``y_pred``; cast to its dtype.
        y_pred: probabilities (rows are normalised to sum 1 and clipped to
            ``[1e-7, 1 - 1e-7]`` as Keras) or logits with ``from_logits=True``.
        from_logits: whether ``y_pred`` holds logits.
        label_smoothing: in [0, 1]: targets become ``y * (1 - s) + s / classes``.
        axis: the class axis.

    Returns:
        A Tensor of ``y_pred``'s shape without ``axis``.
    """
    y_pred = as_prediction(y_pred, None, "categorical_crossentropy")
    _check_categorical("categorical_crossentropy", y_pred, None, from_logits)
    return _categorical(y_true, y_pred, "none", from_logits, label_smoothing, axis)


def sparse_categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                                    ignore_class: int | None = None, axis: int = -1) -> Tensor:
    """Per-sample crossentropy with integer labels (Keras's ``sparse_categorical_crossentropy``).

    Args:
        y_true: class indices of shape ``y_pred.shape[:-1]`` (or with a trailing axis of
            1); whole-number floats are accepted.
        y_pred: probabilities, or logits with ``from_logits=True``.
        from_logits: whether ``y_pred`` holds logits.
        ignore_class: a label value whose samples get loss 0 and do not count.
        axis: the class axis.

    Raises:
        ValueError: a label outside ``[0, classes)`` (the range is named), or shapes
            that do not fit (both are named).
    """
    y_pred = as_prediction(y_pred, None, "sparse_categorical_crossentropy")
    _check_sparse("sparse_categorical_crossentropy", y_pred, None, from_logits)
    return _sparse(y_true, y_pred, "none", from_logits, ignore_class, axis)


def binary_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                        label_smoothing: float = 0.0, axis: int = -1) -> Tensor:
    """Per-sample binary crossentropy, the mean over ``axis`` (Keras's ``binary_crossentropy``).

    Args:
        y_true: values in [0, 1] shaped like ``y_pred``; cast to its dtype.
        y_pred: probabilities (clipped to ``[1e-7, 1 - 1e-7]``), or logits with
            ``from_logits=True``.
        label_smoothing: in [0, 1]: targets become ``y * (1 - s) + s / 2``.
        axis: the axis the mean runs over.
    """
    y_pred = as_prediction(y_pred, None, "binary_crossentropy")
    _check_binary("binary_crossentropy", y_pred, None, from_logits)
    return _binary(y_true, y_pred, "none", from_logits, label_smoothing, axis)


def _checker(cls: str, activation: str):
    """The one-time from_logits check of one loss: (name, y_pred, state, from_logits)."""

    def check(name, y_pred, state, from_logits=False, **_):
        check_from_logits(name, cls, activation, from_logits, y_pred, state)

    return check


_check_categorical = _checker("CategoricalCrossentropy", "softmax")
_check_sparse = _checker("SparseCategoricalCrossentropy", "softmax")
_check_binary = _checker("BinaryCrossentropy", "sigmoid")

# What LossFunctionWrapper (and so every class here) uses: the reducing computation and
# the check, each Loss instance keeping its own "already warned" state.
categorical_crossentropy._reduced = _categorical
categorical_crossentropy._check = _check_categorical
sparse_categorical_crossentropy._reduced = _sparse
sparse_categorical_crossentropy._check = _check_sparse
binary_crossentropy._reduced = _binary
binary_crossentropy._check = _check_binary

# ---------------------------------------------------------------------------------------
# Keras's classes
# ---------------------------------------------------------------------------------------


class CategoricalCrossentropy(BuiltinLoss):
    """Crossentropy between one-hot labels and predictions (Keras's class).

    Args:
        from_logits: whether ``y_pred`` holds logits (default False: probabilities).
        label_smoothing: in [0, 1]; targets become ``y * (1 - s) + s / classes``.
        axis: the class axis.
        reduction, name, dtype: as :class:`pyfrozen.losses.Loss`.

    Example:

    >>> import numpy as np
    >>> from pyfrozen import losses
    >>> y_true = np.array([[0, 1, 0], [0, 0, 1]])
    >>> y_pred = np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    >>> round(losses.CategoricalCrossentropy()(y_true, y_pred).item(), 3)
    1.177
    """

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction: str | None = "sum_over_batch_size",
                 name: str = "categorical_crossentropy", dtype: Any = None) -> None:
        super().__init__(categorical_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class SparseCategoricalCrossentropy(BuiltinLoss):
    """Crossentropy between integer labels and predictions (Keras's class).

    Args:
        from_logits: whether ``y_pred`` holds logits (default False: probabilities).
        ignore_class: a label value whose samples get loss 0 and do not count in the mean.
        reduction, name, dtype: as :class:`pyfrozen.losses.Loss`.

    Example:

    >>> from pyfrozen import losses
    >>> loss = losses.SparseCategoricalCrossentropy()
    >>> round(loss([1, 2], [[0.05, 0.95, 0], [0.1, 0.8, 0.1]]).item(), 3)
    1.177
    """

    def __init__(self, from_logits: bool = False, ignore_class: int | None = None,
                 reduction: str | None = "sum_over_batch_size",
                 name: str = "sparse_categorical_crossentropy", dtype: Any = None) -> None:
        super().__init__(sparse_categorical_crossentropy, reduction=reduction, name=name,
                         dtype=dtype, from_logits=from_logits, ignore_class=ignore_class)
        self.from_logits, self.ignore_class = from_logits, ignore_class

    def _mask(self, y_true: Any, y_pred: Tensor) -> np.ndarray | None:
        if self.ignore_class is None:
            return None
        return sparse_labels(y_true, y_pred, self.name) != self.ignore_class


class BinaryCrossentropy(BuiltinLoss):
    """Binary crossentropy, the mean over the last axis per sample (Keras's class).

    Args:
        from_logits: whether ``y_pred`` holds logits (default False: probabilities).
        label_smoothing: in [0, 1]; targets become ``y * (1 - s) + s / 2``.
        axis: the axis the per-sample mean runs over.
        reduction, name, dtype: as :class:`pyfrozen.losses.Loss`.

    Example:

    >>> from pyfrozen import losses
    >>> loss = losses.BinaryCrossentropy()
    >>> round(loss([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]).item(), 3)
    0.815
    """

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction: str | None = "sum_over_batch_size",
                 name: str = "binary_crossentropy", dtype: Any = None) -> None:
        super().__init__(binary_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis
