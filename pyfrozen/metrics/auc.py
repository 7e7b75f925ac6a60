"""AUC: the area under the ROC or precision-recall curve, Keras 3's ``AUC`` in numpy.

As Keras, predictions are bucketed by ``num_thresholds`` thresholds (``0 - 1e-7``,
evenly spaced interior points, ``1 + 1e-7``); true/false positive/negative counts are
accumulated per threshold (a prediction counts as positive where it is strictly above),
and ``result`` sums the curve with the chosen Riemann rule (``"interpolation"`` is
Davis & Goadrich's for PR, the trapezoid for ROC).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen.metrics.metric import Metric, to_array

_EPSILON = 1e-7


def _divide_no_nan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


class AUC(Metric):
    """Area under the ROC or PR curve (Keras's ``keras.metrics.AUC``, same arguments).

    Args:
        num_thresholds: number of thresholds (> 1) when ``thresholds`` is None.
        curve: ``"ROC"`` or ``"PR"``.
        summation_method: ``"interpolation"``, ``"minoring"`` or ``"majoring"``.
        name, dtype: as :class:`Metric`.
        thresholds: explicit interior thresholds in [0, 1] (then ``num_thresholds`` is
            their number plus 2).
        multi_label: one curve per label (last axis), averaged; else all values count as
            one binary problem.
        num_labels: the number of labels when ``multi_label`` (inferred otherwise).
        label_weights: per-label weights (the average's weights when ``multi_label``).
        from_logits: apply a sigmoid to ``y_pred`` first.

    Example:

    >>> from pyfrozen import metrics
    >>> m = metrics.AUC(num_thresholds=3)
    >>> m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    >>> m.result()
    0.75
    """

    state_names = ("true_positives", "false_positives", "true_negatives", "false_negatives")

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC",
                 summation_method: str = "interpolation", name: str | None = None,
                 dtype: Any = None, thresholds: Any = None, multi_label: bool = False,
                 num_labels: int | None = None, label_weights: Any = None,
                 from_logits: bool = False) -> None:
        super().__init__(name=name or "auc", dtype=dtype)
        curve, summation_method = str(curve).upper(), str(summation_method).lower()
        if curve not in ("ROC", "PR"):
            raise ValueError(f'Invalid curve: "{curve}". Valid options are: "ROC", "PR"')
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError(f'Invalid summation method: "{summation_method}". Valid options '
                             'are: "interpolation", "majoring", "minoring"')
        self.curve, self.summation_method = curve, summation_method
        self.multi_label, self.num_labels = bool(multi_label), num_labels
        self._from_logits = bool(from_logits)
        self.label_weights = None if label_weights is None else np.asarray(label_weights,
                                                                           np.float64)
        if thresholds is not None:
            interior = np.sort(np.asarray(thresholds, dtype=np.float64).reshape(-1))
            self._init_thresholds = [float(t) for t in interior]
        else:
            if num_thresholds <= 1:
                raise ValueError("Argument `num_thresholds` must be an integer > 1. "
                                 f"Received: num_thresholds={num_thresholds}")
            k = num_thresholds
            interior = np.array([(i + 1) / (k - 1) for i in range(k - 2)])
            self._init_thresholds = None
        self.thresholds = np.concatenate([[0.0 - _EPSILON], interior, [1.0 + _EPSILON]])
        self.num_thresholds = len(self.thresholds)
        self.reset_state()

    def reset_state(self) -> None:
        shape = (self.num_thresholds,) + ((self.num_labels,) if self.multi_label and
                                          self.num_labels else ())
        self.true_positives, self.false_positives = np.zeros(shape), np.zeros(shape)
        self.true_negatives, self.false_negatives = np.zeros(shape), np.zeros(shape)
        self._built = not self.multi_label or self.num_labels is not None

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = to_array(y_true), to_array(y_pred).astype(np.float64)
        if y_true.shape != y_pred.shape and y_true.size == y_pred.size:
            y_true = y_true.reshape(y_pred.shape)  # e.g. labels (N,) for outputs (N, 1)
        if y_true.shape != y_pred.shape:
            raise ValueError(f"{self.name}: y_true shape {y_true.shape} does not match "
                             f"y_pred shape {y_pred.shape}")
        if self._from_logits:
            y_pred = 1.0 / (1.0 + np.exp(-y_pred))
        if y_pred.size and (y_pred.min() < 0 or y_pred.max() > 1):
            raise ValueError(f"{self.name}: predictions must be in [0, 1] (got min "
                             f"{y_pred.min():.4g}, max {y_pred.max():.4g}); pass "
                             "from_logits=True for logits")
        weight = np.ones_like(y_pred) if sample_weight is None else to_array(sample_weight)
        weight = self._broadcast(np.asarray(weight, np.float64), y_pred.shape)
        if not self.multi_label and self.label_weights is not None:
            weight = weight * self.label_weights  # broadcast over the last (label) axis
        positive = y_true.astype(bool)
        if self.multi_label:
            self._build(y_pred)
            labels = y_pred.shape[-1]
            positive, y_pred, weight = (a.reshape(-1, labels) for a in (positive, y_pred, weight))
            for j in range(labels):
                self._accumulate(positive[:, j], y_pred[:, j], weight[:, j], (slice(None), j))
        else:
            self._accumulate(positive.ravel(), y_pred.ravel(), weight.ravel(), slice(None))

    def _broadcast(self, weight: np.ndarray, shape: tuple) -> np.ndarray:
        while weight.ndim and weight.ndim < len(shape):
            weight = weight[..., None]  # a per-sample weight covers every label
        try:
            return np.broadcast_to(weight, shape)
        except ValueError:
            raise ValueError(f"{self.name}: sample_weight of shape {weight.shape} does not "
                             f"broadcast to y_pred shape {shape}") from None

    def _build(self, y_pred: np.ndarray) -> None:
        labels = y_pred.shape[-1]
        if not self._built:
            self.num_labels = labels
            self.reset_state()
        elif self.num_labels != labels:
            raise ValueError(f"{self.name}: y_pred has {labels} labels, but the metric was "
                             f"built for {self.num_labels}")

    def _accumulate(self, positive, pred, weight, at) -> None:
        # Thresholds strictly below each prediction: pred > t_i exactly for i < above.
        above = np.searchsorted(self.thresholds, pred, side="left")
        n = self.num_thresholds

        def counts(mask):
            per = np.bincount(above[mask], weights=weight[mask], minlength=n + 1)
            return np.cumsum(per[::-1])[::-1][1:]  # predictions above threshold i

        pos_total, neg_total = weight[positive].sum(), weight[~positive].sum()
        tp, fp = counts(positive), counts(~positive)
        self.true_positives[at] += tp
        self.false_positives[at] += fp
        self.false_negatives[at] += pos_total - tp
        self.true_negatives[at] += neg_total - fp

    def result(self) -> float:
        if self.multi_label and not self._built:
            return 0.0
        tp, fp, fn, tn = (self.true_positives, self.false_positives, self.false_negatives,
                          self.true_negatives)
        if self.curve == "PR" and self.summation_method == "interpolation":
            by_label = self._interpolate_pr_auc(tp, fp, fn)
        else:
            recall = _divide_no_nan(tp, tp + fn)
            if self.curve == "ROC":
                x, y = _divide_no_nan(fp, fp + tn), recall
            else:
                x, y = recall, _divide_no_nan(tp, tp + fp)
            if self.summation_method == "interpolation":
                heights = (y[:-1] + y[1:]) / 2
            elif self.summation_method == "minoring":
                heights = np.minimum(y[:-1], y[1:])
            else:
                heights = np.maximum(y[:-1], y[1:])
            by_label = np.sum((x[:-1] - x[1:]) * heights, axis=0)
        return self._average(by_label)

    def _interpolate_pr_auc(self, tp, fp, fn):
        """Davis & Goadrich (2006)'s interpolation, Keras's closed form."""
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        increment = _divide_no_nan(slope * (dtp + intercept * np.log(ratio)),
                                   np.maximum(tp[1:] + fn[1:], 0))
        return np.sum(increment, axis=0)

    def _average(self, by_label) -> float:
        if not self.multi_label:
            return float(by_label)
        if self.label_weights is None:
            return float(np.mean(by_label))
        total = self.label_weights.sum()
        return float(np.sum(by_label * self.label_weights) / total) if total else 0.0

    def get_config(self) -> dict[str, Any]:
        config = {
            **super().get_config(),
            "num_thresholds": self.num_thresholds, "curve": self.curve,
            "summation_method": self.summation_method, "multi_label": self.multi_label,
            "num_labels": self.num_labels, "from_logits": self._from_logits,
            "label_weights": None if self.label_weights is None else
            self.label_weights.tolist(),
        }
        if self._init_thresholds is not None:
            config["thresholds"] = self._init_thresholds
        return config
