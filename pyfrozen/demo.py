"""The main job: transfer learning on the bundled digits, with a frozen trunk.

1. Pretrain a small CNN (conv, BatchNorm, depthwise conv, pointwise conv, dense) on
   digits 0-4.
2. Reuse its trunk for digits 5-9: freeze it (``trunk.trainable = False``, called with
   ``training=False``), put a new head on top and train only the head on 10 images
   per class.
3. Show what freezing saved, as measured: the kernels one training step ran and the
   bytes its tape kept, frozen trunk against the same model fully trainable.

The training loop is written out with the autograd API and ``optimizers.SGD``
(``compile``/``fit`` come later): the optimizer updates only trainable weights.
"""

from __future__ import annotations

import random
import time

import numpy as np

from pyfrozen import ops, optimizers
from pyfrozen.autograd import trace
from pyfrozen.datasets import load_digits
from pyfrozen.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Flatten,
    Input,
    ReLU,
)
from pyfrozen.models import Model, Sequential


def make_trunk() -> Sequential:
    """Conv-BN-ReLU6, depthwise (stride 2)-BN-ReLU6, pointwise-BN-ReLU6, flatten.

    BatchNormalization momentum 0.9 instead of Keras's 0.99: with a few hundred steps
    the moving statistics must catch up with the batch statistics quickly.
    """
    return Sequential([
        Input((8, 8, 1)),
        Conv2D(16, 3, padding="same", use_bias=False, name="conv1"),
        BatchNormalization(momentum=0.9, name="conv1_bn"),
        ReLU(6.0, name="conv1_relu"),
        DepthwiseConv2D(3, padding="same", strides=2, use_bias=False, name="conv_dw"),
        BatchNormalization(momentum=0.9, name="conv_dw_bn"),
        ReLU(6.0, name="conv_dw_relu"),
        Conv2D(32, 1, use_bias=False, name="conv_pw"),
        BatchNormalization(momentum=0.9, name="conv_pw_bn"),
        ReLU(6.0, name="conv_pw_relu"),
        Flatten(name="flatten"),
    ], name="trunk")


def with_head(trunk: Model, classes: int, training_trunk: bool | None) -> Model:
    inputs = Input((8, 8, 1))
    features = trunk(inputs, training=training_trunk)
    return Model(inputs, Dense(classes, name="head")(features), name="classifier")


def train(model: Model, x: np.ndarray, y: np.ndarray, epochs: int, batch: int = 32) -> float:
    """Minibatch training on softmax cross-entropy; returns the last epoch's mean loss."""
    rng = np.random.default_rng(0)
    optimizer = optimizers.SGD(learning_rate=0.1, momentum=0.9)
    losses: list[float] = []
    for _ in range(epochs):
        order = rng.permutation(len(x))
        losses = []
        for start in range(0, len(x), batch):
            idx = order[start:start + batch]
            loss = ops.softmax_cross_entropy(model(x[idx], training=True), y[idx])
            loss.backward()
            weights = model.trainable_weights
            optimizer.apply([w.grad for w in weights], weights)
            for w in weights:
                w.grad = None
            losses.append(loss.item())
    return float(np.mean(losses))


def accuracy(model: Model, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(model.predict(x).argmax(axis=1) == y))


def one_step_trace(model: Model, x: np.ndarray, y: np.ndarray) -> tuple[object, float]:
    """The trace of one training step, and its median time in milliseconds."""
    times = []
    for _ in range(20):
        start = time.perf_counter()
        ops.softmax_cross_entropy(model(x, training=True), y).backward()
        times.append(time.perf_counter() - start)
        for p in model.weights:
            p.grad = None
    with trace() as t:
        ops.softmax_cross_entropy(model(x, training=True), y).backward()
    for p in model.weights:
        p.grad = None
    return t, 1e3 * float(np.median(times))


def run_demo() -> float:
    """Runs the three stages, prints what happened; returns the transfer accuracy."""
    random.seed(0)  # unseeded initializers draw their seeds from Python's random
    digits = load_digits()
    x = (digits.images[..., None] / 16.0).astype(np.float32)
    y = digits.target
    source, target = y < 5, y >= 5
    xs, ys = x[source], y[source]
    xt, yt = x[target], y[target] - 5

    trunk = make_trunk()
    pretrain = with_head(trunk, 5, training_trunk=None)
    loss = train(pretrain, xs[:800], ys[:800], epochs=15)
    print(f"1. pretrained on digits 0-4: loss {loss:.3f}, held-out accuracy "
          f"{accuracy(pretrain, xs[800:], ys[800:]):.3f}")

    few = np.concatenate([np.flatnonzero(yt == k)[:10] for k in range(5)])
    rest = np.setdiff1d(np.arange(len(xt)), few)
    trunk.trainable = False
    transfer = with_head(trunk, 5, training_trunk=False)
    trunk_before = [w.data.copy() for w in trunk.weights]
    train(transfer, xt[few], yt[few], epochs=60, batch=10)
    unchanged = all(np.array_equal(a, w.data) for a, w in zip(trunk_before, trunk.weights,
                                                               strict=True))
    acc = accuracy(transfer, xt[rest], yt[rest])
    print(f"2. frozen trunk + new head on digits 5-9 from 10 images per class: accuracy "
          f"{acc:.3f} on the other {len(rest)}; trunk weights (BN statistics included) "
          f"bit-identical: {unchanged}")
    s = transfer.summary(print_fn=lambda text: None)
    pixels = Sequential([Input((8, 8, 1)), Flatten(), Dense(5)])
    train(pixels, xt[few], yt[few], epochs=60, batch=10)
    print(f"   trainable params {s.trainable_params:,} of {s.total_params:,} (for reference, "
          f"a linear classifier on the raw pixels of the same 50 images: accuracy "
          f"{accuracy(pixels, xt[rest], yt[rest]):.3f})")

    frozen_trace, frozen_ms = one_step_trace(transfer, xt[:64], yt[:64])
    trunk.trainable = True
    full = with_head(trunk, 5, training_trunk=None)
    full_trace, full_ms = one_step_trace(full, xt[:64], yt[:64])
    passes = sorted({r.pass_ for r in frozen_trace.ran(layer="conv1")})
    print("3. one training step, batch 64 (measured with pyfrozen.autograd.trace):")
    print(f"   frozen trunk: {frozen_trace.nodes} recorded ops, {frozen_trace.saved_bytes:,} "
          f"bytes saved for backward, {frozen_ms:.2f} ms; conv1 ran {passes}")
    print(f"   all trainable: {full_trace.nodes} recorded ops, {full_trace.saved_bytes:,} "
          f"bytes saved for backward, {full_ms:.2f} ms")
    return acc
