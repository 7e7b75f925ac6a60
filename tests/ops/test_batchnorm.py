"""batch_norm in training and inference mode: gradients (float64 finite differences,
every frozen input, float32 on every ISA path), torch oracle, the moving-statistic
update (Keras's rule, biased variance) against numpy and torch, save-by-need (an
inference-mode BN with gamma frozen keeps only its per-channel scale), errors."""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import ops
from pyfrozen.autograd import trace
from pyfrozen.testing import check_op

EPS = 1e-3

# ---- helpers ---------------------------------------------------------------------------


def _stats(c: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal(c) * 0.3, rng.uniform(0.5, 2.0, c)


def _bn_fn(training: bool, with_gamma: bool, with_beta: bool, mean, var, **kwargs):
    """fn(x, [gamma], [beta]) with fresh moving statistics in x's dtype on every call."""

    def fn(x, *params):
        params = list(params)
        gamma = params.pop(0) if with_gamma else None
        beta = params.pop(0) if with_beta else None
        mm = pyfrozen.tensor(mean, dtype=x.dtype)
        mv = pyfrozen.tensor(var, dtype=x.dtype)
        return ops.batch_norm(x, gamma, beta, mm, mv, training=training, **kwargs)

    return fn


def _torch_bn(torch, training, with_gamma, with_beta, mean, var, eps=EPS, activation=None):
    def fn(x, *params):
        params = list(params)
        gamma = params.pop(0) if with_gamma else None
        beta = params.pop(0) if with_beta else None
        xc = x.movedim(-1, 1)  # channels last -> torch's channel axis 1
        rm = None if training else torch.tensor(mean)
        rv = None if training else torch.tensor(var)
        y = torch.nn.functional.batch_norm(xc, rm, rv, gamma, beta, training=training,
                                           eps=eps).movedim(1, -1)
        return y if activation is None else TORCH_ACTIVATIONS[activation](torch, y)

    return fn


def _inputs(shape, with_gamma, with_beta, seed=1):
    rng = np.random.default_rng(seed)
    c = shape[-1]
    out = [rng.standard_normal(shape) * 2.0 + 0.5]
    if with_gamma:
        out.append(rng.uniform(0.5, 1.5, c))
    if with_beta:
        out.append(rng.standard_normal(c))
    return out


SHAPES = [(6, 3), (2, 3, 4), (2, 3, 3, 2)]
TORCH_ACTIVATIONS = {
    "relu": lambda torch, y: torch.relu(y),
    "relu6": lambda torch, y: torch.clamp(y, 0.0, 6.0),
    "sigmoid": lambda torch, y: torch.sigmoid(y),
    "tanh": lambda torch, y: torch.tanh(y),
}
AFFINE = [(True, True), (True, False), (False, True), (False, False)]

# ---- gradients and oracle ----------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize(("with_gamma", "with_beta"), AFFINE, ids=["gb", "g", "b", "none"])
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_batch_norm_check_op(shape, with_gamma, with_beta, training, torch):
    mean, var = _stats(shape[-1])
    arrays = _inputs(shape, with_gamma, with_beta)
    report = check_op(
        _bn_fn(training, with_gamma, with_beta, mean, var),
        *arrays,
        torch_fn=_torch_bn(torch, training, with_gamma, with_beta, mean, var),
    )
    _assert_saved(report, arrays, training, with_gamma, with_beta)


def _assert_saved(report, arrays, training, with_gamma, with_beta):
    x = arrays[0]
    c, item = x.shape[-1], x.itemsize
    beta_pos = 2 if with_gamma else 1
    # Only x trains (gamma / beta frozen), inference: the per-channel scale, C numbers.
    only_x = tuple(range(1, len(arrays)))
    if not training and only_x in report.traces:
        assert report.traces[only_x].saved_bytes == c * item
    if not training and len(arrays) == 1:
        assert report.traces[()].saved_bytes == c * item
    # x frozen: no backward_input kernel.
    assert not report.traces[(0,)].ran(kernel="batchnorm", pass_="backward_input")
    if with_gamma:
        tr = report.traces[(1,)]
        assert not tr.ran(pass_="backward_weight")
        # gamma frozen: dx only (inference: the scale) or dx from batch stats (training)
        if training:
            # x, mean, inv_std and gamma (a plain Tensor here, so counted)
            assert tr.saved_bytes == x.nbytes + 3 * c * item
        elif not with_beta:
            assert tr.saved_bytes == c * item
    if with_beta:
        assert not report.traces[(beta_pos,)].ran(pass_="backward_bias")
    if with_gamma and with_beta:
        # Only beta trains (x and gamma frozen): dbeta = sum(dy) keeps nothing.
        with trace() as tr:
            fn_inputs = _tensors(arrays, trainable={2})
            y = _bn_fn(training, True, True, *_stats(c))(*fn_inputs)
            y.backward(np.ones(y.shape))
        assert tr.saved_bytes == 0
        assert [r.pass_ for r in tr.kernels if r.pass_ != "forward"] == ["backward_bias"]


@pytest.mark.parametrize("activation", list(TORCH_ACTIVATIONS))
@pytest.mark.parametrize(("with_gamma", "with_beta"), AFFINE, ids=["gb", "g", "b", "none"])
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_batch_norm_with_an_activation_check_op(activation, with_gamma, with_beta, training,
                                                torch):
    shape = (2, 2, 2, 9)  # 9 channels: one AVX2 vector and a tail
    mean, var = _stats(shape[-1])
    arrays = _inputs(shape, with_gamma, with_beta)
    if with_gamma:
        arrays[1] = arrays[1] * 3.0  # outputs on both sides of relu6's 0 and 6
    if with_beta:
        arrays[-1] = arrays[-1] + 2.0
    check_op(_bn_fn(training, with_gamma, with_beta, mean, var, activation=activation),
             *arrays, torch_fn=_torch_bn(torch, training, with_gamma, with_beta, mean, var,
                                         activation=activation))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", list(TORCH_ACTIVATIONS))
@pytest.mark.parametrize("trainable", [{0, 1, 2}, {0}, {1}, {2}, {1, 2}], ids=str)
def test_training_with_an_activation_is_one_op_with_the_two_ops_bits(activation, trainable,
                                                                     dtype):
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal((4, 5, 5, 7)) * 3 + 1, rng.uniform(1, 3, 7),
              rng.normal(2, 1, 7)]
    arrays = [a.astype(dtype) for a in arrays]
    cotangent = rng.standard_normal((4, 5, 5, 7)).astype(dtype)
    results = []
    for fused in (True, False):
        x, gamma, beta = _tensors(arrays, trainable)
        mm, mv = pyfrozen.tensor(np.zeros(7, dtype)), pyfrozen.tensor(np.ones(7, dtype))
        with trace() as tr:
            if fused:
                y = ops.batch_norm(x, gamma, beta, mm, mv, training=True,
                                   activation=activation)
            else:
                y = getattr(ops, activation)(ops.batch_norm(x, gamma, beta, mm, mv,
                                                            training=True))
            y.backward(cotangent)
        grads = [t.grad.numpy() for t in (x, gamma, beta) if t.grad is not None]
        results.append((y.numpy(), mm.numpy(), mv.numpy(), *grads))
        if fused:  # one op: no bias_act kernel, forward or backward
            assert [r.kernel for r in tr.kernels] == ["batchnorm"] * len(tr.kernels)
            # x, mean, inv_std (gamma for dx) for dx / dgamma; a relu / relu6 mask then
            # comes from x and the forward's affine constants (3 x 7), else from the output
            item, stats = x.data.itemsize, bool(trainable & {0, 1})
            from_x = stats and activation in ("relu", "relu6")
            kept = 3 * 7 * item if from_x else y.data.nbytes
            if stats:
                kept += x.data.nbytes + 2 * 7 * item + (7 * item if 0 in trainable else 0)
            assert tr.saved_bytes == kept
    for got, want in zip(*results, strict=True):
        assert got.tobytes() == want.tobytes()


