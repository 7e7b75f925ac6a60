"""pyfrozen.metrics: Keras's documented numbers, numpy formulas, state across batches,
AUC against exact and numerically integrated curves, get / resolve / serialize, and
every error message."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import losses, metrics

# ---------------------------------------------------------------------------------------
# Keras 3's documented examples (keras/src/metrics/*.py docstrings)
# ---------------------------------------------------------------------------------------

DOCUMENTED = [
    (metrics.Accuracy, {}, [[1], [2], [3], [4]], [[0], [2], [3], [4]], [1, 1, 0, 0], 0.75, 0.5),
    (metrics.BinaryAccuracy, {}, [[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]],
     [1, 0, 0, 1], 0.75, 0.5),
    (metrics.CategoricalAccuracy, {}, [[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8],
                                                                [0.05, 0.95, 0]],
     [0.7, 0.3], 0.5, 0.3),
    (metrics.SparseCategoricalAccuracy, {}, [[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]],
     [0.7, 0.3], 0.5, 0.3),
    (metrics.TopKCategoricalAccuracy, {"k": 1}, [[0, 0, 1], [0, 1, 0]],
     [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], [0.7, 0.3], 0.5, 0.3),
    (metrics.SparseTopKCategoricalAccuracy, {"k": 1}, [2, 1],
     [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], [0.7, 0.3], 0.5, 0.3),
]


@pytest.mark.parametrize("cls, kwargs, y_true, y_pred, weight, plain, weighted", DOCUMENTED,
                         ids=lambda v: v.__name__ if isinstance(v, type) else None)
def test_keras_documented_numbers(cls, kwargs, y_true, y_pred, weight, plain, weighted):
    m = cls(**kwargs)
    m.update_state(y_true, y_pred)
    assert m.result() == pytest.approx(plain, abs=1e-7)
    m.reset_state()
    m.update_state(y_true, y_pred, sample_weight=weight)
    assert m.result() == pytest.approx(weighted, abs=1e-7)
    assert isinstance(m.result(), float)


def test_mean_and_sum_as_keras():
    mean, total = metrics.Mean(), metrics.Sum()
    mean.update_state([1, 3, 5, 7])
    total.update_state([1, 3, 5, 7])
    assert (mean.result(), total.result()) == (4.0, 16.0)
    mean.reset_state()
    total.reset_state()
    mean.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    total.update_state([1, 3, 5, 7], sample_weight=[1, 1, 0, 0])
    assert (mean.result(), total.result()) == (2.0, 4.0)
    mean.reset_state()
    assert mean.result() == 0.0  # divide_no_nan
    mean.update_state(np.array(3.0))
    mean.update_state(5.0)
    assert mean.result() == 4.0


def test_mean_reduces_values_to_one_per_sample_as_keras(rng):
    values, weight = rng.standard_normal((4, 3)), rng.uniform(0.5, 2.0, size=4)
    m = metrics.Mean()
    m.update_state(values, sample_weight=weight)
    expected = (values.mean(axis=1) * weight).sum() / weight.sum()
    assert m.result() == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\).*\(4,\)"):
        metrics.Mean().update_state(np.ones(4), sample_weight=np.ones(3))


# ---------------------------------------------------------------------------------------
# Numpy formulas, batches, Tensors
# ---------------------------------------------------------------------------------------


def test_state_accumulates_across_batches(rng):
    labels, scores = rng.integers(0, 5, size=40), rng.standard_normal((40, 5))
    weight = rng.uniform(0, 1, size=40)
    m = metrics.SparseCategoricalAccuracy()
    for i in range(0, 40, 16):
        m.update_state(labels[i:i + 16], scores[i:i + 16], weight[i:i + 16])
    hits = labels == scores.argmax(axis=1)
    assert m.result() == pytest.approx((hits * weight).sum() / weight.sum(), rel=1e-12)
    one_hot = np.eye(5)[labels]
    c = metrics.CategoricalAccuracy()
    c.update_state(pyfrozen.tensor(one_hot), pyfrozen.tensor(scores))  # Tensors are read
    assert c.result() == pytest.approx(hits.mean(), rel=1e-12)


def test_binary_accuracy_threshold_is_strict(rng):
    m = metrics.BinaryAccuracy(threshold=0.7)
    m.update_state([0, 0, 1, 1], [0.7, 0.7, 0.71, 0.2])  # 0.7 is not above 0.7
    assert m.result() == 0.75
    with pytest.raises(ValueError, match=r"interval \(0, 1\). Received: threshold=1"):
        metrics.BinaryAccuracy(threshold=1)


def test_top_k_counts_ties_at_the_kth_value_as_hits():
    scores = np.array([[0.5, 0.2, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4]])
    m = metrics.SparseTopKCategoricalAccuracy(k=2)
    m.update_state([2, 0], scores)  # class 2 ties class 1 for second place: a hit
    assert m.result() == 0.5
    top = metrics.TopKCategoricalAccuracy(k=3)
    top.update_state(np.eye(4)[[1, 0]], scores)
    assert top.result() == 0.5


def test_regression_metrics_match_numpy(rng):
    y, p = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    w = rng.uniform(0.1, 1, size=6)
    mse, mae = metrics.MeanSquaredError(), metrics.MeanAbsoluteError()
    mse.update_state(y, p, w)
    mae.update_state(y, pyfrozen.tensor(p), w)
    assert mse.result() == pytest.approx((((y - p) ** 2).mean(1) * w).sum() / w.sum())
    assert mae.result() == pytest.approx((np.abs(y - p).mean(1) * w).sum() / w.sum())


def test_a_wrapped_loss_function_is_a_metric(rng):
    y, p = rng.integers(0, 3, size=5), rng.uniform(0.1, 1, size=(5, 3))
    p /= p.sum(axis=1, keepdims=True)
    m = metrics.MeanMetricWrapper(losses.sparse_categorical_crossentropy)
    m.update_state(y, p)
    expected = -np.log(p[np.arange(5), y]).mean()
    assert m.name == "sparse_categorical_crossentropy"
    assert m.result() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("cls, fn, kwargs", [
    (metrics.SparseCategoricalCrossentropy, losses.sparse_categorical_crossentropy,
     {"from_logits": True}),
    (metrics.CategoricalCrossentropy, losses.categorical_crossentropy,
     {"label_smoothing": 0.1}),
    (metrics.BinaryCrossentropy, losses.binary_crossentropy, {}),
    (metrics.KLDivergence, losses.kl_divergence, {}),
])
def test_crossentropy_metrics_are_the_weighted_mean_of_the_loss(rng, cls, fn, kwargs):
    p = rng.uniform(0.1, 1, size=(6, 3))
    p /= p.sum(axis=1, keepdims=True)
    y = rng.integers(0, 3, size=6) if cls is metrics.SparseCategoricalCrossentropy else \
        np.eye(3)[rng.integers(0, 3, size=6)]
    w = rng.uniform(0.1, 1, size=6)
    x = pyfrozen.tensor(p, requires_grad=True)
    m = cls(**kwargs)
    m.update_state(y, x, w)
    per = fn(y, p, **kwargs).data
    assert m.result() == pytest.approx((per * w).sum() / w.sum(), rel=1e-12)
    assert metrics.get(m.name).name == m.name
    assert x.grad is None and m.get_config()["name"] == m.name


# ---------------------------------------------------------------------------------------
# AUC
# ---------------------------------------------------------------------------------------


def exact_roc_auc(labels, scores, weight):
    """P(score of a positive > score of a negative) + P(tie) / 2, weighted."""
    pos, neg = labels == 1, labels == 0
    sp, sn = scores[pos][:, None], scores[neg][None, :]
    pair = weight[pos][:, None] * weight[neg][None, :]
    wins = (sp > sn) + 0.5 * (sp == sn)
    return (pair * wins).sum() / pair.sum()


def test_auc_documented_example():
    m = metrics.AUC(num_thresholds=3)
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    np.testing.assert_array_equal(m.true_positives, [2, 1, 0])
    np.testing.assert_array_equal(m.false_positives, [2, 0, 0])
    assert m.result() == pytest.approx(0.75)
    m.reset_state()
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9], sample_weight=[1, 0, 0, 1])
    assert m.result() == pytest.approx(1.0)


def test_roc_auc_equals_the_exact_area_when_scores_sit_between_thresholds(rng):
    # 11 thresholds at multiples of 0.1: scores at odd multiples of 0.05 never tie one,
    # so the bucketed curve passes through every point of the exact ROC curve.
    labels = rng.integers(0, 2, size=300)
    grid = np.minimum(rng.integers(0, 10, size=300) + labels, 9)  # equal grid, equal floats
    scores = (2 * grid + 1) / 20
    weight = rng.uniform(0.2, 2.0, size=300)
    m = metrics.AUC(num_thresholds=11)
    for i in range(0, 300, 64):
        m.update_state(labels[i:i + 64], pyfrozen.tensor(scores[i:i + 64]), weight[i:i + 64])
    assert m.result() == pytest.approx(exact_roc_auc(labels, scores, weight), rel=1e-12)


def integrated_pr_auc(tp, fp, positives, steps=20000):
    """Davis & Goadrich's curve: TP and FP linear between thresholds, integrated numerically."""
    total = 0.0
    s = (np.arange(steps) + 0.5) / steps
    for a in range(len(tp) - 1):
        t = tp[a] + s * (tp[a + 1] - tp[a])
        f = fp[a] + s * (fp[a + 1] - fp[a])
        precision = np.divide(t, t + f, out=np.zeros_like(t), where=t + f > 0)
        total += (precision * (tp[a] - tp[a + 1]) / steps).sum() / positives
    return total


