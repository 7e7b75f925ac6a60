"""The train suite's workloads: MobileNet V1 in pyfrozen (public compile / train_on_batch /
fit) and the same network with the same initial weights in torch (channels_last).

Configurations (``CONFIGS``): inference; full step; base frozen; top 2 blocks + head
trainable; the prefix cache (base frozen, ``fit(cache_frozen_features=True)``). The
networks come from ``bench_freezing`` (``pyfrozen_model``, ``torch_model``); pyfrozen's
initial weights are copied into torch, so both start from the same point.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from bench_freezing import CLASSES, pyfrozen_model, torch_model, torch_sgd_step
from bench_prefix_cache import EpochTimes

LEARNING_RATE, MOMENTUM = 1e-3, 0.9
TOP2_FREEZE_UNTIL = "conv_pw_11_relu"  # blocks 12 and 13 and the head train
CONFIGS = {
    "inference": "inference (predict_on_batch)",
    "full": "full step",
    "frozen": "base frozen",
    "top2": "top 2 blocks + head",
    "cached": "prefix cache (base frozen, cached features)",
}
FREEZING = {"inference": "forward", "full": "a", "frozen": "b", "top2": "c", "cached": "b"}
"""Each configuration as ``bench_freezing``'s model configuration."""
CACHE_BATCHES, CACHE_EPOCHS = 4, 4  # the cached fit: batches per epoch, epochs (first = warm)


@dataclass(frozen=True)
class Shape:
    """One network and batch: MobileNet width ``alpha``, ``size`` x ``size`` images."""

    alpha: float
    size: int
    batch: int

    def label(self) -> str:
        return f"MobileNet V1 alpha {self.alpha:g}, {self.size}x{self.size}, batch {self.batch}"

    def arg(self) -> str:
        return f"{self.alpha:g},{self.size},{self.batch}"

    @classmethod
    def parse(cls, text: str) -> Shape:
        alpha, size, batch = text.split(",")
        return cls(float(alpha), int(size), int(batch))


FULL_SHAPES = (Shape(1.0, 96, 32), Shape(0.25, 96, 32))
QUICK_SHAPES = (Shape(0.25, 64, 4),)  # a smoke test: every table, a few seconds a child


def data(shape: Shape, batches: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Random NHWC images in [-1, 1] and integer labels, the same for both libraries."""
    rng = np.random.default_rng(0)
    n = shape.batch * batches
    x = rng.uniform(-1, 1, (n, shape.size, shape.size, 3)).astype(np.float32)
    return x, rng.integers(0, CLASSES, n).astype(np.int64)


def pyfrozen_compiled(config: str, shape: Shape) -> Any:
    """The pyfrozen model for ``config``, compiled with SGD (momentum 0.9)."""
    import pyfrozen
    from pyfrozen import losses, optimizers

    pyfrozen.utils.set_random_seed(0)
    model = pyfrozen_model(FREEZING[config], shape.alpha, shape.size, TOP2_FREEZE_UNTIL)
    model.compile(optimizers.SGD(learning_rate=LEARNING_RATE, momentum=MOMENTUM),
                  losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def pyfrozen_step(model: Any, config: str, shape: Shape) -> Callable[[], object]:
    """One call of the public API: ``predict_on_batch`` or ``train_on_batch``."""
    x, y = data(shape)
    if config == "inference":
        return lambda: model.predict_on_batch(x)
    return lambda: model.train_on_batch(x, y)


def pyfrozen_cached_steps(model: Any, shape: Shape) -> list[float]:
    """Seconds per step of a cached fit's epochs after the first (fill and warm-up)."""
    x, y = data(shape, CACHE_BATCHES)
    timer = EpochTimes(time.perf_counter())
    model.fit(x, y, batch_size=shape.batch, epochs=CACHE_EPOCHS, verbose=0, shuffle=False,
              callbacks=[timer], cache_frozen_features=True)
    return [t / CACHE_BATCHES for t in timer.epochs[1:]]


def copy_weights(model: Any, torch_net: Any, torch: Any) -> None:
    """pyfrozen's weights into the torch network, layer by layer (same names)."""
    layers = {layer.name: layer for layer in model.layers[1].layers}
    layers["head"] = model.get_layer("head")
    modules = dict(torch_net.base.named_children())
    modules["head"] = torch_net.head
    with torch.no_grad():
        for name, module in modules.items():
            weights = layers[name].get_weights() if name in layers else []
            if not weights:
                continue
            if isinstance(module, torch.nn.Conv2d):
                # HWIO (conv) or HW C 1 (depthwise) -> OIHW / C 1 H W.
                order = (2, 3, 0, 1) if module.groups > 1 else (3, 2, 0, 1)
                module.weight.copy_(torch.from_numpy(weights[0].transpose(order).copy()))
            elif isinstance(module, torch.nn.BatchNorm2d):
                for t, w in zip((module.weight, module.bias, module.running_mean,
                                 module.running_var), weights, strict=True):
                    t.copy_(torch.from_numpy(w))
            else:  # Linear: kernel (in, out) -> weight (out, in)
                module.weight.copy_(torch.from_numpy(weights[0].T.copy()))
                module.bias.copy_(torch.from_numpy(weights[1]))


def torch_step(torch: Any, model: Any, config: str, shape: Shape) -> Callable[[], object]:
    """torch's counterpart of ``config`` on a network holding ``model``'s weights.

    ``cached``: the base's features computed once under no_grad, then a head step on
    them (what a torch user writes to get the prefix cache's saving).
    """
    net = torch_model(torch, FREEZING[config], shape.alpha, TOP2_FREEZE_UNTIL)
    copy_weights(model, net, torch)
    x_np, y_np = data(shape)
    x, y = torch.from_numpy(x_np).permute(0, 3, 1, 2), torch.from_numpy(y_np)
    if config == "inference":
        def forward() -> object:
            with torch.no_grad():
                return net(x)
        return forward
    if config == "cached":
        with torch.no_grad():
            features = net.flatten(net.gap(net.base(x)))
        return torch_sgd_step(torch, lambda: net.head(features), list(net.head.parameters()),
                              y, MOMENTUM)
    params = [p for p in net.parameters() if p.requires_grad]
    return torch_sgd_step(torch, lambda: net(x), params, y, MOMENTUM)
