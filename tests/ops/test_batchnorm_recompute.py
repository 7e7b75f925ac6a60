"""batch_norm(recompute_input=True) after a depthwise convolution: backward recomputes
the convolution's output instead of keeping it. Gradients (float64 central
differences with every input frozen in turn, float32 on every ISA path, torch), the
same bits as keeping it for every frozen subset, what is kept, in-place changes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import pyfrozen
from pyfrozen import ops
from pyfrozen.autograd import trace
from pyfrozen.testing import check_op

NAMES = ("x", "kernel", "bias", "gamma", "beta")
C, M = 5, 2  # 10 output channels: one AVX2 float vector and a tail


def _arrays(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((2, 6, 6, C)), rng.standard_normal((3, 3, C, M)),
            rng.standard_normal(C * M), rng.uniform(1.0, 3.0, C * M), rng.normal(1, 1, C * M)]


def _block(x, kernel, bias, gamma, beta, activation, strides, recompute=True):
    mm = pyfrozen.tensor(np.zeros(C * M), dtype=x.dtype)
    mv = pyfrozen.tensor(np.ones(C * M), dtype=x.dtype)
    z = ops.depthwise_conv2d(x, kernel, bias, strides=strides,
                             padding="same" if strides == 1 else "valid")
    y = ops.batch_norm(z, gamma, beta, mm, mv, training=True, activation=activation,
                       recompute_input=recompute)
    return y, mm, mv


def _torch_block(torch, activation, strides):
    def fn(x, kernel, gamma, beta):
        w = kernel.reshape(3, 3, 1, C * M).permute(3, 2, 0, 1)  # HWIO -> OIHW, groups = C
        z = torch.nn.functional.conv2d(x.permute(0, 3, 1, 2), w, stride=strides,
                                       padding=1 if strides == 1 else 0, groups=C)
        y = torch.nn.functional.batch_norm(z, None, None, gamma, beta, training=True,
                                           eps=1e-3).permute(0, 2, 3, 1)
        return {None: y, "relu": torch.relu(y), "relu6": torch.clamp(y, 0.0, 6.0)}[activation]
    return fn


@pytest.mark.parametrize("strides", [1, 2])
@pytest.mark.parametrize("activation", [None, "relu", "relu6"])
def test_recomputed_input_check_op(activation, strides, torch):
    # No bias here: a batch norm cancels any per-channel constant, so its gradient is 0
    # up to rounding (no relative check can hold); its bits are tested below.
    x, kernel, _, gamma, beta = _arrays()
    check_op(lambda x, k, g, b: _block(x, k, None, g, b, activation, strides)[0],
             x, kernel, gamma, beta, torch_fn=_torch_block(torch, activation, strides))


def _run(arrays, frozen, recompute, activation, strides):
    tensors = [pyfrozen.Parameter(a, trainable=name not in frozen)
               for name, a in zip(NAMES, arrays, strict=True)]
    with trace() as tr:
        y, mm, mv = _block(*tensors, activation, strides, recompute)
        if y.requires_grad:
            cotangent = np.random.default_rng(5).standard_normal(y.shape)
            y.backward(cotangent.astype(y.dtype))
    grads = [None if t.grad is None else t.grad.numpy() for t in tensors]
    return [y.numpy(), mm.numpy(), mv.numpy(), *grads], tr


def _forwards(tr) -> int:
    return sum(r.calls for r in tr.ran(kernel="depthwise_conv2d", pass_="forward"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", [None, "relu6", "sigmoid"])
@pytest.mark.parametrize("strides", [1, 2])
def test_the_same_bits_as_keeping_it_with_any_input_frozen(strides, activation, dtype):
    arrays = [a.astype(dtype) for a in _arrays(seed=1)]
    for n in range(len(NAMES) + 1):
        for frozen in itertools.combinations(NAMES, n):
            got, tr = _run(arrays, frozen, True, activation, strides)
            want, tr_kept = _run(arrays, frozen, False, activation, strides)
            for g, w in zip(got, want, strict=True):
                assert (g is None) == (w is None), frozen
                assert g is None or g.tobytes() == w.tobytes(), frozen
            # Recomputed (and not kept) exactly when the convolution keeps its input and
            # kernel (both train, so the batch norm needs dx and its input) and its
            # output is not a quarter of its input (stride 2).
            recomputes = not {"x", "kernel"} & set(frozen) and strides == 1
            z_bytes = tr_kept.saved_bytes - tr.saved_bytes
            assert _forwards(tr) == _forwards(tr_kept) + (1 if recomputes else 0), frozen
            assert z_bytes == (got[0].nbytes if recomputes else 0), frozen


def test_an_input_changed_in_place_before_backward_is_refused():
    x, kernel, _, gamma, beta = (pyfrozen.Parameter(a) for a in _arrays(seed=2))
    y, _, _ = _block(x, kernel, None, gamma, beta, "relu6", 1)
    with pyfrozen.no_grad():
        x.data[0, 0, 0, 0] += 1.0
        x._bump_version()
    with pytest.raises(RuntimeError, match="depthwise_conv2d: an array saved for backward was "
                                           "modified in place"):
        y.sum().backward()
    assert gamma.grad is None  # refused before the batch norm's gradients were made


def test_an_input_that_is_not_a_depthwise_output_is_kept():
    x = pyfrozen.Parameter(_arrays(seed=3)[0])
    gamma, beta = pyfrozen.Parameter(np.ones(C)), pyfrozen.Parameter(np.zeros(C))
    saved = []
    for recompute in (True, False):
        mm, mv = pyfrozen.tensor(np.zeros(C)), pyfrozen.tensor(np.ones(C))
        with trace() as tr:
            y = ops.batch_norm(x * 2.0, gamma, beta, mm, mv, training=True,
                               recompute_input=recompute)
            y.sum().backward()
        saved.append(tr.saved_bytes)
    assert saved[0] == saved[1] > x.data.nbytes  # the product is kept as usual