def test_pr_auc_interpolation_is_davis_goadrich(rng):
    labels = rng.integers(0, 2, size=200)
    scores = np.clip(rng.uniform(0, 1, size=200) * 0.6 + 0.4 * labels, 0, 1)
    m = metrics.AUC(num_thresholds=9, curve="PR")
    m.update_state(labels, scores)
    expected = integrated_pr_auc(m.true_positives, m.false_positives, labels.sum())
    assert m.result() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("curve, method", [("ROC", "interpolation"), ("ROC", "minoring"),
                                           ("ROC", "majoring"), ("PR", "interpolation"),
                                           ("PR", "majoring")])
def test_perfect_separation_scores_one(curve, method):
    # (PR with minoring scores less, in Keras too: precision at the last threshold is 0)
    m = metrics.AUC(curve=curve, summation_method=method)
    m.update_state([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert m.result() == pytest.approx(1.0)


def test_multi_label_averages_the_per_label_areas(rng):
    labels = rng.integers(0, 2, size=(120, 3))
    scores = (2 * rng.integers(0, 9, size=(120, 3)) + 2 * labels + 1) / 20
    per = [exact_roc_auc(labels[:, j], scores[:, j], np.ones(120)) for j in range(3)]
    m = metrics.AUC(num_thresholds=11, multi_label=True)
    m.update_state(labels, scores)
    assert m.result() == pytest.approx(np.mean(per), rel=1e-12)
    w = metrics.AUC(num_thresholds=11, multi_label=True, label_weights=[1, 0, 3])
    w.update_state(labels, scores)
    assert w.result() == pytest.approx((per[0] + 3 * per[2]) / 4, rel=1e-12)
    with pytest.raises(ValueError, match="built for 3"):
        m.update_state(labels[:, :2], scores[:, :2])


def test_auc_from_logits_and_errors(rng):
    logits = rng.standard_normal(50)
    labels = (logits + rng.standard_normal(50) > 0).astype(int)
    a, b = metrics.AUC(from_logits=True), metrics.AUC()
    a.update_state(labels, logits)
    b.update_state(labels, 1 / (1 + np.exp(-logits)))
    assert a.result() == b.result()
    with pytest.raises(ValueError, match=r"predictions must be in \[0, 1\].*from_logits=True"):
        metrics.AUC().update_state(labels, logits)
    with pytest.raises(ValueError, match="Invalid curve"):
        metrics.AUC(curve="XY")
    with pytest.raises(ValueError, match=r"y_true shape \(3,\) does not match y_pred shape"):
        metrics.AUC().update_state([0, 1, 1], [[0.1, 0.2], [0.3, 0.4]])


# ---------------------------------------------------------------------------------------
# get, resolve_accuracy, resolve, serialize
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, cls, metric_name", [
    ("accuracy", metrics.Accuracy, "accuracy"), ("acc", metrics.Accuracy, "acc"),
    ("Accuracy", metrics.Accuracy, "accuracy"),
    ("sparse_categorical_accuracy", metrics.SparseCategoricalAccuracy,
     "sparse_categorical_accuracy"),
    ("top_k_categorical_accuracy", metrics.TopKCategoricalAccuracy,
     "top_k_categorical_accuracy"),
    ("mse", metrics.MeanSquaredError, "mean_squared_error"),
    ("mae", metrics.MeanAbsoluteError, "mean_absolute_error"),
    ("auc", metrics.AUC, "auc"), ("AUC", metrics.AUC, "auc"), ("mean", metrics.Mean, "mean"),
])
def test_get_resolves_keras_names(name, cls, metric_name):
    m = metrics.get(name)
    assert type(m) is cls and m.name == metric_name


