"""A small CNN built from pyfrozen layers against the same network in torch (float64).

Conv2D (stride 2, 'same') -> BatchNormalization -> ReLU -> DepthwiseConv2D (x2) ->
BatchNormalization -> Conv2D 1x1 (relu6) -> global average pooling -> Dense, with
identical weights (ours copied into torch with the layout transposes): same output,
same gradients for the input and every weight, same moving statistics (after
converting torch's unbiased running variance), in training mode, in inference mode,
and with the BatchNormalization layers frozen (Keras 3: inference mode, = torch eval).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import pyfrozen
from pyfrozen import ops
from pyfrozen.layers import BatchNormalization, Conv2D, Dense, DepthwiseConv2D, Input, Layer
from pyfrozen.models import Model, Sequential

F64 = "float64"
MOMENTUM, EPSILON = 0.99, 1e-3
INPUT = (3, 8, 8, 3)


class ReLU(Layer):
    """Stand-in for the ReLU layer (not part of this branch)."""

    def call(self, x):
        return ops.relu(x)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


class GlobalAveragePooling(Layer):
    """Stand-in for GlobalAveragePooling2D (not part of this branch)."""

    def call(self, x):
        return ops.global_avg_pool2d(x)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[3])


def make_layers():
    return [Conv2D(4, 3, strides=2, padding="same", dtype=F64, name="conv1"),
            BatchNormalization(dtype=F64, name="bn1"), ReLU(dtype=F64, name="relu1"),
            DepthwiseConv2D(3, padding="same", depth_multiplier=2, dtype=F64, name="dw"),
            BatchNormalization(dtype=F64, name="bn2"),
            Conv2D(6, 1, activation="relu6", dtype=F64, name="pw"),
            GlobalAveragePooling(dtype=F64, name="gap"), Dense(5, dtype=F64, name="dense")]


def build_model(kind: str):
    layers = make_layers()
    if kind == "sequential":
        return Sequential([Input(INPUT[1:], dtype=F64), *layers])
    inp = x = Input(INPUT[1:], dtype=F64)
    for layer in layers:
        x = layer(x)
    return Model(inp, x)


def randomize(model, rng):
    """Random weights everywhere, positive gammas and moving variances."""
    for layer in model.layers:
        values = []
        for w in layer.weights:
            if w.name in ("gamma", "moving_variance"):
                values.append(rng.uniform(0.5, 1.5, w.shape))
            else:
                values.append(rng.standard_normal(w.shape) * 0.5)
        if values:
            layer.set_weights(values)


def same_padding(size, kernel, stride):
    """TensorFlow's 'same' split (the odd pixel at the end) as (before, after)."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class TorchNet:
    """The same network written with torch.nn.functional, NCHW, weights from ours."""

    def __init__(self, torch, model, frozen_bn: bool):
        self.torch = torch
        self.frozen_bn = frozen_bn
        self.p = {}
        for name in ("conv1", "bn1", "dw", "bn2", "pw", "dense"):
            for w in model.get_layer(name).weights:
                t = torch.tensor(self._to_torch(name, w.name, w.numpy()))
                stat = w.name.startswith("moving") or (frozen_bn and name.startswith("bn"))
                self.p[name, w.name] = t if stat else t.requires_grad_(True)

    @staticmethod
    def _to_torch(layer, weight, value):
        if weight == "kernel" and layer != "dense":
            return np.ascontiguousarray(value.transpose(3, 2, 0, 1))  # HWIO -> OIHW
        if weight == "depthwise_kernel":
            kh, kw, c, m = value.shape  # output channel c * m + j -> (C*M, 1, KH, KW)
            return np.ascontiguousarray(value.reshape(kh, kw, c * m).transpose(2, 0, 1)[:, None])
        return value.copy()

    def _bn(self, h, name, training):
        p = self.p
        return self.torch.nn.functional.batch_norm(
            h, p[name, "moving_mean"], p[name, "moving_variance"], p[name, "gamma"],
            p[name, "beta"], training=training and not self.frozen_bn, momentum=1 - MOMENTUM,
            eps=EPSILON)

    def __call__(self, x, training):
        fn, p = self.torch.nn.functional, self.p
        h = x.permute(0, 3, 1, 2)
        top, bottom = same_padding(INPUT[1], 3, 2)
        left, right = same_padding(INPUT[2], 3, 2)
        h = fn.conv2d(fn.pad(h, (left, right, top, bottom)), p["conv1", "kernel"],
                      p["conv1", "bias"], stride=2)
        h = fn.relu(self._bn(h, "bn1", training))
        h = fn.conv2d(h, p["dw", "depthwise_kernel"], p["dw", "bias"], padding=1, groups=4)
        h = self._bn(h, "bn2", training)
        h = fn.conv2d(h, p["pw", "kernel"], p["pw", "bias"]).clamp(0.0, 6.0)
        h = h.mean(dim=(2, 3))
        return h @ p["dense", "kernel"] + p["dense", "bias"]