def _tensors(arrays, trainable):
    return [pyfrozen.tensor(a, requires_grad=i in trainable) for i, a in enumerate(arrays)]


def test_frozen_bn_in_inference_keeps_only_the_scale():
    """The frozen Keras BN case: x needs a gradient, gamma / beta are frozen Parameters."""
    rng = np.random.default_rng(2)
    x = pyfrozen.tensor(rng.standard_normal((4, 5, 5, 8)).astype(np.float32),
                        requires_grad=True)
    gamma = pyfrozen.Parameter(rng.uniform(0.5, 1.5, 8).astype(np.float32), trainable=False)
    beta = pyfrozen.Parameter(rng.standard_normal(8).astype(np.float32), trainable=False)
    mm = pyfrozen.tensor(rng.standard_normal(8).astype(np.float32))
    mv = pyfrozen.tensor(rng.uniform(0.5, 2.0, 8).astype(np.float32))
    with trace() as tr:
        y = ops.batch_norm(x, gamma, beta, mm, mv, training=False)
        y.backward(np.ones(y.shape, np.float32))
    assert tr.saved_bytes == 8 * 4  # 32 bytes, against x's 3,200
    backward = [r for r in tr.kernels if r.pass_ != "forward"]
    assert [(r.kernel, r.pass_, r.work) for r in backward] == [
        ("batchnorm", "backward_input", x.size)]
    want = gamma.numpy() / np.sqrt(mv.numpy() + np.float32(EPS))
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to(want, x.shape), rtol=1e-6)


