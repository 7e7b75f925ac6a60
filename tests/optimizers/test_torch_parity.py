"""pyfrozen's optimizers against torch.optim on a small CNN (conv, BatchNormalization,
depthwise conv, dense), float64, identical initial weights, 3 training steps written
by hand (forward, loss, backward, ``optimizer.apply``): the same weights afterwards,
BatchNormalization's moving statistics included, with everything trainable and with
half of the network frozen (conv + its BN layer frozen, half of the dense kernel's
columns masked).

Conventions converted on the torch side (not bugs of either library):
- Keras's BN momentum 0.99 is torch's 0.01, and Keras's moving variance takes the
  biased batch variance (torch: unbiased): torch's moving statistics are kept by hand.
- Keras adds Adam's epsilon to sqrt(v), torch to sqrt(v_hat): torch's eps at step t is
  set to ``epsilon / sqrt(1 - beta_2**t)``, which makes the two formulas equal.
- Keras 3 decays weights decoupled (``w -= w * lr * wd``) for every optimizer: torch's
  AdamW does the same; SGD runs without decay here (torch's SGD decay is L2).
- torch has no element masks: masked elements are restored after each torch step
  (the usual workaround), ours never move.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from pyfrozen import ops, optimizers
from pyfrozen.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    GlobalAveragePooling2D,
    Input,
    ReLU,
)
from pyfrozen.models import Sequential

F64, EPS_BN, MOMENTUM_BN, STEPS = "float64", 1e-3, 0.99, 3
COLUMNS_FROZEN = np.array([True, False, True])
BIAS_BEFORE_BN = {("conv", "bias"), ("dw", "bias")}

OPTIMIZERS = {
    "sgd_momentum": (lambda: optimizers.SGD(0.1, momentum=0.9),
                     lambda torch, p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
    "adam": (lambda: optimizers.Adam(0.01),
             lambda torch, p: torch.optim.Adam(p, lr=0.01, eps=1e-7)),
    "adamw": (lambda: optimizers.AdamW(0.01, weight_decay=0.1),
              lambda torch, p: torch.optim.AdamW(p, lr=0.01, eps=1e-7, weight_decay=0.1)),
}


def make_model(rng: np.random.Generator) -> Sequential:
    model = Sequential([
        Input((6, 6, 2), dtype=F64),
        Conv2D(4, 3, padding="same", dtype=F64, name="conv"),
        BatchNormalization(dtype=F64, name="bn1"), ReLU(dtype=F64, name="relu1"),
        DepthwiseConv2D(3, padding="same", dtype=F64, name="dw"),
        BatchNormalization(dtype=F64, name="bn2"), ReLU(dtype=F64, name="relu2"),
        GlobalAveragePooling2D(dtype=F64, name="gap"), Dense(3, dtype=F64, name="dense")])
    for layer in model.layers:
        values = [rng.uniform(0.5, 1.5, w.shape) if w.name in ("gamma", "moving_variance")
                  else rng.standard_normal(w.shape) * 0.5 for w in layer.weights]
        if values:
            layer.set_weights(values)
    return model


def to_torch(layer: str, name: str, value: np.ndarray) -> np.ndarray:
    if layer == "conv" and name == "kernel":
        return value.transpose(3, 2, 0, 1).copy()  # HWIO -> OIHW
    if name == "depthwise_kernel":  # (KH, KW, C, 1) -> (C, 1, KH, KW)
        return value[..., 0].transpose(2, 0, 1)[:, None].copy()
    return value.copy()


def from_torch(layer: str, name: str, value: np.ndarray) -> np.ndarray:
    if layer == "conv" and name == "kernel":
        return value.transpose(2, 3, 1, 0)
    if name == "depthwise_kernel":
        return value[:, 0].transpose(1, 2, 0)[..., None]
    return value


class TorchNet:
    """The same network in torch.nn.functional (NCHW), Keras's BN conventions by hand."""

    LAYERS = ("conv", "bn1", "dw", "bn2", "dense")

    def __init__(self, torch, model, half_frozen: bool):
        self.torch, self.half_frozen = torch, half_frozen
        self.p = {}
        for layer in self.LAYERS:
            for w in model.get_layer(layer).weights:
                t = torch.tensor(to_torch(layer, w.name, w.numpy()))
                frozen = half_frozen and layer in ("conv", "bn1")
                if not (w.name.startswith("moving") or frozen):
                    t.requires_grad_(True)
                self.p[layer, w.name] = t

    def params(self):
        return [t for t in self.p.values() if t.requires_grad]

    def _bn(self, h, layer):
        p, torch = self.p, self.torch
        mm, mv = p[layer, "moving_mean"], p[layer, "moving_variance"]
        if self.half_frozen and layer == "bn1":  # a frozen BN runs in inference mode
            mean, var = mm.view(1, -1, 1, 1), mv.view(1, -1, 1, 1)
        else:
            mean = h.mean(dim=(0, 2, 3), keepdim=True)
            var = h.var(dim=(0, 2, 3), unbiased=False, keepdim=True)
            with torch.no_grad():  # Keras: moving = momentum * moving + (1 - momentum) * batch
                mm.mul_(MOMENTUM_BN).add_((1 - MOMENTUM_BN) * mean.flatten())
                mv.mul_(MOMENTUM_BN).add_((1 - MOMENTUM_BN) * var.flatten())
        scale = p[layer, "gamma"].view(1, -1, 1, 1) / torch.sqrt(var + EPS_BN)
        return (h - mean) * scale + p[layer, "beta"].view(1, -1, 1, 1)

    def loss(self, x, y):
        fn, p = self.torch.nn.functional, self.p
        h = fn.conv2d(x.permute(0, 3, 1, 2), p["conv", "kernel"], p["conv", "bias"], padding=1)
        h = fn.relu(self._bn(h, "bn1"))
        h = fn.conv2d(h, p["dw", "depthwise_kernel"], p["dw", "bias"], padding=1, groups=4)
        h = fn.relu(self._bn(h, "bn2")).mean(dim=(2, 3))
        return fn.cross_entropy(h @ p["dense", "kernel"] + p["dense", "bias"], y)