def test_get_other_identifiers():
    inst = metrics.AUC()
    assert metrics.get(inst) is inst and metrics.get(None) is None
    assert isinstance(metrics.get(metrics.BinaryAccuracy), metrics.BinaryAccuracy)
    assert metrics.get(metrics.binary_accuracy) is metrics.binary_accuracy
    got = metrics.get({"class_name": "BinaryAccuracy", "config": {"threshold": 0.3}})
    assert got.threshold == 0.3
    with pytest.raises(ValueError, match=r"'accuracyy'.*binary_accuracy.*top_k"):
        metrics.get("accuracyy")


@pytest.mark.parametrize("loss, output, y_true, expected", [
    ("sparse_categorical_crossentropy", (None, 10), None, metrics.SparseCategoricalAccuracy),
    (losses.SparseCategoricalCrossentropy(from_logits=True), (None, 10), None,
     metrics.SparseCategoricalAccuracy),
    (losses.resolve("sparse_categorical_crossentropy"), (None, 10), None,
     metrics.SparseCategoricalAccuracy),
    (losses.CategoricalCrossentropy(), (None, 10), None, metrics.CategoricalAccuracy),
    ("binary_crossentropy", (None, 3), None, metrics.BinaryAccuracy),
    ("mse", (None, 1), None, metrics.BinaryAccuracy),
    ("categorical_crossentropy", (32, 10), (32,), metrics.SparseCategoricalAccuracy),
    ("sparse_categorical_crossentropy", (32, 10), (32, 10), metrics.CategoricalAccuracy),
    (None, (32, 10), (32, 1), metrics.SparseCategoricalAccuracy),
    (None, (32, 1), (32, 1), metrics.BinaryAccuracy),
])
def test_resolve_accuracy_follows_keras(loss, output, y_true, expected):
    m = metrics.resolve_accuracy(loss, output, y_true, name="acc")
    assert type(m) is expected and m.name == "acc"