def test_inference_backward_uses_the_statistics_of_its_forward():
    """A training-mode call that moves the statistics before backward changes nothing."""
    rng = np.random.default_rng(3)
    x = pyfrozen.tensor(rng.standard_normal((6, 3)), requires_grad=True)
    gamma = pyfrozen.Parameter(rng.uniform(0.5, 1.5, 3))
    mm, mv = pyfrozen.tensor(np.zeros(3)), pyfrozen.tensor(np.ones(3))
    y = ops.batch_norm(x, gamma, None, mm, mv, training=False)
    ops.batch_norm(pyfrozen.tensor(rng.standard_normal((6, 3)) * 5), None, None, mm, mv,
                   training=True, momentum=0.0)
    y.backward(np.ones(y.shape))
    np.testing.assert_allclose(gamma.grad.numpy(), x.numpy().sum(0) / np.sqrt(1 + EPS))
    np.testing.assert_allclose(x.grad.numpy()[0], gamma.numpy() / np.sqrt(1 + EPS))


# ---- moving statistics ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_moving_statistics_follow_keras(dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 5, 6)).astype(dtype) * 3 + 1
    mean0, var0 = (a.astype(dtype) for a in _stats(6))
    mm, mv = pyfrozen.tensor(mean0), pyfrozen.tensor(var0)
    versions = (mm._version.value, mv._version.value)
    with pyfrozen.no_grad():  # Keras updates them whenever training=True
        ops.batch_norm(pyfrozen.tensor(x), None, None, mm, mv, training=True, momentum=0.9)
    x64 = x.astype(np.float64).reshape(-1, 6)
    want_mean = 0.9 * mean0 + 0.1 * x64.mean(0)
    want_var = 0.9 * var0 + 0.1 * x64.var(0)  # biased, as Keras
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(mm.numpy(), want_mean, rtol=tol)
    np.testing.assert_allclose(mv.numpy(), want_var, rtol=tol)
    assert (mm._version.value, mv._version.value) == (versions[0] + 1, versions[1] + 1)


def test_moving_statistics_against_torch(torch):
    """torch: running = (1 - m_t) * running + m_t * stat with m_t = 1 - keras_momentum and
    the UNBIASED variance; convert torch's variance update to Keras's to compare."""
    rng = np.random.default_rng(5)
    n, c, momentum = 24, 4, 0.99
    x = rng.standard_normal((2, 3, 4, c)) * 2 - 1
    mean0, var0 = _stats(c)
    mm, mv = pyfrozen.tensor(mean0), pyfrozen.tensor(var0)
    ops.batch_norm(pyfrozen.tensor(x), None, None, mm, mv, training=True, momentum=momentum)
    rm, rv = torch.tensor(mean0), torch.tensor(var0)
    torch.nn.functional.batch_norm(torch.tensor(x).permute(0, 3, 1, 2), rm, rv,
                                   training=True, momentum=1 - momentum)
    np.testing.assert_allclose(mm.numpy(), rm.numpy(), rtol=1e-12)
    unbiased = (rv.numpy() - momentum * var0) / (1 - momentum)
    np.testing.assert_allclose(mv.numpy(), momentum * var0 + (1 - momentum) * unbiased
                               * (n - 1) / n, rtol=1e-10)