def from_torch_grad(name, weight, grad):
    """A torch weight gradient back in our (Keras) layout."""
    g = grad.numpy()
    if weight == "kernel" and name != "dense":
        return g.transpose(2, 3, 1, 0)
    if weight == "depthwise_kernel":
        c = g.shape[0] // 2
        return g[:, 0].transpose(1, 2, 0).reshape(3, 3, c, 2)
    return g


def keras_moving_variance(torch_new, old, n):
    """Our (Keras) update from torch's: its step used the unbiased variance."""
    step = (torch_new - MOMENTUM * old) * (n - 1) / n
    return MOMENTUM * old + step


@pytest.mark.parametrize("kind", ["sequential", "functional"])
@pytest.mark.parametrize("mode", ["training", "inference", "frozen_bn"])
def test_small_cnn_matches_torch(torch, kind, mode):
    rng = np.random.default_rng(11)
    model = build_model(kind)
    randomize(model, rng)
    if mode == "frozen_bn":
        for name in ("bn1", "bn2"):
            model.get_layer(name).trainable = False
    net = TorchNet(torch, model, frozen_bn=mode == "frozen_bn")
    training = mode != "inference"
    old_stats = {name: [w.numpy().copy() for w in model.get_layer(name).weights[2:]]
                 for name in ("bn1", "bn2")}

    x_np = rng.standard_normal(INPUT)
    v = rng.standard_normal((INPUT[0], 5))
    x = pyfrozen.tensor(x_np, requires_grad=True)
    y = model(x, training=training)
    y.backward(v)
    x_t = torch.tensor(x_np, requires_grad=True)
    y_t = net(x_t, training)
    y_t.backward(torch.tensor(v))

    np.testing.assert_allclose(y.numpy(), y_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), x_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    for (name, weight), t in net.p.items():
        w = model.get_layer(name).get_weight(weight)
        if weight.startswith("moving") or (mode == "frozen_bn" and name.startswith("bn")):
            assert w.grad is None, (name, weight)
            continue
        np.testing.assert_allclose(w.grad.numpy(), from_torch_grad(name, weight, t.grad),
                                   rtol=1e-10, atol=1e-12, err_msg=f"{name}/{weight}")

    for name, spatial in (("bn1", 4 * 4), ("bn2", 4 * 4)):
        bn = model.get_layer(name)
        mean_t = net.p[name, "moving_mean"].numpy()
        var_t = net.p[name, "moving_variance"].numpy()
        old_mean, old_var = old_stats[name]
        if mode == "training":
            np.testing.assert_allclose(bn.moving_mean.numpy(), mean_t, rtol=1e-12)
            want = keras_moving_variance(var_t, old_var, INPUT[0] * spatial)
            np.testing.assert_allclose(bn.moving_variance.numpy(), want, rtol=1e-12)
            assert not np.array_equal(bn.moving_mean.numpy(), old_mean)
        else:  # inference and frozen: neither library moves them
            np.testing.assert_array_equal(bn.moving_mean.numpy(), old_mean)
            np.testing.assert_array_equal(bn.moving_variance.numpy(), old_var)
            np.testing.assert_array_equal(mean_t, old_mean)
            np.testing.assert_array_equal(var_t, old_var)


def test_predict_matches_torch_eval(torch):
    rng = np.random.default_rng(12)
    model = build_model("sequential")
    randomize(model, rng)
    net = TorchNet(torch, model, frozen_bn=False)
    x = rng.standard_normal((7, *INPUT[1:]))
    with torch.no_grad():
        want = net(torch.tensor(x), training=False).numpy()
    np.testing.assert_allclose(model.predict(x, batch_size=3), want, rtol=1e-10, atol=1e-12)
