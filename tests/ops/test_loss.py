"""Loss ops: float64 gradients against central differences (every input frozen in
turn), torch oracles, Keras's documented numbers, the three reductions, what is saved
for backward, and every argument check."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import ops
from pyfrozen.autograd import trace
from pyfrozen.testing import check_op

REDUCTIONS = ["mean", "sum", "none"]


def keras_reduce(per_sample, reduction):
    """Keras's reduction of per-sample losses (mean over samples = sum_over_batch_size)."""
    if reduction == "none":
        return per_sample
    return per_sample.sum() if reduction == "sum" else per_sample.mean()


def core_work(tr, kernel, pass_):
    """Work the core counted (records of backward passes done in numpy have work 0)."""
    return sum(r.work for r in tr.ran(kernel=kernel, pass_=pass_))


# ---- softmax cross-entropy: integer labels ----------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4), (1, 1)])
def test_sparse_cross_entropy_gradients_and_torch(rng, torch, shape, reduction):
    logits = 2 * rng.standard_normal(shape)
    labels = rng.integers(0, shape[-1], size=shape[:-1])

    def fn(x, lab):
        return ops.softmax_cross_entropy(x, lab, reduction=reduction)

    def torch_fn(x, lab):
        k = x.shape[-1]
        per = torch.nn.functional.cross_entropy(
            x.reshape(-1, k), lab.reshape(-1), reduction="none"
        ).reshape(x.shape[:-1])
        return keras_reduce(per, reduction)

    report = check_op(fn, logits, labels, torch_fn=torch_fn)
    # Saved for backward: the logits' gradient only (no logits, no log-softmax).
    full = report.traces[()]
    assert full.saved_bytes == logits.nbytes
    assert full.ran(kernel="softmax_cross_entropy", pass_="backward_input")
    if reduction != "none":
        assert not full.ran(kernel="log_softmax")


def test_sparse_cross_entropy_float32_output_and_labels_with_trailing_axis(rng):
    x = pyfrozen.tensor(rng.standard_normal((6, 3)), dtype=np.float32, requires_grad=True)
    labels = rng.integers(0, 3, size=(6, 1)).astype(np.int32)  # Keras accepts (N, 1)
    loss = ops.softmax_cross_entropy(x, labels)
    assert loss.shape == () and loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32
    flat = ops.softmax_cross_entropy(x.detach(), pyfrozen.tensor(labels[:, 0]))
    assert flat.item() == loss.item()


def test_sparse_cross_entropy_frozen_logits_record_and_save_nothing(rng):
    x = pyfrozen.Parameter(rng.standard_normal((5, 4)), trainable=False)
    with trace() as tr:
        loss = ops.softmax_cross_entropy(x, rng.integers(0, 4, size=5))
    assert not loss.requires_grad and tr.nodes == 0 and tr.saved_bytes == 0
    assert not tr.ran(pass_="backward_input")  # no gradient computed in the forward pass


def test_cross_entropy_large_logits_stay_finite():
    x = pyfrozen.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype=np.float32,
                        requires_grad=True)
    loss = ops.softmax_cross_entropy(x, np.array([1, 0]))
    loss.backward()
    assert np.isfinite(loss.item()) and loss.item() == pytest.approx(2e4 + np.log(2) / 2, rel=1e-6)
    assert np.all(np.isfinite(x.grad.data))


# ---- softmax cross-entropy: probability labels -------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_probability_cross_entropy_gradients_of_both_inputs_and_torch(rng, torch, reduction):
    logits = 2 * rng.standard_normal((4, 5))
    probs = rng.dirichlet(np.ones(5), size=4)

    def fn(x, t):
        return ops.softmax_cross_entropy(x, t, reduction=reduction)

    def torch_fn(x, t):
        per = torch.nn.functional.cross_entropy(x, t, reduction="none")
        return keras_reduce(per, reduction)

    report = check_op(fn, logits, probs, torch_fn=torch_fn)
    # Labels frozen: only the logits' gradient is kept; logits frozen: only the labels'.
    assert report.traces[(1,)].saved_bytes == logits.nbytes
    assert report.traces[(0,)].saved_bytes == probs.nbytes
    assert core_work(report.traces[(0,)], "softmax_cross_entropy", "backward_input") == 0
    assert report.traces[()].saved_bytes == 2 * logits.nbytes


