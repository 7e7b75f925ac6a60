"""Partial freezing, proven: Parameters with element, row and column freeze masks train
for 20+ steps (forward through dense / matmul / embedding / elementwise ops and a loss,
backward, then ``pyfrozen.optimizers``, which pass each Parameter's ``update_mask`` to
the core's masked update kernels) and their frozen elements stay
bit-identical (-0.0 and denormals included) while every other element moves; frozen
gradients are exactly +0.0 at every step; whole-column masks shrink the weight-gradient
work; an all-frozen mask is trainable=False; masks survive trainable toggles; bad masks
raise clear errors.

The core's masks use the Parameter's convention: True (nonzero) = frozen
(csrc/include/pyfrozen/optimizer.hpp). The kernels need a C-contiguous mask, which
``Parameter.update_mask`` gives (``_frozen`` is a broadcast view for row or column masks).
"""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import ops, optimizers
from pyfrozen.autograd import trace

STEPS = 20

OPTIMIZERS = {
    "sgd": lambda: optimizers.SGD(0.1),
    "sgd_momentum": lambda: optimizers.SGD(0.05, momentum=0.9),
    "sgd_nesterov_wd": lambda: optimizers.SGD(0.05, momentum=0.8, nesterov=True,
                                              weight_decay=0.01),
    "adam": lambda: optimizers.Adam(0.01),
    "adam_wd": lambda: optimizers.Adam(0.01, weight_decay=0.1),
    "adamw": lambda: optimizers.AdamW(0.01, weight_decay=0.05),
    "rmsprop": lambda: optimizers.RMSprop(0.01),
    "rmsprop_all": lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True,
                                              weight_decay=0.02, epsilon=1e-4),
}

# Values whose bits a multiply-by-mask or a decay step would change: -0.0 becomes +0.0,
# denormals flush or shrink.
SPECIAL = np.array([-0.0, 1e-40, -3e-39, 1e-45, -0.0, 2.5, -1e-41], np.float32)


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint32 if a.dtype == np.float32 else np.uint64)


def train_step(opt: optimizers.Optimizer, params: list[pyfrozen.Parameter]) -> None:
    """Applies the gradients of ``params`` and clears them (a hand-written loop)."""
    opt.apply([p.grad for p in params], params)
    for p in params:
        p.grad = None


