"""pyfrozen.losses: values against Keras's formulas written in numpy and against torch,
float64 gradients against central differences, Keras's reductions and sample weights,
get / serialize round trips, the from_logits warning, and every error message."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import pyfrozen
from pyfrozen import losses
from pyfrozen.autograd import gradcheck

EPS = 1e-7

# ---------------------------------------------------------------------------------------
# Keras 3's formulas in numpy (keras/src/losses/losses.py, keras/src/backend/numpy/nn.py)
# ---------------------------------------------------------------------------------------


def log_softmax(x):
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def k_cce(y, p, from_logits=False, label_smoothing=0.0):
    y = y.astype(np.float64)
    if label_smoothing:
        y = y * (1 - label_smoothing) + label_smoothing / y.shape[-1]
    if from_logits:
        log_p = log_softmax(p)
    else:
        log_p = np.log(np.clip(p / p.sum(axis=-1, keepdims=True), EPS, 1 - EPS))
    return -(y * log_p).sum(axis=-1)


def k_scce(labels, p, from_logits=False):
    return k_cce(np.eye(p.shape[-1])[labels], p, from_logits)


def k_bce(y, p, from_logits=False, label_smoothing=0.0):
    y = y.astype(np.float64)
    if label_smoothing:
        y = y * (1 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        per = np.maximum(p, 0) - p * y + np.log1p(np.exp(-np.abs(p)))
    else:
        q = np.clip(p, EPS, 1 - EPS)
        per = -(y * np.log(q) + (1 - y) * np.log(1 - q))
    return per.mean(axis=-1)


def k_mse(y, p):
    return ((y - p) ** 2).mean(axis=-1)


def k_mae(y, p):
    return np.abs(y - p).mean(axis=-1)


def k_huber(y, p, delta=1.0):
    e = np.abs(p - y)
    return np.where(e <= delta, 0.5 * e * e, delta * e - 0.5 * delta**2).mean(axis=-1)


def k_kld(y, p):
    y, p = np.clip(y, EPS, 1), np.clip(p, EPS, 1)
    return (y * np.log(y / p)).sum(axis=-1)


def k_distill(teacher, student, t=3.0):
    q = np.exp(log_softmax(teacher / t))
    return (q * (log_softmax(teacher / t) - log_softmax(student / t))).sum(axis=-1) * t * t


def k_reduce(per, sample_weight=None, reduction="sum_over_batch_size"):
    """Keras 3's reduce_weighted_values for per-sample losses and per-sample weights."""
    if sample_weight is not None:
        per = per * sample_weight
    if reduction in (None, "none"):
        return per
    total = per.sum()
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        return total / np.broadcast_to(sample_weight, per.shape).sum()
    return total / per.size


# ---------------------------------------------------------------------------------------
# Test data: (class, kwargs, reference, y_true maker, y_pred maker)
# ---------------------------------------------------------------------------------------


def probs(rng, shape):
    x = rng.uniform(0.05, 1.0, size=shape)
    return x / x.sum(axis=-1, keepdims=True)


def one_hot(rng, shape):
    return np.eye(shape[-1])[rng.integers(0, shape[-1], size=shape[:-1])]