def test_inference_leaves_moving_statistics_alone():
    mm, mv = pyfrozen.tensor(np.zeros(3)), pyfrozen.tensor(np.ones(3))
    versions = (mm._version.value, mv._version.value)
    x = pyfrozen.tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
    ops.batch_norm(x, None, None, mm, mv, training=False)
    assert (mm._version.value, mv._version.value) == versions
    np.testing.assert_array_equal(mm.numpy(), 0.0)
    np.testing.assert_array_equal(mv.numpy(), 1.0)


def test_training_mode_frozen_gamma_keeps_x_and_statistics_only():
    rng = np.random.default_rng(6)
    x = pyfrozen.tensor(rng.standard_normal((8, 4)), requires_grad=True)
    gamma = pyfrozen.Parameter(rng.uniform(0.5, 1.5, 4), trainable=False)
    beta = pyfrozen.Parameter(np.zeros(4), trainable=False)
    mm, mv = pyfrozen.tensor(np.zeros(4)), pyfrozen.tensor(np.ones(4))
    with trace() as tr:
        y = ops.batch_norm(x, gamma, beta, mm, mv, training=True)
        y.backward(np.ones(y.shape))
    assert tr.saved_bytes == x.data.nbytes + 2 * 4 * 8  # x (its input), mean, inv_std
    assert [r.pass_ for r in tr.kernels if r.pass_ != "forward"] == ["backward_input"]
    np.testing.assert_allclose(x.grad.numpy(), 0.0, atol=1e-12)  # sum-of-y has no x-gradient


# ---- errors ----------------------------------------------------------------------------------


def _bn_args(x_shape=(4, 3), c=3, dtype=np.float64):
    return (pyfrozen.tensor(np.zeros(x_shape, dtype)), pyfrozen.tensor(np.zeros(c, dtype)),
            pyfrozen.tensor(np.ones(c, dtype)))


def test_batch_norm_errors():
    x, mm, mv = _bn_args()
    with pytest.raises(ValueError, match=r"batch_norm: input must have at least 2 dimensions"
                                         r".* got shape \(3,\)"):
        ops.batch_norm(pyfrozen.tensor(np.zeros(3)), None, None, mm, mv, training=True)
    with pytest.raises(ValueError, match=r"batch_norm: gamma \(4,\) does not match the "
                                         r"channels of input \(4, 3\)"):
        ops.batch_norm(x, pyfrozen.tensor(np.ones(4)), None, mm, mv, training=False)
    with pytest.raises(ValueError, match=r"batch_norm: moving_variance \(2,\) does not match "
                                         r"the channels of input \(4, 3\)"):
        ops.batch_norm(x, None, None, mm, pyfrozen.tensor(np.ones(2)), training=False)
    with pytest.raises(ValueError, match=r"moving_mean must not require a gradient"):
        ops.batch_norm(x, None, None, pyfrozen.Parameter(np.zeros(3)), mv, training=True)
    with pytest.raises(TypeError, match=r"batch_norm: beta is float32 \(3,\) but input is "
                                        r"float64 \(4, 3\)"):
        ops.batch_norm(x, None, pyfrozen.tensor(np.zeros(3, np.float32)), mm, mv,
                       training=True)
    with pytest.raises(TypeError, match=r"batch_norm: moving_mean must be a Tensor, got "
                                        r"NoneType"):
        ops.batch_norm(x, None, None, None, mv, training=False)
    with pytest.raises(TypeError, match=r"batch_norm: input must be float32 or float64"):
        ops.batch_norm(pyfrozen.tensor(np.zeros((4, 3), np.int64)), None, None, mm, mv,
                       training=False)
    with pytest.raises(ValueError, match=r"epsilon must be finite and >= 0, got -1.0"):
        ops.batch_norm(x, None, None, mm, mv, training=True, epsilon=-1.0)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\]"):
        ops.batch_norm(x, None, None, mm, mv, training=True, momentum=1.5)
    with pytest.raises(ValueError, match=r"batch_norm: unknown activation 'gelu'"):
        ops.batch_norm(x, None, None, mm, mv, training=True, activation="gelu")