def randomize_state(opt: optimizers.Optimizer, p: pyfrozen.Parameter,
                    rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random state in place of what the first update left (zeros where frozen), so that
    frozen state elements are proven untouched, not just left at 0; returns a copy."""
    slots = {k: v for k, v in opt.state_of(p).items() if k != "step"}
    for v in slots.values():
        v[...] = np.abs(rng.standard_normal(v.shape)).astype(v.dtype) * 1e-3
    return {k: v.copy() for k, v in slots.items()}


# ---- models: one masked parameter, a loss, plain float32 data -------------------------------


def make_mask(kind: str, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A full-shape boolean mask freezing elements, whole rows or whole columns."""
    if kind == "element":
        mask = rng.uniform(size=shape) < 0.4
        mask.flat[0], mask.flat[-1] = True, False  # some frozen, some trainable, always
    elif kind == "rows":
        mask = np.zeros(shape, bool)
        mask[::2] = True
    else:
        mask = np.zeros(shape, bool)
        mask[:, 1::2] = True
    return mask


def with_specials(data: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = data.astype(np.float32)
    n = np.count_nonzero(mask)
    out[mask] = np.resize(SPECIAL, n)
    return out


class Model:
    """A tiny training problem: ``weight`` carries the mask; ``loss()`` runs forward."""

    def __init__(self, kind: str, mask_kind: str, rng: np.random.Generator) -> None:
        f32 = np.float32
        self.kind = kind
        shape = {"dense": (5, 4), "matmul": (5, 3), "embedding": (7, 3), "elementwise": (4, 3)}
        shape = shape[kind]
        self.mask = make_mask(mask_kind, shape, rng)
        weight = with_specials(rng.standard_normal(shape) * 0.5, self.mask)
        self.weight = pyfrozen.Parameter(weight, name="weight")
        if mask_kind == "rows":  # the 1-D forms, as users would write them
            self.weight.set_freeze_mask(self.mask[:, 0], axis=0)
        elif mask_kind == "columns":
            self.weight.set_freeze_mask(self.mask[0])
        else:
            self.weight.set_freeze_mask(self.mask)
        self.bias = pyfrozen.Parameter(np.zeros(shape[1], f32), name="bias")
        self.x = pyfrozen.tensor(rng.standard_normal((8, shape[0])), dtype=f32)
        self.target = rng.standard_normal((8, shape[1])).astype(f32)
        self.labels = rng.integers(0, shape[1], size=8)
        self.indices = np.concatenate([np.arange(shape[0]), rng.integers(0, shape[0], 5)])
        self.probs = rng.uniform(0, 1, size=(8, shape[1])).astype(f32)

    @property
    def params(self) -> list[pyfrozen.Parameter]:
        return [self.weight, self.bias]

    def loss(self) -> pyfrozen.Tensor:
        w, b = self.weight, self.bias
        if self.kind == "dense":
            y = ops.dense(self.x, w, b, activation="tanh")
            return ops.mean_squared_error(y, self.target)
        if self.kind == "matmul":
            return ops.softmax_cross_entropy(ops.matmul(self.x, w) + b, self.labels)
        if self.kind == "embedding":  # every row is looked up, so every row may move
            logits = ops.embedding(self.indices, w) * 2.0 + b
            return ops.softmax_cross_entropy(logits, self.labels.repeat(2)[: len(self.indices)])
        z = ops.mul(pyfrozen.tensor(self.x.data[:4, :3]), w) - b  # elementwise
        return ops.binary_cross_entropy(z, self.probs[:4], from_logits=True)


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("mask_kind", ["element", "rows", "columns"])
@pytest.mark.parametrize("model_kind", ["dense", "matmul", "embedding", "elementwise"])
def test_frozen_elements_stay_bit_identical(rng, model_kind, mask_kind, optimizer):
    model = Model(model_kind, mask_kind, rng)
    w = model.weight
    np.testing.assert_array_equal(np.broadcast_to(w._frozen, w.shape), model.mask)
    start = w.data.copy()
    opt = OPTIMIZERS[optimizer]()
    state_start: dict[str, np.ndarray] = {}
    for step in range(STEPS):
        loss = model.loss()
        loss.backward()
        g = w.grad.data
        assert np.all(bits(g)[model.mask] == 0), "frozen gradients must be exactly +0.0"
        train_step(opt, model.params)
        if step == 0:
            state_start = randomize_state(opt, w, rng)
        np.testing.assert_array_equal(bits(w.data)[model.mask], bits(start)[model.mask])
    assert np.isfinite(loss.item())
    assert np.all(w.data[~model.mask] != start[~model.mask]), "every trainable element moves"
    state = opt.state_of(w)
    assert state["step"] == STEPS
    for k, v in state_start.items():
        np.testing.assert_array_equal(bits(state[k])[model.mask], bits(v)[model.mask],
                                      err_msg=f"frozen elements of the {k} state changed")
        assert np.all(state[k][~model.mask] != v[~model.mask])


def test_masks_can_change_between_steps(rng):
    model = Model("dense", "element", rng)
    w = model.weight
    opt = optimizers.Adam(0.01)
    for _ in range(5):
        model.loss().backward()
        train_step(opt, model.params)
    frozen_now = w.data.copy()
    w.set_freeze_mask(None)  # unfreeze everything: the previously frozen elements move
    for _ in range(5):
        model.loss().backward()
        assert np.all(w.grad.data[model.mask] != 0)
        train_step(opt, model.params)
    assert np.all(w.data[model.mask] != frozen_now[model.mask])


# ---- whole-column and whole-row masks shrink the weight-gradient work ------------------------


def dense_run(x, kernel, bias, dy):
    with trace() as tr:
        ops.dense(x, kernel, bias).backward(dy)
    return tr


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_channel_mask_shows_less_backward_weight_work(rng, dtype):
    n, fan_in, units = 16, 12, 10
    x = pyfrozen.tensor(rng.standard_normal((n, fan_in)), dtype=dtype, requires_grad=True)
    data = rng.standard_normal((fan_in, units)).astype(dtype)
    dy = rng.standard_normal((n, units)).astype(dtype)
    frozen = np.zeros(units, bool)
    frozen[[0, 3, 4, 6, 7, 9]] = True  # 4 of 10 output channels train
    full = pyfrozen.Parameter(data.copy())
    masked = pyfrozen.Parameter(data.copy(), freeze_mask=frozen)
    bias = pyfrozen.Parameter(np.zeros(units, dtype))

    tr_full = dense_run(x, full, bias, dy)
    dx_full = x.grad.data.copy()
    x.grad = None
    tr_masked = dense_run(x, masked, bias, dy)

    (w_full,) = tr_full.ran(kernel="dense", pass_="backward_weight")
    (w_masked,) = tr_masked.ran(kernel="dense", pass_="backward_weight")
    assert w_full.work == n * fan_in * units
    assert w_masked.work == n * fan_in * 4  # proportional to the trainable columns
    # The other passes and the saved arrays do not change.
    for pass_ in ("forward", "backward_input"):
        assert [r.work for r in tr_full.ran(kernel="dense", pass_=pass_)] == [
            r.work for r in tr_masked.ran(kernel="dense", pass_=pass_)]
    assert tr_full.saved_bytes == tr_masked.saved_bytes
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(masked.grad.data[:, ~frozen], full.grad.data[:, ~frozen],
                               rtol=rtol, atol=rtol)
    np.testing.assert_array_equal(bits(masked.grad.data[:, frozen]), 0)
    np.testing.assert_array_equal(x.grad.data, dx_full)  # dx never depends on the mask


def test_a_row_mask_limits_the_weight_gradient_to_trainable_input_features(rng):
    n, fan_in, units = 9, 8, 5
    x = pyfrozen.tensor(rng.standard_normal((n, fan_in)))
    data = rng.standard_normal((fan_in, units))
    dy = rng.standard_normal((n, units))
    frozen = np.arange(fan_in) < 6  # the first 6 input features are frozen
    full = pyfrozen.Parameter(data.copy())
    masked = pyfrozen.Parameter(data.copy())
    masked.set_freeze_mask(frozen, axis=0)
    tr_full = dense_run(x, full, None, dy)
    tr_masked = dense_run(x, masked, None, dy)
    assert tr_full.ran(kernel="dense", pass_="backward_weight")[0].work == n * fan_in * units
    assert tr_masked.ran(kernel="dense", pass_="backward_weight")[0].work == n * 2 * units
    np.testing.assert_allclose(masked.grad.data[~frozen], full.grad.data[~frozen], rtol=1e-13)
    np.testing.assert_array_equal(masked.grad.data[frozen], 0)


def test_an_embedding_row_mask_shows_less_scatter_work(rng):
    v, d = 10, 4
    idx = rng.integers(0, v, size=30)
    frozen = np.arange(v) >= 3  # fine-tune only the 3 first (e.g. new) tokens
    full = pyfrozen.Parameter(rng.standard_normal((v, d)))
    masked = pyfrozen.Parameter(full.data.copy())
    masked.set_freeze_mask(frozen, axis=0)
    dy = rng.standard_normal((30, d))
    works = []
    for p in (full, masked):
        with trace() as tr:
            ops.embedding(idx, p).backward(dy)
        works.append(tr.ran(kernel="scatter_add")[0].work)
    assert works == [30 * d, int(np.count_nonzero(idx < 3)) * d]
    np.testing.assert_array_equal(masked.grad.data[:3], full.grad.data[:3])


# ---- an all-frozen mask is trainable=False -----------------------------------------------


@pytest.mark.parametrize("form", ["full", "scalar", "axis0"])
def test_a_mask_freezing_everything_behaves_like_trainable_false(rng, form):
    data = rng.standard_normal((6, 3))
    off = pyfrozen.Parameter(data.copy(), trainable=False)
    if form == "full":
        masked = pyfrozen.Parameter(data.copy(), freeze_mask=np.ones((6, 3), bool))
    elif form == "scalar":
        masked = pyfrozen.Parameter(data.copy(), freeze_mask=np.array(True))
    else:
        masked = pyfrozen.Parameter(data.copy())
        masked.set_freeze_mask(np.ones(6, bool), axis=0)
    assert masked.requires_grad is False and off.requires_grad is False
    assert masked.trainable_count() == off.trainable_count() == 0
    x = pyfrozen.tensor(rng.standard_normal((4, 6)))
    for p in (masked, off):  # nothing requires grad: nothing is recorded
        with trace() as tr:
            y = ops.dense(x, p)
        assert not y.requires_grad and tr.nodes == 0 and tr.saved_bytes == 0
        with trace() as tr:
            e = ops.embedding([0, 5], p)
        assert not e.requires_grad and tr.nodes == 0
    traces, grads = [], []
    for p in (masked, off):  # with x trainable: the same node, saves, kernels, dx
        xt = pyfrozen.tensor(x.data, requires_grad=True)
        with trace() as tr:
            ops.dense(xt, p, activation="tanh").backward(np.ones((4, 3)))
        assert p.grad is None
        assert not tr.ran(pass_="backward_weight")
        traces.append(tr)
        grads.append(xt.grad.data)
    assert traces[0].saved_bytes == traces[1].saved_bytes
    assert [(r.kernel, r.pass_, r.work) for r in traces[0].kernels] == [
        (r.kernel, r.pass_, r.work) for r in traces[1].kernels]
    np.testing.assert_array_equal(grads[0], grads[1])


# ---- masks and the trainable switch ------------------------------------------------------


def test_masks_survive_trainable_toggles(rng):
    mask = np.zeros((4, 3), bool)
    mask[1] = True
    mask[2, 0] = True
    p = pyfrozen.Parameter(rng.standard_normal((4, 3)), name="kernel", freeze_mask=mask)
    assert p.trainable_count() == 8
    p.trainable = False
    assert not p.requires_grad and p.trainable_count() == 0
    np.testing.assert_array_equal(p.freeze_mask, mask)
    p.requires_grad = True  # the torch spelling flips trainable too
    assert p.trainable and p.requires_grad and p.trainable_count() == 8
    np.testing.assert_array_equal(p._frozen, mask)
    ops.mean_squared_error(ops.mul(p, 3.0), np.zeros((4, 3))).backward()
    np.testing.assert_array_equal(bits(p.grad.data[mask]), 0)
    assert np.all(p.grad.data[~mask] != 0)
    assert "8 of 12 trainable" in repr(p)


def test_the_mask_is_copied(rng):
    mask = np.zeros(3, bool)
    p = pyfrozen.Parameter(np.ones((2, 3)), freeze_mask=mask)
    assert p._frozen is None and p.requires_grad  # an all-False mask freezes nothing
    mask[0] = True
    assert p._frozen is None
    p.set_freeze_mask(mask)
    mask[:] = False
    assert p.trainable_count() == 4


def test_whole_slice_detection():
    p = pyfrozen.Parameter(np.ones((4, 5)))
    p.set_freeze_mask(np.array([True, False, True, False, False]))
    np.testing.assert_array_equal(p.trainable_index(1), [1, 3, 4])
    assert p.trainable_index(0) is None  # columns are frozen, not rows
    p.set_freeze_mask(np.array([False, True, True, False]), axis=0)
    np.testing.assert_array_equal(p.trainable_index(0), [0, 3])
    assert p.trainable_index(1) is None
    element = np.zeros((4, 5), bool)
    element[0, 0] = True
    p.set_freeze_mask(element)
    assert p.trainable_index(0) is None and p.trainable_index(1) is None


# ---- bad masks ------------------------------------------------------------------------------


def test_bad_masks_raise_clear_errors():
    p = pyfrozen.Parameter(np.ones((2, 4)), name="kernel")
    with pytest.raises(ValueError, match=r"freeze mask of parameter 'kernel': shape \(3,\) "
                                         r"does not broadcast to the parameter's shape \(2, 4\)"):
        p.set_freeze_mask(np.zeros(3, bool))
    with pytest.raises(ValueError, match=r"shape \(4, 2\) does not broadcast"):
        p.set_freeze_mask(np.zeros((4, 2), bool))
    with pytest.raises(TypeError, match=r"freeze mask of parameter 'kernel': dtype int64, "
                                        r"expected bool"):
        p.set_freeze_mask(np.array([0, 1, 0, 1]))
    with pytest.raises(TypeError, match=r"dtype float64, expected bool"):
        p.set_freeze_mask(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"freeze mask with axis=0 must be 1-D, got \(2, 4\)"):
        p.set_freeze_mask(np.zeros((2, 4), bool), axis=0)
    with pytest.raises(ValueError, match=r"shape \(3, 1\) does not broadcast"):
        p.set_freeze_mask(np.zeros(3, bool), axis=0)
    with pytest.raises(TypeError, match=r"parameter \(3,\): dtype int64, expected bool"):
        pyfrozen.Parameter(np.ones(3), freeze_mask=np.array([1, 0, 0]))
    assert p.freeze_mask is None and p.requires_grad  # a failed call changes nothing