CASES = {
    "cce_probs": (losses.CategoricalCrossentropy, {}, k_cce, one_hot, probs),
    "cce_logits_smooth": (losses.CategoricalCrossentropy,
                          {"from_logits": True, "label_smoothing": 0.1},
                          lambda y, p: k_cce(y, p, True, 0.1), one_hot,
                          lambda rng, s: 2 * rng.standard_normal(s)),
    "cce_probs_smooth": (losses.CategoricalCrossentropy, {"label_smoothing": 0.2},
                         lambda y, p: k_cce(y, p, False, 0.2), one_hot, probs),
    "scce_probs": (losses.SparseCategoricalCrossentropy, {}, k_scce,
                   lambda rng, s: rng.integers(0, s[-1], size=s[:-1]), probs),
    "scce_logits": (losses.SparseCategoricalCrossentropy, {"from_logits": True},
                    lambda y, p: k_scce(y, p, True),
                    lambda rng, s: rng.integers(0, s[-1], size=s[:-1]),
                    lambda rng, s: 2 * rng.standard_normal(s)),
    "bce_probs": (losses.BinaryCrossentropy, {}, k_bce,
                  lambda rng, s: rng.integers(0, 2, size=s),
                  lambda rng, s: rng.uniform(0.05, 0.95, size=s)),
    "bce_logits_smooth": (losses.BinaryCrossentropy,
                          {"from_logits": True, "label_smoothing": 0.2},
                          lambda y, p: k_bce(y, p, True, 0.2),
                          lambda rng, s: rng.integers(0, 2, size=s),
                          lambda rng, s: 2 * rng.standard_normal(s)),
    "mse": (losses.MeanSquaredError, {}, k_mse,
            lambda rng, s: rng.standard_normal(s), lambda rng, s: rng.standard_normal(s)),
    "mae": (losses.MeanAbsoluteError, {}, k_mae,
            lambda rng, s: rng.standard_normal(s), lambda rng, s: rng.standard_normal(s)),
    "huber": (losses.Huber, {"delta": 0.7}, lambda y, p: k_huber(y, p, 0.7),
              lambda rng, s: rng.standard_normal(s), lambda rng, s: rng.standard_normal(s)),
    "kld": (losses.KLDivergence, {}, k_kld, probs, probs),
    "distillation": (losses.Distillation, {"temperature": 2.5},
                     lambda y, p: k_distill(y, p, 2.5),
                     lambda rng, s: 3 * rng.standard_normal(s),
                     lambda rng, s: 3 * rng.standard_normal(s)),
}

KERAS_REDUCTIONS = ["sum_over_batch_size", "mean", "sum", None, "none",
                    "mean_with_sample_weight"]


def make(case, rng, shape=(5, 4)):
    cls, kwargs, ref, make_true, make_pred = CASES[case]
    return cls, kwargs, ref, make_true(rng, shape), make_pred(rng, shape)


