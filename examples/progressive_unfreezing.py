"""Gradual unfreezing with discriminative learning rates (ULMFiT-style), in one ``fit``.

A small CNN trunk of three blocks is first trained on a source task; a new head is then
trained on a target task while the ``ProgressiveUnfreezing`` callback unfreezes the
trunk's blocks top-down on a schedule of epochs, each with its own learning-rate
multiplier (lower blocks learn slower). BatchNormalization stays frozen throughout
(``keep_bn_frozen=True``).

A second callback measures, every epoch, which blocks' weights actually moved and by how
much (mean absolute change of the kernel), so the printout shows the schedule and the
multipliers taking effect, not only the flags being set:

    python examples/progressive_unfreezing.py [--quick] [--epochs N]
"""

from __future__ import annotations

import argparse

import numpy as np

import pyfrozen
from pyfrozen import callbacks, layers

GROUPS = ["block3_*", "block2_*", "block1_*"]  # top of the trunk first
MULTIPLIERS = [1.0, 0.3, 0.1]


def make_images(n: int, rng: np.random.Generator, task: str):
    """16x16 noise images; the class is the bright quadrant (source) or colour (target)."""
    classes = 4 if task == "source" else 3
    labels = rng.integers(0, classes, n)
    x = rng.uniform(-1.0, 1.0, (n, 16, 16, 3)).astype(np.float32)
    for k in range(classes):
        if task == "source":
            x[labels == k, 8 * (k // 2):8 * (k // 2 + 1), 8 * (k % 2):8 * (k % 2 + 1)] += 0.8
        else:
            x[labels == k, :, :, k] += 0.2
    return x, labels


def trunk() -> pyfrozen.Sequential:
    blocks = []
    for i, filters in enumerate([8, 16, 32], start=1):
        blocks += [layers.Conv2D(filters, 3, padding="same", use_bias=False,
                                 name=f"block{i}_conv"),
                   layers.BatchNormalization(name=f"block{i}_bn"),
                   layers.ReLU(name=f"block{i}_relu")]
        if i < 3:
            blocks.append(layers.MaxPooling2D(name=f"block{i}_pool"))
    blocks.append(layers.GlobalAveragePooling2D(name="gap"))
    return pyfrozen.Sequential([pyfrozen.Input((16, 16, 3)), *blocks], name="trunk")


def bn_state(base: pyfrozen.Model) -> list[np.ndarray]:
    """Every BatchNormalization weight and moving statistic of the trunk, copied."""
    return [np.array(w) for g in GROUPS for w in base.get_layer(g[:-2] + "_bn").get_weights()]


class WhatMoved(callbacks.Callback):
    """Prints per epoch: the groups the model trains, and how far each block's kernel moved."""

    def __init__(self, model: pyfrozen.Model) -> None:
        super().__init__()
        self.kernels = {g[:-2]: model.get_layer("trunk").get_layer(f"{g[:-2]}_conv")
                        for g in GROUPS}
        self.moved: list[dict[str, float]] = []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.before = {b: np.array(k.get_weights()[0]) for b, k in self.kernels.items()}

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        moved = {b: float(np.abs(k.get_weights()[0] - self.before[b]).mean())
                 for b, k in self.kernels.items()}
        self.moved.append(moved)
        training = [b for b, k in self.kernels.items() if k.trainable]
        steps = ", ".join(f"{b} {m:.1e}" for b, m in moved.items())
        print(f"epoch {epoch + 1}: training head + {training or 'nothing else'}; "
              f"mean |change| of kernels: {steps}; "
              f"lr multipliers {self.model.optimizer.lr_multipliers}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny run, for tests")
    parser.add_argument("--epochs", type=int, default=5, help="target epochs (>= 4)")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:  # smaller defaults; flags given explicitly still win
        parser.set_defaults(epochs=4, samples=256)
        args = parser.parse_args(argv)
    pyfrozen.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    base = trunk()
    source = pyfrozen.Sequential([base, layers.Dense(4, activation="softmax")])
    source.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                   metrics=["accuracy"])
    source.fit(*make_images(args.samples, rng, "source"), epochs=3, verbose=0)
    accuracy = source.evaluate(*make_images(200, rng, "source"), verbose=0)[1]
    print(f"source task: test accuracy {accuracy:.3f} (chance 0.250)")

    model = pyfrozen.Sequential([base, layers.Dense(3, activation="softmax", name="head")])
    model.compile(optimizer=pyfrozen.optimizers.Adam(1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    bn_before = bn_state(base)
    unfreeze = callbacks.ProgressiveUnfreezing(GROUPS, schedule={1: 1, 2: 2, 3: 3},
                                               lr_multipliers=MULTIPLIERS)
    x, y = make_images(args.samples, rng, "target")
    x_test, y_test = make_images(200, rng, "target")
    print(f"groups (top first) {GROUPS}, lr multipliers {MULTIPLIERS}, "
          "schedule: epoch 2 -> 1 group, 3 -> 2, 4 -> 3")
    model.fit(x, y, epochs=args.epochs, verbose=0, callbacks=[unfreeze, WhatMoved(model)])
    same = all(a.tobytes() == b.tobytes() for a, b in zip(bn_before, bn_state(base), strict=True))
    print(f"BatchNormalization weights and statistics bit-identical: {same}")
    print(f"target task: test accuracy {model.evaluate(x_test, y_test, verbose=0)[1]:.3f} "
          "(chance 0.333)")


if __name__ == "__main__":
    main()