def test_probability_cross_entropy_zero_targets_and_unnormalised_rows(rng, torch):
    logits = rng.standard_normal((3, 4))
    targets = np.array([[0, 1, 0, 0], [0.2, 0, 0.3, 0], [0.5, 0.5, 0.5, 0.5]])
    check_op(lambda x, t: ops.softmax_cross_entropy(x, t), logits, targets,
             torch_fn=lambda x, t: torch.nn.functional.cross_entropy(x, t))


# ---- softmax cross-entropy on probabilities (from_logits=False) ---------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("sparse", [True, False], ids=["int_labels", "prob_labels"])
def test_cross_entropy_from_probabilities(rng, torch, reduction, sparse):
    p = rng.uniform(0.2, 1.0, size=(4, 3))  # rows are normalised by the op (as Keras)
    labels = rng.integers(0, 3, size=4) if sparse else rng.dirichlet(np.ones(3), size=4)

    def fn(x, t):
        return ops.softmax_cross_entropy(x, t, from_logits=False, reduction=reduction)

    def torch_fn(x, t):
        log_q = torch.log(x / x.sum(-1, keepdim=True))
        if sparse:
            t = torch.nn.functional.one_hot(t, 3).to(x.dtype)
        return keras_reduce(-(t * log_q).sum(-1), reduction)

    check_op(fn, p, labels, torch_fn=torch_fn)


def test_cross_entropy_from_probabilities_clip_passes_no_gradient():
    p = pyfrozen.tensor([[1.0, 0.0, 0.0]], dtype=np.float64, requires_grad=True)
    loss = ops.softmax_cross_entropy(p, np.array([1]), from_logits=False)
    assert loss.item() == pytest.approx(-np.log(1e-7))  # log of the clipped 0, finite
    loss.backward()
    np.testing.assert_array_equal(p.grad.data, 0)  # every probability is clipped