@pytest.mark.parametrize("reduction", KERAS_REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_values_match_keras_formulas(rng, case, reduction, weighted):
    cls, kwargs, ref, y_true, y_pred = make(case, rng)
    weight = rng.uniform(0.1, 2.0, size=5) if weighted else None
    loss = cls(reduction=reduction, **kwargs)(y_true, pyfrozen.tensor(y_pred), weight)
    expected = k_reduce(ref(y_true, y_pred), weight, reduction)
    assert loss.dtype == np.float64
    np.testing.assert_allclose(loss.data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", None])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_gradients_match_central_differences(rng, case, reduction, weighted):
    cls, kwargs, _, y_true, y_pred = make(case, rng, (3, 4))
    weight = rng.uniform(0.1, 2.0, size=3) if weighted else None
    loss = cls(reduction=reduction, **kwargs)
    x = pyfrozen.tensor(y_pred, requires_grad=True)
    assert gradcheck(lambda t: loss(y_true, t, weight), [x])


@pytest.mark.parametrize("case", sorted(CASES))
def test_float32_predictions_compute_in_float32(rng, case):
    cls, kwargs, _, y_true, y_pred = make(case, rng)
    loss = cls(**kwargs)
    x32 = pyfrozen.tensor(y_pred.astype(np.float32), requires_grad=True)
    x64 = pyfrozen.tensor(y_pred, requires_grad=True)
    v32, v64 = loss(y_true, x32), loss(y_true, x64)  # float64 labels for float32 outputs
    v32.backward()
    v64.backward()
    assert v32.dtype == x32.grad.dtype == np.float32
    np.testing.assert_allclose(v32.item(), v64.item(), rtol=2e-5)
    scale = np.abs(x64.grad.data).max()
    np.testing.assert_allclose(x32.grad.data, x64.grad.data, atol=2e-5 * scale)


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_lowercase_function_gives_the_per_sample_losses(rng, case):
    cls, kwargs, ref, y_true, y_pred = make(case, rng, (2, 3, 4))
    fn = losses.get(cls().name if case != "huber" else "huber")
    per = fn(y_true, pyfrozen.tensor(y_pred), **kwargs)
    assert per.shape == (2, 3)
    np.testing.assert_allclose(per.data, ref(y_true, y_pred), rtol=1e-12)


def test_keras_documented_numbers():
    y_true = np.array([[0, 1, 0], [0, 0, 1]])
    y_pred = np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    cce = losses.CategoricalCrossentropy()
    assert round(cce(y_true, y_pred).item(), 3) == 1.177
    assert round(cce(y_true, y_pred, sample_weight=np.array([0.3, 0.7])).item(), 3) == 0.814
    assert round(losses.CategoricalCrossentropy(reduction="sum")(y_true, y_pred).item(),
                 3) == 2.354
    none = losses.SparseCategoricalCrossentropy(reduction=None)([1, 2], y_pred)
    np.testing.assert_allclose(none.data, [0.0513, 2.303], atol=1e-3)
    bce = losses.binary_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    np.testing.assert_allclose(bce.data, [0.916, 0.714], atol=1e-3)
    assert round(losses.huber([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]).data.mean(),
                 3) == 0.155


# ---------------------------------------------------------------------------------------
# torch as a second oracle (values and gradients)
# ---------------------------------------------------------------------------------------


def _torch_cases(torch):
    F = torch.nn.functional
    return {
        "cce_logits_smooth": lambda y, p: F.cross_entropy(p, y, label_smoothing=0.1),
        "scce_logits": lambda y, p: F.cross_entropy(p, y),
        "bce_probs": lambda y, p: F.binary_cross_entropy(p, y.to(p.dtype)),
        "bce_logits_smooth": lambda y, p: F.binary_cross_entropy_with_logits(
            p, y.to(p.dtype) * 0.8 + 0.1),
        "mse": lambda y, p: F.mse_loss(p, y),
        "mae": lambda y, p: F.l1_loss(p, y),
        "huber": lambda y, p: F.huber_loss(p, y, delta=0.7),
        "kld": lambda y, p: F.kl_div(p.log(), y, reduction="sum") / y.shape[0],
        "distillation": lambda y, p: F.kl_div(
            F.log_softmax(p / 2.5, -1), F.log_softmax(y / 2.5, -1), log_target=True,
            reduction="batchmean") * 2.5**2,
    }


@pytest.mark.parametrize("case", ["cce_logits_smooth", "scce_logits", "bce_probs",
                                  "bce_logits_smooth", "mse", "mae", "huber", "kld",
                                  "distillation"])
def test_values_and_gradients_match_torch(rng, torch, case):
    cls, kwargs, _, y_true, y_pred = make(case, rng, (6, 5))
    x = pyfrozen.tensor(y_pred, requires_grad=True)
    loss = cls(**kwargs)(y_true, x)
    loss.backward()
    tx = torch.tensor(y_pred, requires_grad=True)
    expected = _torch_cases(torch)[case](torch.tensor(y_true), tx)
    expected.backward()
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-10)
    np.testing.assert_allclose(x.grad.data, tx.grad.numpy(), rtol=1e-8, atol=1e-12)


# ---------------------------------------------------------------------------------------
# Reductions, sample weights, dtypes, shapes
# ---------------------------------------------------------------------------------------


def test_the_fused_path_equals_the_weighted_path(rng):
    y, p = rng.integers(0, 4, size=8), rng.standard_normal((8, 4))
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    a, b = pyfrozen.tensor(p, requires_grad=True), pyfrozen.tensor(p, requires_grad=True)
    fused, weighted = loss(y, a), loss(y, b, sample_weight=np.ones(8))
    assert fused.grad_fn == "softmax_cross_entropy"  # one fused op, nothing else recorded
    fused.backward()
    weighted.backward()
    np.testing.assert_allclose(fused.item(), weighted.item(), rtol=1e-14)
    np.testing.assert_allclose(a.grad.data, b.grad.data, rtol=1e-14)


@pytest.mark.parametrize("weight_shape", [(), (4, 1), (4, 3), (4, 3, 1)])
def test_sample_weight_shapes_as_keras(rng, weight_shape):
    y, p = rng.standard_normal((4, 3, 2)), rng.standard_normal((4, 3, 2))
    w = rng.uniform(0.5, 1.5, size=weight_shape)
    per = k_mse(y, p)  # (4, 3)
    w_b = w[..., 0] if w.ndim == 3 else w  # Keras squeezes a trailing axis of 1
    expected = (per * w_b).sum() / per.size
    got = losses.MeanSquaredError()(y, pyfrozen.tensor(p), sample_weight=w)
    np.testing.assert_allclose(got.item(), expected, rtol=1e-12)


def test_sample_weight_that_does_not_broadcast_names_both_shapes(rng):
    with pytest.raises(ValueError, match=r"sample_weight of shape \(3,\).*\(4,\)"):
        losses.MeanSquaredError()(np.zeros((4, 2)), np.zeros((4, 2)), sample_weight=np.ones(3))
    # As Keras 3: a per-sample weight does not broadcast against losses of shape (4, 3)
    with pytest.raises(ValueError, match=r"sample_weight of shape \(4,\).*\(4, 3\)"):
        losses.MeanSquaredError()(np.zeros((4, 3, 2)), np.zeros((4, 3, 2)), np.ones(4))


def test_unknown_reduction_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"sum_over_batch_size.*Received: reduction='avg'"):
        losses.MeanSquaredError(reduction="avg")