def test_resolve_names_the_metric_after_the_string(rng):
    acc = metrics.resolve("accuracy", np.zeros(4), np.zeros((4, 3)))
    assert type(acc) is metrics.SparseCategoricalAccuracy and acc.name == "accuracy"
    mse = metrics.resolve("mse")
    assert type(mse) is metrics.MeanSquaredError and mse.name == "mse"
    fn = metrics.resolve(losses.mean_absolute_error)
    assert isinstance(fn, metrics.MeanMetricWrapper) and fn.name == "mean_absolute_error"
    with pytest.raises(ValueError, match="needs the shapes"):
        metrics.resolve("acc")


@pytest.mark.parametrize("metric", [
    metrics.Accuracy(name="acc"), metrics.BinaryAccuracy(threshold=0.3),
    metrics.CategoricalAccuracy(), metrics.SparseCategoricalAccuracy(),
    metrics.TopKCategoricalAccuracy(k=2), metrics.SparseTopKCategoricalAccuracy(k=3),
    metrics.MeanSquaredError(), metrics.MeanAbsoluteError(), metrics.Mean(name="m"),
    metrics.Sum(), metrics.AUC(curve="PR", num_thresholds=50, multi_label=True),
    metrics.AUC(thresholds=[0.25, 0.5, 0.75]),
    metrics.MeanMetricWrapper(losses.huber, delta=0.5),
], ids=lambda m: type(m).__name__)
def test_serialize_round_trips(metric):
    back = metrics.deserialize(metrics.serialize(metric))
    assert type(back) is type(metric) and back.get_config() == metric.get_config()


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"y_true shape \(4,\) does not match y_pred shape "
                                         r"\(4, 3\).*sparse_categorical_accuracy"):
        metrics.CategoricalAccuracy().update_state(np.zeros(4), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"y_true shape \(5,\) does not match y_pred shape "
                                         r"\(4, 3\)"):
        metrics.SparseCategoricalAccuracy().update_state(np.zeros(5), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"y_true shape \(4, 2\) does not match y_pred"):
        metrics.MeanSquaredError().update_state(np.zeros((4, 2)), np.zeros((4, 3)))


def test_top_k_label_out_of_range_names_the_range():
    with pytest.raises(ValueError, match=r"label 7 is outside the valid range \[0, 3\)"):
        metrics.SparseTopKCategoricalAccuracy(k=1).update_state([0, 7], np.zeros((2, 3)))