def torch_steps(torch, net: TorchNet, opt, xs, ys, adam: bool) -> None:
    kernel = net.p["dense", "kernel"]
    frozen_values = kernel.detach().clone()
    for t, (x, y) in enumerate(zip(xs, ys, strict=True), start=1):
        if adam:
            for group in opt.param_groups:
                group["eps"] = 1e-7 / math.sqrt(1 - 0.999**t)
        opt.zero_grad(set_to_none=True)
        net.loss(torch.tensor(x), torch.tensor(y)).backward()
        opt.step()
        if net.half_frozen:
            with torch.no_grad():
                kernel[:, torch.tensor(COLUMNS_FROZEN)] = frozen_values[:, COLUMNS_FROZEN]


def our_steps(model: Sequential, opt, xs, ys) -> None:
    for x, y in zip(xs, ys, strict=True):
        weights = model.trainable_weights
        for w in weights:
            w.grad = None
        ops.softmax_cross_entropy(model(x, training=True), y).backward()
        opt.apply([w.grad for w in weights], weights)


@pytest.mark.parametrize("frozen", ["full", "half_frozen"])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_three_steps_give_torchs_weights(torch, rng, name, frozen):
    model = make_model(rng)
    half = frozen == "half_frozen"
    if half:
        model.get_layer("conv").trainable = False
        model.get_layer("bn1").trainable = False
        model.get_layer("dense").set_freeze_mask("kernel", COLUMNS_FROZEN)
    net = TorchNet(torch, model, half)
    before = {(layer, w.name): w.numpy().copy() for layer in TorchNet.LAYERS
              for w in model.get_layer(layer).weights}
    xs = [rng.standard_normal((4, 6, 6, 2)) for _ in range(STEPS)]
    ys = [rng.integers(0, 3, 4) for _ in range(STEPS)]
    ours, theirs = OPTIMIZERS[name]
    opt = ours()
    our_steps(model, opt, xs, ys)
    torch_steps(torch, net, theirs(torch, net.params()), xs, ys, adam=name != "sgd_momentum")

    for layer in TorchNet.LAYERS:
        for w in model.get_layer(layer).weights:
            expected = from_torch(layer, w.name, net.p[layer, w.name].detach().numpy())
            np.testing.assert_allclose(w.numpy(), expected, rtol=1e-10, atol=1e-12,
                                       err_msg=f"{layer}/{w.name}")
            moved = not np.array_equal(w.numpy(), before[layer, w.name])
            if half and layer in ("conv", "bn1"):
                assert not moved, f"{layer}/{w.name}"
            elif (layer, w.name) not in BIAS_BEFORE_BN:  # their gradient is 0 up to rounding
                assert moved, f"{layer}/{w.name}"
    kernel = model.get_layer("dense").get_weight("kernel")
    if half:
        np.testing.assert_array_equal(kernel.numpy()[:, COLUMNS_FROZEN],
                                      before["dense", "kernel"][:, COLUMNS_FROZEN])
        assert opt.state_of(model.get_layer("conv").get_weight("kernel")) is None
    assert opt.state_of(kernel)["step"] == STEPS