def test_labels_are_cast_to_the_prediction_dtype(rng):
    p = pyfrozen.tensor(rng.uniform(0.1, 0.9, size=(4, 3)).astype(np.float32))
    for loss, y in [(losses.BinaryCrossentropy(), rng.integers(0, 2, size=(4, 3))),
                    (losses.CategoricalCrossentropy(), one_hot(rng, (4, 3))),
                    (losses.SparseCategoricalCrossentropy(), np.array([0, 1, 2, 0.0])),
                    (losses.MeanAbsoluteError(), np.ones((4, 3), dtype=bool))]:
        assert loss(y, p).dtype == np.float32
    as64 = losses.MeanSquaredError(dtype="float64")(np.zeros((4, 3)), p)
    assert as64.dtype == np.float64


def test_a_rank_one_target_fits_a_single_unit_output(rng):
    y, p = rng.integers(0, 2, size=6), rng.uniform(0.1, 0.9, size=(6, 1))
    got = losses.BinaryCrossentropy()(y, pyfrozen.tensor(p))
    np.testing.assert_allclose(got.item(), k_bce(y[:, None], p).mean(), rtol=1e-12)
    got = losses.MeanSquaredError()(y, pyfrozen.tensor(p))
    np.testing.assert_allclose(got.item(), k_mse(y[:, None], p).mean(), rtol=1e-12)


def test_crossentropy_axis_moves_the_class_axis(rng):
    y, p = one_hot(rng, (3, 5)), probs(rng, (3, 5))
    got = losses.CategoricalCrossentropy(axis=0, reduction=None)(y.T, pyfrozen.tensor(p.T))
    np.testing.assert_allclose(got.data, k_cce(y, p), rtol=1e-12)


def test_ignore_class_gives_zero_loss_and_is_left_out_of_the_mean(rng):
    labels, p = np.array([0, 255, 2, 1, 255]), rng.standard_normal((5, 3))
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255)
    keep = labels != 255
    per = np.where(keep, k_scce(np.where(keep, labels, 0), p, True), 0)
    np.testing.assert_allclose(loss(labels, pyfrozen.tensor(p)).item(), per.sum() / 3,
                               rtol=1e-12)
    none = losses.sparse_categorical_crossentropy(labels, p, from_logits=True, ignore_class=255)
    np.testing.assert_allclose(none.data, per, rtol=1e-12)