def test_cross_entropy_keras_documented_numbers():
    # keras.losses.CategoricalCrossentropy / SparseCategoricalCrossentropy docstrings.
    y_pred = pyfrozen.tensor([[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    one_hot = np.array([[0, 1, 0], [0, 0, 1]], np.float32)
    for labels in (one_hot, np.array([1, 2])):
        def loss(r, labels=labels):
            return ops.softmax_cross_entropy(y_pred, labels, from_logits=False, reduction=r)
        assert loss("mean").item() == pytest.approx(1.177, abs=1e-3)
        assert loss("sum_over_batch_size").item() == pytest.approx(1.177, abs=1e-3)
        assert loss("sum").item() == pytest.approx(2.354, abs=1e-3)
        np.testing.assert_allclose(loss(None).data, [0.0513, 2.3026], atol=1e-4)


# ---- binary cross-entropy ------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(3, 4), (2, 2, 3), (5,)])
def test_binary_cross_entropy_probabilities(rng, torch, reduction, shape):
    pred = rng.uniform(0.05, 0.95, size=shape)
    target = rng.uniform(0, 1, size=shape)

    def fn(p, t):
        return ops.binary_cross_entropy(p, t, reduction=reduction)

    def torch_fn(p, t):
        per = torch.nn.functional.binary_cross_entropy(p, t, reduction="none").mean(-1)
        return keras_reduce(per, reduction)

    report = check_op(fn, pred, target, torch_fn=torch_fn)
    assert report.traces[(1,)].saved_bytes == pred.nbytes  # the pred gradient only
    assert report.traces[(0,)].saved_bytes == pred.nbytes  # the target gradient only
    assert core_work(report.traces[(0,)], "binary_cross_entropy", "backward_input") == 0


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_logits(rng, torch, reduction):
    pred = 3 * rng.standard_normal((4, 3))
    target = rng.uniform(0, 1, size=(4, 3))

    def fn(p, t):
        return ops.binary_cross_entropy(p, t, from_logits=True, reduction=reduction)

    def torch_fn(p, t):
        per = torch.nn.functional.binary_cross_entropy_with_logits(p, t, reduction="none")
        return keras_reduce(per.mean(-1), reduction)

    check_op(fn, pred, target, torch_fn=torch_fn)


def test_binary_cross_entropy_clip_as_keras():
    pred = pyfrozen.tensor([[0.0, 1.0, 0.5]], dtype=np.float64, requires_grad=True)
    target = pyfrozen.tensor([[1.0, 0.0, 1.0]], dtype=np.float64, requires_grad=True)
    loss = ops.binary_cross_entropy(pred, target)
    want = -(2 * np.log(1e-7) + np.log(0.5)) / 3
    assert loss.item() == pytest.approx(want, rel=1e-9)  # 1 - (1 - 1e-7) rounds
    loss.backward()
    np.testing.assert_array_equal(pred.grad.data[0, :2], 0)  # the clip is active there
    # The target gradient uses the clipped probabilities: log((1 - p) / p) / 3.
    np.testing.assert_allclose(target.grad.data[0, :2],
                               [np.log((1 - 1e-7) / 1e-7) / 3, np.log(1e-7 / (1 - 1e-7)) / 3])


def test_binary_cross_entropy_keras_documented_numbers():
    # keras.losses.BinaryCrossentropy docstring examples.
    y_pred = pyfrozen.tensor([[0.6, 0.4], [0.4, 0.6]])
    y_true = [[0, 1], [0, 0]]
    assert ops.binary_cross_entropy(y_pred, y_true).item() == pytest.approx(0.815, abs=1e-3)
    assert ops.binary_cross_entropy(y_pred, y_true, reduction="sum").item() == pytest.approx(
        1.630, abs=1e-3)
    none = ops.binary_cross_entropy(y_pred, y_true, reduction="none")
    np.testing.assert_allclose(none.data, [0.916, 0.714], atol=1e-3)
    logits = pyfrozen.tensor([-18.6, 0.51, 2.94, -12.8])
    got = ops.binary_cross_entropy(logits, [0, 1, 0, 0], from_logits=True).item()
    assert got == pytest.approx(0.865, abs=1e-3)


def test_binary_cross_entropy_integer_and_boolean_targets_take_pred_dtype(rng):
    pred = pyfrozen.tensor(rng.uniform(0.1, 0.9, (4, 2)), dtype=np.float32, requires_grad=True)
    t = rng.integers(0, 2, size=(4, 2))
    a = ops.binary_cross_entropy(pred, t)
    b = ops.binary_cross_entropy(pred, t.astype(bool))
    c = ops.binary_cross_entropy(pred, t.astype(np.float32))
    assert a.dtype == np.float32 and a.item() == b.item() == c.item()


# ---- mean squared error ----------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 2), (6,)])
def test_mean_squared_error(rng, torch, reduction, shape):
    pred = rng.standard_normal(shape)
    target = rng.standard_normal(shape)

    def fn(p, t):
        return ops.mean_squared_error(p, t, reduction=reduction)

    def torch_fn(p, t):
        per = torch.nn.functional.mse_loss(p, t, reduction="none").mean(-1)
        return keras_reduce(per, reduction)

    report = check_op(fn, pred, target, torch_fn=torch_fn)
    # One array serves both gradients (the target's is its negation).
    assert report.traces[()].saved_bytes == pred.nbytes
    assert report.traces[(1,)].saved_bytes == pred.nbytes


def test_mean_squared_error_matches_torch_mean(rng, torch):
    p, t = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    want = torch.nn.functional.mse_loss(torch.tensor(p), torch.tensor(t)).item()
    assert ops.mean_squared_error(pyfrozen.tensor(p), t).item() == pytest.approx(want, rel=1e-14)


def test_mean_squared_error_keras_documented_numbers():
    y_pred = pyfrozen.tensor([[1.0, 1.0], [1.0, 0.0]])
    y_true = [[0.0, 1.0], [0.0, 0.0]]
    assert ops.mean_squared_error(y_pred, y_true).item() == pytest.approx(0.5)
    assert ops.mean_squared_error(y_pred, y_true, reduction="sum").item() == pytest.approx(1.0)
    np.testing.assert_allclose(ops.mean_squared_error(y_pred, y_true, reduction="none").data,
                               [0.5, 0.5])


# ---- reductions agree with each other ---------------------------------------------------


@pytest.mark.parametrize("name", ["sparse_ce", "prob_ce", "bce", "bce_logits", "mse"])
def test_reductions_are_consistent(rng, name):
    x = rng.uniform(0.1, 0.9, size=(6, 4))
    if name == "sparse_ce":
        t = rng.integers(0, 4, size=6)
    elif name == "prob_ce":
        t = rng.dirichlet(np.ones(4), size=6)
    else:
        t = rng.uniform(0, 1, size=(6, 4))
    fns = {
        "sparse_ce": ops.softmax_cross_entropy, "prob_ce": ops.softmax_cross_entropy,
        "bce": ops.binary_cross_entropy, "mse": ops.mean_squared_error,
        "bce_logits": lambda p, t, **k: ops.binary_cross_entropy(p, t, from_logits=True, **k),
    }
    grads = {}
    values = {}
    for r in REDUCTIONS:
        xt = pyfrozen.tensor(x, dtype=np.float64, requires_grad=True)
        out = fns[name](xt, t, reduction=r)
        values[r] = out.data
        out.backward(np.ones_like(out.data))
        grads[r] = xt.grad.data
    assert values["none"].shape == (6,)
    assert values["mean"] == pytest.approx(values["none"].mean(), rel=1e-13)
    assert values["sum"] == pytest.approx(values["none"].sum(), rel=1e-13)
    np.testing.assert_allclose(grads["sum"], grads["none"], rtol=1e-13)
    np.testing.assert_allclose(grads["sum"], 6 * grads["mean"], rtol=1e-13)


def test_none_reduction_with_a_per_sample_cotangent(rng):
    x = pyfrozen.tensor(rng.standard_normal((3, 2)), dtype=np.float64, requires_grad=True)
    t = rng.standard_normal((3, 2))
    w = np.array([1.0, 0.0, -2.0])
    ops.mean_squared_error(x, t, reduction="none").backward(w)
    np.testing.assert_allclose(x.grad.data, (x.data - t) * w[:, None], rtol=1e-14)


# ---- errors ----------------------------------------------------------------------------


def test_label_out_of_range_is_named():
    x = pyfrozen.tensor(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"label 4 at row 1 is out of range for 4 classes"):
        ops.softmax_cross_entropy(x, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match=r"label -1 at row 2 is out of range for 4 classes"):
        ops.softmax_cross_entropy(x, np.array([0, 1, -1]), from_logits=False)


def test_cross_entropy_shape_errors_name_both_shapes():
    x = pyfrozen.tensor(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=r"labels of shape \(2,\) do not match logits \(3, 4\)"):
        ops.softmax_cross_entropy(x, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"shape \(3, 3\) do not match logits \(3, 4\)"):
        ops.softmax_cross_entropy(x, np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match=r"class axis with at least one class, got shape \(\)"):
        ops.softmax_cross_entropy(pyfrozen.tensor(1.0), np.array(0))
    with pytest.raises(ValueError, match=r"at least one class, got shape \(2, 0\)"):
        ops.softmax_cross_entropy(pyfrozen.tensor(np.zeros((2, 0))), np.array([0, 0]))


@pytest.mark.parametrize("fn", [ops.binary_cross_entropy, ops.mean_squared_error])
def test_elementwise_loss_errors(fn):
    name = fn.__name__
    p = pyfrozen.tensor(np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match=rf"{name}: target shape \(3,\) does not match pred "
                                         r"shape \(3, 2\)"):
        fn(p, np.zeros(3))
    with pytest.raises(ValueError, match=rf"{name}: pred must have at least one axis"):
        fn(pyfrozen.tensor(0.5), 0.0)
    with pytest.raises(ValueError, match=rf"{name}: unknown reduction 'avg'"):
        fn(p, np.zeros((3, 2)), reduction="avg")
    with pytest.raises(TypeError, match=rf"{name}: pred must be float32 or float64, got int64"):
        fn(np.ones((3, 2), np.int64), np.zeros((3, 2)))
    with pytest.raises(TypeError, match=rf"{name}: target has unsupported dtype <U1"):
        fn(p, np.full((3, 2), "a"))


def test_cross_entropy_type_errors():
    x = pyfrozen.tensor(np.zeros((2, 3)), dtype=np.float32)
    with pytest.raises(TypeError, match="labels must be integers or float probabilities"):
        ops.softmax_cross_entropy(x, np.array([True, False]))
    with pytest.raises(TypeError, match="logits must be float32 or float64"):
        ops.softmax_cross_entropy(np.zeros((2, 3), np.int64), np.array([0, 1]))
    with pytest.raises(ValueError, match="unknown reduction 'batch'"):
        ops.softmax_cross_entropy(x, np.array([0, 1]), reduction="batch")


# ---- dtypes of labels: cast to the prediction's dtype, as Keras casts y_true -----------


LOSSES = {
    "softmax_cross_entropy": lambda p, t: ops.softmax_cross_entropy(p, t),
    "probability_cross_entropy": lambda p, t: ops.softmax_cross_entropy(p, t, from_logits=False),
    "binary_cross_entropy": ops.binary_cross_entropy,
    "mean_squared_error": ops.mean_squared_error,
}


# Integer labels of cross-entropy are class indices (the sparse loss), not one-hot values.
CASTS = [(name, dtype) for name in sorted(LOSSES)
         for dtype in ([np.float64] if "cross_entropy" in name and "binary" not in name
                       else [np.float64, np.int64, np.uint8, np.bool_])]


@pytest.mark.parametrize(("name", "label_dtype"), CASTS)
def test_labels_of_another_dtype_are_cast_to_the_prediction_dtype(rng, name, label_dtype):
    # float64 one-hot labels for a float32 model used to raise "never casts silently",
    # while the model's float64 inputs were cast: one rule now, Keras's.
    loss_fn = LOSSES[name]
    pred_data = rng.uniform(0.1, 0.9, (4, 3)).astype(np.float32)
    one_hot = np.eye(3)[[0, 2, 1, 1]]
    results = []
    for labels in (one_hot.astype(np.float32), one_hot.astype(label_dtype)):
        pred = pyfrozen.tensor(pred_data, requires_grad=True)
        loss = loss_fn(pred, labels)
        loss.backward()
        assert loss.dtype == np.float32 and pred.grad.dtype == np.float32
        results.append((loss.item(), pred.grad.data))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_a_float64_target_tensor_gets_a_float64_gradient_through_the_cast(rng, name):
    pred = pyfrozen.tensor(rng.uniform(0.1, 0.9, (4, 3)).astype(np.float32))
    target = pyfrozen.tensor(rng.uniform(0.1, 0.9, (4, 3)), requires_grad=True)  # float64
    LOSSES[name](pred, target).backward()
    expected = pyfrozen.tensor(target.data.astype(np.float32), requires_grad=True)
    LOSSES[name](pred, expected).backward()
    assert target.grad.dtype == np.float64
    np.testing.assert_array_equal(target.grad.data, expected.grad.data.astype(np.float64))


def test_sparse_labels_stay_integer_class_indices(rng):
    logits = pyfrozen.tensor(rng.standard_normal((4, 3)).astype(np.float32))
    labels = np.array([0, 2, 1, 1], dtype=np.uint8)
    sparse = ops.softmax_cross_entropy(logits, labels).item()
    dense = ops.softmax_cross_entropy(logits, np.eye(3, dtype=np.float32)[labels]).item()
    assert sparse == pytest.approx(dense, rel=1e-6)
    with pytest.raises(ValueError, match="label 3 at row 0 is out of range"):
        ops.softmax_cross_entropy(logits, np.array([3, 0, 0, 0]))  # an index, not a value
    with pytest.raises(ValueError, match=r"integer labels of shape \(4, 3\) do not match logits "
                       r"\(4, 3\) \(expected \(4,\)\): integer labels are class indices"):
        ops.softmax_cross_entropy(logits, np.eye(3, dtype=np.int64)[labels])
