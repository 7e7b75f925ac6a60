"""Partial freezing: fine-tune only some output channels of a convolution.

A freeze mask (``layer.set_freeze_mask("kernel", mask)``, a boolean per output channel)
freezes most of a convolution's filters and lets a few train, with the layer itself
still trainable. The optimizer keeps the frozen elements (the mask selects, it never
multiplies, so they stay bit-identical, signed zeros included), and the convolution's
weight-gradient kernel computes only the trainable channels' gradient.
``pyfrozen.autograd.trace()`` shows it: the work count of the ``backward_weight`` pass of
the masked convolution against the same step with the whole layer trainable.

    python examples/partial_freezing.py [--quick] [--train-channels K] [--epochs N]
"""

from __future__ import annotations

import argparse

import numpy as np

import pyfrozen
from pyfrozen import layers
from pyfrozen.autograd import trace

FILTERS = 32


def make_data(n: int, rng: np.random.Generator):
    """16x16 noise images; the class is the dominant colour."""
    labels = rng.integers(0, 3, n)
    x = rng.uniform(-1.0, 1.0, (n, 16, 16, 3)).astype(np.float32)
    for k in range(3):
        x[labels == k, :, :, k] += 0.3
    return x, labels


def build() -> pyfrozen.Sequential:
    return pyfrozen.Sequential([
        pyfrozen.Input((16, 16, 3)),
        layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
        layers.MaxPooling2D(name="pool"),
        layers.Conv2D(FILTERS, 3, padding="same", name="conv2"),
        layers.ReLU(name="relu2"),
        layers.GlobalAveragePooling2D(name="gap"),
        layers.Dense(3, activation="softmax", name="head"),
    ])


def step_work(model: pyfrozen.Model, x: np.ndarray, y: np.ndarray) -> dict[str, dict]:
    """Kernel work of conv1 and conv2 in one training step, per pass."""
    with trace() as t:
        model.train_on_batch(x, y)
    return {name: {r.pass_: r.work for r in t.ran(layer=name)} for name in ("conv1", "conv2")}


def bits(a: np.ndarray) -> np.ndarray:
    """The raw bits: equal bits mean bit-identical (-0.0 differs from 0.0, NaN equals NaN)."""
    return np.ascontiguousarray(a).view(np.uint32)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny run, for tests")
    parser.add_argument("--train-channels", type=int, default=8,
                        help=f"output channels of conv2 that train (of {FILTERS})")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:  # smaller defaults; flags given explicitly still win
        parser.set_defaults(epochs=6, samples=320)
        args = parser.parse_args(argv)
    pyfrozen.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x, y = make_data(args.samples, rng)
    x_test, y_test = make_data(300, rng)

    model = build()
    model.get_layer("conv1").trainable = False
    model.compile(optimizer=pyfrozen.optimizers.Adam(1e-2),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    full = step_work(model, x[:32], y[:32])["conv2"]  # a step with all of conv2 training

    conv = model.get_layer("conv2")
    frozen = np.arange(FILTERS) >= args.train_channels  # output channels (last axis)
    conv.set_freeze_mask("kernel", frozen)
    conv.set_freeze_mask("bias", frozen)
    kernel_before, bias_before = (np.array(w) for w in conv.get_weights())
    work = step_work(model, x[:32], y[:32])
    masked = work["conv2"]
    print(f"conv2: {args.train_channels} of {FILTERS} output channels train")
    print(f"conv2 weight-gradient work per step: {masked['backward_weight']:,} with the mask, "
          f"{full['backward_weight']:,} without (ratio "
          f"{masked['backward_weight'] / full['backward_weight']:.3f}); "
          f"forward work {masked['forward']:,} either way")
    print(f"conv1 (a frozen layer, at the bottom) kernels run: {work['conv1']}")

    history = model.fit(x, y, batch_size=32, epochs=args.epochs, verbose=0)
    kernel, bias = (np.array(w) for w in conv.get_weights())
    same = (np.array_equal(bits(kernel[..., frozen]), bits(kernel_before[..., frozen]))
            and np.array_equal(bits(bias[frozen]), bits(bias_before[frozen])))
    moved = (kernel[..., ~frozen] != kernel_before[..., ~frozen]).mean()
    print(f"frozen channels (kernel and bias) bit-identical: {same}; "
          "trainable channels' kernel weights changed: "
          f"{moved:.0%}")
    print(f"loss {history.history['loss'][0]:.3f} -> {history.history['loss'][-1]:.3f}; "
          f"test accuracy {model.evaluate(x_test, y_test, verbose=0)[1]:.3f} (chance 0.333)")



if __name__ == "__main__":
    main()