def test_distillation_is_zero_for_equal_logits_and_scales_with_t_squared(rng):
    t = rng.standard_normal((4, 6))
    assert abs(losses.Distillation(4.0)(t, pyfrozen.tensor(t)).item()) < 1e-12
    s = rng.standard_normal((4, 6))
    big = losses.Distillation(temperature=50.0)(t, pyfrozen.tensor(s)).item()
    # For large T, T^2 KL tends to the mean squared difference of centred logits / 2C
    c = lambda z: z - z.mean(axis=-1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(big, ((c(t) - c(s)) ** 2).sum(-1).mean() / (2 * 6), rtol=0.05)
    assert losses.Distillation(2.0).compute_loss(t, s).item() > 0


def test_a_teacher_tensor_that_requires_grad_gets_a_gradient(rng):
    teacher = pyfrozen.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    student = pyfrozen.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    assert gradcheck(lambda a, b: losses.distillation(a, b, temperature=1.5), [teacher, student])


# ---------------------------------------------------------------------------------------
# Custom losses, get, serialize
# ---------------------------------------------------------------------------------------


def test_a_subclass_only_writes_call(rng):
    class Cubed(losses.Loss):
        def call(self, y_true, y_pred):
            d = y_pred - y_true
            return pyfrozen.ops.mean(d * d * d, axis=-1)

    y, p = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    loss = Cubed(reduction="sum")
    assert loss.name == "cubed"
    np.testing.assert_allclose(loss(y, p).item(), ((p - y) ** 3).mean(-1).sum(), rtol=1e-12)
    assert gradcheck(lambda t: loss(y, t, np.arange(4.0)), [pyfrozen.tensor(p,
                                                                            requires_grad=True)])
    # y_true reaches call() in y_pred's dtype, as Keras casts it: integer labels, float64
    # labels for float32 predictions
    p32 = pyfrozen.tensor(p.astype(np.float32), requires_grad=True)
    for labels in (np.arange(12).reshape(4, 3), y):
        assert loss(labels, p32).dtype == np.float32
    with pytest.raises(NotImplementedError, match="Loss must implement call"):
        losses.Loss()(y, p)


@pytest.mark.parametrize("name, fn", [
    ("mse", losses.mean_squared_error), ("MSE", losses.mean_squared_error),
    ("mae", losses.mean_absolute_error), ("huber", losses.huber),
    ("kl_divergence", losses.kl_divergence), ("kld", losses.kl_divergence),
    ("bce", losses.binary_crossentropy), ("binary_crossentropy", losses.binary_crossentropy),
    ("categorical_crossentropy", losses.categorical_crossentropy),
    ("sparse_categorical_crossentropy", losses.sparse_categorical_crossentropy),
])
def test_get_resolves_keras_string_names_to_the_functions(name, fn):
    assert losses.get(name) is fn
    wrapped = losses.resolve(name)
    assert isinstance(wrapped, losses.LossFunctionWrapper) and wrapped.name == name


def test_get_classes_instances_callables_dicts_and_none():
    assert isinstance(losses.get("Huber"), losses.Huber)
    assert isinstance(losses.get(losses.MeanSquaredError), losses.MeanSquaredError)
    inst = losses.BinaryCrossentropy(from_logits=True)
    assert losses.get(inst) is inst
    fn = lambda y_true, y_pred: y_pred  # noqa: E731
    assert losses.get(fn) is fn
    assert losses.get(None) is None and losses.resolve(None) is None
    got = losses.get({"class_name": "CategoricalCrossentropy", "config": {"from_logits": True}})
    assert isinstance(got, losses.CategoricalCrossentropy) and got.from_logits


def test_unknown_identifier_lists_valid_names():
    with pytest.raises(ValueError, match=r"'msee'.*mean_squared_error.*sparse_categorical"):
        losses.get("msee")
    with pytest.raises(ValueError, match="Could not interpret loss identifier: 3"):
        losses.get(3)


@pytest.mark.parametrize("loss", [
    losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1, axis=-1),
    losses.SparseCategoricalCrossentropy(ignore_class=3, reduction="sum"),
    losses.BinaryCrossentropy(label_smoothing=0.2, name="bce", dtype="float64"),
    losses.MeanSquaredError(reduction=None), losses.MeanAbsoluteError(),
    losses.Huber(delta=2.5), losses.KLDivergence(), losses.Distillation(temperature=4.0),
    losses.LossFunctionWrapper(losses.huber, delta=0.3, reduction="sum"),
], ids=lambda loss: type(loss).__name__)
def test_serialize_round_trips(rng, loss):
    config = losses.serialize(loss)
    assert config["class_name"] == type(loss).__name__
    back = losses.deserialize(config)
    assert type(back) is type(loss) and back.get_config() == loss.get_config()
    assert type(loss).from_config(loss.get_config()).get_config() == loss.get_config()
    y, p = probs(rng, (3, 4)), probs(rng, (3, 4))
    if isinstance(loss, losses.SparseCategoricalCrossentropy):
        y = np.array([0, 3, 1])
    np.testing.assert_array_equal(back(y, p).data, loss(y, p).data)


def test_functions_serialize_by_name_and_custom_objects_resolve():
    assert losses.deserialize(losses.serialize(losses.mean_squared_error)) is \
        losses.mean_squared_error

    def my_loss(y_true, y_pred):
        return y_pred

    wrapper = losses.LossFunctionWrapper(my_loss)
    config = losses.serialize(wrapper)
    back = losses.deserialize(config, custom_objects={"my_loss": my_loss})
    assert back.fn is my_loss and back.name == "my_loss"


def test_resolve_picks_the_crossentropy_from_the_shapes():
    assert losses.resolve("crossentropy", (8,), (8, 10)).fn is \
        losses.sparse_categorical_crossentropy
    assert losses.resolve("ce", (8, 10), (8, 10)).fn is losses.categorical_crossentropy
    assert losses.resolve("ce", np.zeros((8, 1)), np.zeros((8, 1))).fn is \
        losses.binary_crossentropy
    with pytest.raises(ValueError, match="needs the shapes"):
        losses.resolve("ce")
    inst = losses.Huber()
    assert losses.resolve(inst) is inst


