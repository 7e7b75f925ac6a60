"""Divergences: Keras's KLDivergence, and a knowledge-distillation loss on logits.

``Distillation`` is Hinton et al.'s soft-target loss, the one Keras 3 computes in
``keras.distillation.LogitsDistillation`` (temperature 3 by default, KL divergence,
scaled by T^2), written as a Loss: ``y_true`` holds the teacher's logits and ``y_pred``
the student's. It is computed from log-softmax on the fused crossentropy op
(``KL(q || p) = CE(q, p) + sum(q log q)``), so unlike Keras it does not clip
probabilities at 1e-7: the two agree unless a probability falls below that.
"""

from __future__ import annotations

from typing import Any

from pyfrozen import ops
from pyfrozen.losses._util import check_same_shape, clip, reduce
from pyfrozen.losses.loss import BuiltinLoss, as_prediction, as_target
from pyfrozen.tensor import Tensor

_EPSILON = 1e-7  # Keras's backend.epsilon()


def _kl(y_true, y_pred, reduction):
    where = "kl_divergence"
    y_pred = as_prediction(y_pred, None, where)
    target = as_target(y_true, y_pred, where)
    check_same_shape(target, y_pred, where)
    t = clip(target, _EPSILON, 1.0)
    p = clip(y_pred, _EPSILON, 1.0)
    per_sample = ops.sum(ops.mul(t, ops.sub(ops.log(t), ops.log(p))), axis=-1)
    return reduce(per_sample, reduction)


def _distillation(y_true, y_pred, reduction, temperature=3.0):
    where = "distillation"
    temperature = _check_temperature(temperature)
    student = as_prediction(y_pred, None, where)
    teacher = as_target(y_true, student, where)
    check_same_shape(teacher, student, where, " (teacher and student logits)")
    if student.ndim == 0:
        raise ValueError(f"{where}: logits need a class axis, got shape ()")
    inv = 1.0 / temperature
    soft = ops.mul(teacher, inv)
    q, log_q = ops.softmax(soft), ops.log_softmax(soft)  # not recorded for a fixed teacher
    cross = ops.softmax_cross_entropy(ops.mul(student, inv), q, reduction=reduction)
    neg_entropy = reduce(ops.sum(ops.mul(q, log_q), axis=-1), reduction)
    return ops.mul(ops.add(cross, neg_entropy), temperature * temperature)


def _check_temperature(temperature: Any) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise ValueError(f"distillation: temperature must be a number, got {temperature!r}")
    if not temperature > 0:
        raise ValueError(f"distillation: temperature must be positive, got {temperature}")
    return float(temperature)


def kl_divergence(y_true: Any, y_pred: Any) -> Tensor:
    """Per-sample ``sum(y_true * log(y_true / y_pred), axis=-1)``, both clipped to
    ``[1e-7, 1]`` (Keras's ``kl_divergence``)."""
    return _kl(y_true, y_pred, "none")


def distillation(y_true: Any, y_pred: Any, temperature: float = 3.0) -> Tensor:
    """Per-sample distillation loss ``T^2 * KL(softmax(y_true / T) || softmax(y_pred / T))``.

    Args:
        y_true: the teacher's logits (a fixed array, or a Tensor).
        y_pred: the student's logits, same shape; classes on the last axis.
        temperature: T > 0; higher values soften both distributions. The T^2 factor keeps
            the gradient's scale independent of T (Hinton et al., 2015).
    """
    return _distillation(y_true, y_pred, "none", temperature)


kl_divergence._reduced = _kl
distillation._reduced = _distillation


class KLDivergence(BuiltinLoss):
    """Kullback-Leibler divergence between probability distributions (Keras's class).

    Example:

    >>> from pyfrozen import losses
    >>> round(losses.KLDivergence()([[0.2, 0.8]], [[0.5, 0.5]]).item(), 4)
    0.1927
    """

    def __init__(self, reduction: str | None = "sum_over_batch_size",
                 name: str = "kl_divergence", dtype: Any = None) -> None:
        super().__init__(kl_divergence, reduction=reduction, name=name, dtype=dtype)


class Distillation(BuiltinLoss):
    """Knowledge distillation from a teacher's logits (``y_true``) to a student's
    (``y_pred``): ``T^2 * KL(softmax(teacher / T) || softmax(student / T))`` per sample.

    The loss of Keras 3's ``keras.distillation.LogitsDistillation`` as an ordinary loss,
    usable in ``compile(loss=...)`` with the teacher's logits as targets (add the hard-label
    loss with a second output or ``loss_weights``).

    Args:
        temperature: T > 0 (default 3, as Keras's LogitsDistillation).
        reduction, name, dtype: as :class:`pyfrozen.losses.Loss`.

    Example:

    >>> import numpy as np
    >>> from pyfrozen import losses
    >>> teacher = np.array([[2.0, 0.0, -1.0]])
    >>> round(losses.Distillation(temperature=2.0)(teacher, teacher).item(), 6)
    0.0
    """

    def __init__(self, temperature: float = 3.0, reduction: str | None = "sum_over_batch_size",
                 name: str = "distillation", dtype: Any = None) -> None:
        super().__init__(distillation, reduction=reduction, name=name, dtype=dtype,
                         temperature=_check_temperature(temperature))
        self.temperature = float(temperature)

    def compute_loss(self, teacher_outputs: Any, student_outputs: Any, **kwargs: Any) -> Tensor:
        """Keras's ``DistillationLoss.compute_loss`` spelling: the reduced loss."""
        return self(teacher_outputs, student_outputs)
