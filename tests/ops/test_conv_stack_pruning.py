"""A small Conv-BN-Conv-Dense stack built from the ops: freezing prunes the backward
pass and what the tape keeps, and the gradients that remain are still right.

Stack (each op in its own name_scope, the "layer"):

    x -> conv1 (3x3 valid, relu fused) -> bn (batch_norm) -> conv2 (3x3 same)
      -> gap (global_avg_pool2d) -> dense

The relu is conv1's fused activation (there is no separate activation op here), so it
sits between conv1 and bn.
"""

from __future__ import annotations

import numpy as np
import pytest

import pyfrozen
from pyfrozen import ops
from pyfrozen.autograd import gradcheck, name_scope, trace

N, H, W, C_IN, C1, C2, UNITS = 2, 8, 8, 4, 4, 6, 3


def _weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((N, H, W, C_IN)),
        "k1": rng.standard_normal((3, 3, C_IN, C1)) * 0.4,
        "gamma": rng.uniform(0.5, 1.5, C1),
        "beta": rng.standard_normal(C1) * 0.1,
        "k2": rng.standard_normal((3, 3, C1, C2)) * 0.3,
        "w": rng.standard_normal((C2, UNITS)),
        "mean": rng.standard_normal(C1) * 0.2,
        "var": rng.uniform(0.5, 2.0, C1),
    }


NAMES = ("x", "k1", "gamma", "beta", "k2", "w")


def _tensors(arrays: dict, trainable: set[str]) -> list[pyfrozen.Tensor]:
    """x as data (a plain Tensor needing no gradient), the rest as Parameters."""
    out = [pyfrozen.tensor(arrays["x"])]
    for name in NAMES[1:]:
        out.append(pyfrozen.Parameter(arrays[name].copy(), trainable=name in trainable,
                                      name=name))
    return out


def _stack(arrays: dict, bn_training: bool):
    """fn(x, k1, gamma, beta, k2, w) -> logits; BN's moving statistics are fresh copies."""

    def fn(x, k1, gamma, beta, k2, w):
        mm = pyfrozen.tensor(arrays["mean"])
        mv = pyfrozen.tensor(arrays["var"])
        with name_scope("conv1"):
            h = ops.conv2d(x, k1, activation="relu")
        with name_scope("bn"):
            h = ops.batch_norm(h, gamma, beta, mm, mv, training=bn_training)
        with name_scope("conv2"):
            h = ops.conv2d(h, k2, padding="same")
        with name_scope("gap"):
            h = ops.global_avg_pool2d(h)
        with name_scope("dense"):
            return ops.dense(h, w)

    return fn


def _run(fn, tensors):
    with trace() as tr:
        y = fn(*tensors)
        y.backward(np.random.default_rng(9).standard_normal(y.shape))
    return tr


def _backward(tr, layer):
    return [r for r in tr.ran(layer=layer) if r.pass_ != "forward"]


def test_frozen_base_runs_nothing_below_the_lowest_trainable_layer():
    """k1 and BN frozen (BN in inference mode, the Keras rule), k2 and the dense W train."""
    arrays = _weights()
    tensors = _tensors(arrays, {"k2", "w"})
    tr = _run(_stack(arrays, bn_training=False), tensors)
    # conv1 and bn recorded nothing, so no kernel of any pass ran for them in backward.
    assert not _backward(tr, "conv1") and not _backward(tr, "bn")
    assert tr.nodes == 3  # conv2, gap, dense
    # conv2's input needs no gradient: its weight gradient only, no dX.
    assert tr.ran(layer="conv2", kernel="conv2d", pass_="backward_weight")
    assert not tr.ran(layer="conv2", pass_="backward_input")
    assert tr.ran(layer="dense", pass_="backward_weight")
    for layer in ("conv1", "bn"):
        assert not tr.ran(layer=layer, pass_="backward_weight")
    grads = {n: t.grad for n, t in zip(NAMES, tensors, strict=True)}
    assert all(grads[n] is None for n in ("x", "k1", "gamma", "beta"))
    assert grads["k2"] is not None and grads["w"] is not None


def test_frozen_base_keeps_a_small_fraction_of_the_bytes():
    """Measured (float64): frozen base keeps conv2's input (N*6*6*C1 = 288 values) and
    dense's input (12): 2,400 bytes. Everything trainable (BN in training mode) also
    keeps x (512 values), conv1's relu output, which is also bn's input (288), bn's
    mean and inv_std (8) and conv2's input (288): 8,864 bytes. Ratio 0.27."""
    arrays = _weights()
    frozen = _run(_stack(arrays, bn_training=False), _tensors(arrays, {"k2", "w"}))
    every = _run(_stack(arrays, bn_training=True), _tensors(arrays, set(NAMES[1:])))
    item, maps = 8, N * 6 * 6  # conv1's valid 3x3 turns 8x8 into 6x6
    assert frozen.saved_bytes == (maps * C1 + N * C2) * item == 2400
    assert every.saved_bytes == (N * H * W * C_IN + 2 * maps * C1 + 2 * C1
                                 + N * C2) * item == 8864
    assert frozen.by_layer() == {"conv2": maps * C1 * item, "gap": 0, "dense": N * C2 * item}
    assert frozen.saved_bytes < every.saved_bytes / 3


def test_trainable_conv_below_frozen_bn_and_frozen_conv():
    """k1 trains below a frozen BN (inference mode) and a frozen conv2: dX flows through
    both (dx-only kernels), which keep only BN's per-channel scale, no activation."""
    arrays = _weights(1)
    tensors = _tensors(arrays, {"k1", "w"})
    fn = _stack(arrays, bn_training=False)
    tr = _run(fn, tensors)
    assert [r.pass_ for r in _backward(tr, "bn")] == ["backward_input"]
    assert [r.pass_ for r in _backward(tr, "conv2")] == ["backward_input"]
    assert not tr.ran(layer="conv1", kernel="conv2d", pass_="backward_input")  # x is data
    assert tr.ran(layer="conv1", kernel="conv2d", pass_="backward_weight")
    layers = tr.by_layer()
    assert layers["bn"] == C1 * 8  # the scale: 32 bytes
    assert layers["conv2"] == 0  # its frozen kernel is a Parameter: not counted
    assert tensors[4].grad is None and tensors[2].grad is None
    assert gradcheck(fn, tensors)


@pytest.mark.parametrize("bn_training", [False, True], ids=["bn_inference", "bn_training"])
def test_every_weight_gradient_is_right(bn_training):
    arrays = _weights(2)
    tensors = _tensors(arrays, set(NAMES[1:]))
    assert gradcheck(_stack(arrays, bn_training), tensors)