# ---------------------------------------------------------------------------------------
# Errors and warnings
# ---------------------------------------------------------------------------------------


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"y_true shape \(4, 3\) does not match y_pred shape "
                                         r"\(4, 2\)"):
        losses.MeanSquaredError()(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"\(4,\) does not match y_pred shape \(4, 3\).*sparse"):
        losses.CategoricalCrossentropy()(np.zeros(4), np.full((4, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"y_true shape \(5,\) does not match y_pred shape "
                                         r"\(4, 3\)"):
        losses.SparseCategoricalCrossentropy()(np.zeros(5, dtype=int), np.full((4, 3), 1 / 3))


@pytest.mark.parametrize("from_logits", [False, True])
def test_labels_out_of_range_name_the_range(from_logits):
    p = np.full((4, 3), 1 / 3)
    with pytest.raises(ValueError, match=r"label 3 at index \(2,\).*range \[0, 3\)"):
        losses.SparseCategoricalCrossentropy(from_logits=from_logits)([0, 1, 3, 2], p)
    with pytest.raises(ValueError, match=r"label -1 at index \(0,\).*range \[0, 3\)"):
        losses.sparse_categorical_crossentropy([-1, 1, 0, 2], p, from_logits=from_logits)


def test_non_integer_float_labels_are_refused():
    with pytest.raises(ValueError, match="integer class indices.*non-integer"):
        losses.SparseCategoricalCrossentropy()([0.5, 1.0], np.full((2, 3), 1 / 3))


def test_bad_arguments():
    with pytest.raises(ValueError, match="temperature must be positive"):
        losses.Distillation(temperature=0)
    with pytest.raises(ValueError, match="`axis` must be of type `int`"):
        losses.CategoricalCrossentropy(axis=True)(np.eye(2), np.eye(2))
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        losses.MeanSquaredError(dtype="int32")
    with pytest.raises(TypeError, match="fn must be callable"):
        losses.LossFunctionWrapper(3)


def test_logits_with_from_logits_false_warn_once_per_loss(rng):
    logits = 3 * rng.standard_normal((4, 3))
    loss = losses.SparseCategoricalCrossentropy()
    with pytest.warns(losses.FromLogitsWarning, match=r"outside \[0, 1\].*from_logits=True"):
        loss([0, 1, 2, 0], logits)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss([0, 1, 2, 0], logits)  # once only
        losses.CategoricalCrossentropy()(one_hot(rng, (4, 3)), probs(rng, (4, 3)))
        sig = rng.uniform(0, 1, size=(4, 3))  # multi-label sigmoid rows: not called logits
        losses.BinaryCrossentropy()(rng.integers(0, 2, size=(4, 3)), sig)
    with pytest.warns(losses.FromLogitsWarning, match="sigmoid activation"):
        losses.BinaryCrossentropy()(np.zeros((4, 3)), logits)


def test_the_loss_compile_resolves_warns_once_too(rng):
    loss = losses.resolve("sparse_categorical_crossentropy")  # a LossFunctionWrapper
    logits = 3 * rng.standard_normal((4, 3))
    with pytest.warns(losses.FromLogitsWarning, match="sparse_categorical_crossentropy"):
        loss([0, 1, 2, 0], logits)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss([0, 1, 2, 0], logits)


def test_probabilities_from_a_softmax_with_from_logits_true_warn(rng):
    x = pyfrozen.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    p = pyfrozen.ops.softmax(x)
    with pytest.warns(losses.FromLogitsWarning, match="produced by a softmax"):
        losses.SparseCategoricalCrossentropy(from_logits=True)([0, 1, 2, 0], p)


def test_bare_functions_warn_once_per_process(rng, monkeypatch):
    from pyfrozen.losses import _util

    monkeypatch.setattr(_util, "_FUNCTION_WARNED", set())
    logits = 3 * rng.standard_normal((4, 3))
    with pytest.warns(losses.FromLogitsWarning):
        losses.categorical_crossentropy(one_hot(rng, (4, 3)), logits)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        losses.categorical_crossentropy(one_hot(rng, (4, 3)), logits)
