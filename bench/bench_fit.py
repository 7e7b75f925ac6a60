"""``fit``'s own overhead: one ``fit`` epoch against the same steps written by hand.

MobileNet V1 (alpha 0.25, 96x96x3, no top) + GlobalAveragePooling2D + Dense(10) logits,
batch 16, float32, 1 thread, random data of ``BATCHES`` batches. Both sides run the same
work per batch: forward in training mode, ``SparseCategoricalCrossentropy(from_logits=True)``,
backward, ``optimizers.SGD.apply`` on the trainable weights, gradients reset. What differs
is only what ``fit`` adds around it: the data adapter and batching, ``train_step``'s
bookkeeping (weight walk, BN state copy, loss tracker, metric results), callbacks and
History. Two models built from the same seed, one per side, so neither sees the other's
optimizer state.

Three functions interleaved in one process (hand, fit, fit shuffled, hand, ...; ``ROUNDS``
rounds), one epoch per call; reported: median ms per epoch and the per-round ratio fit / hand
(median, min-max). ``fit(shuffle=False)`` visits the batches in the hand loop's order;
``fit(shuffle=True)`` (Keras's default) also gathers each shuffled batch. Target (issue
11): within 3 %. Run it from outside the repository root, pinned::

    cd /tmp && taskset -c 0 python /path/to/bench/bench_fit.py --markdown
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    interleave,
    machine_line,
    measured,
    optional_torch,
    ratio_stats,
    set_threads,
    table,
    time_group,
    warm_up,
)

import pyfrozen  # noqa: E402
from pyfrozen import losses, optimizers  # noqa: E402

BATCH, SIZE, ALPHA, CLASSES, BATCHES = 16, 96, 0.25, 10, 4
LEARNING_RATE = 1e-3
TARGET = 1.03  # fit / hand
ROUNDS = 41  # an epoch is ~0.1 s: more rounds than time_group's 4 s give, for a steadier median


def data() -> tuple[np.ndarray, np.ndarray]:
    """``BATCHES`` batches of random NHWC images in [-1, 1] and integer labels."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (BATCHES * BATCH, SIZE, SIZE, 3)).astype(np.float32)
    return x, rng.integers(0, CLASSES, BATCHES * BATCH).astype(np.int64)


def build() -> Any:
    """MobileNet 0.25 + GlobalAveragePooling2D + Dense(10), from a fixed seed."""
    from pyfrozen.applications import MobileNet
    from pyfrozen.layers import Dense, GlobalAveragePooling2D

    pyfrozen.utils.set_random_seed(0)
    base = MobileNet(input_shape=(SIZE, SIZE, 3), alpha=ALPHA, include_top=False)
    inputs = pyfrozen.Input((SIZE, SIZE, 3))
    pooled = GlobalAveragePooling2D(name="gap")(base(inputs))
    return pyfrozen.Model(inputs, Dense(CLASSES, name="head")(pooled))


def loss_fn() -> Any:
    return losses.SparseCategoricalCrossentropy(from_logits=True)


def hand_epoch(x: np.ndarray, y: np.ndarray) -> Callable[[], object]:
    """The training loop a user would write: one call runs every batch once, in order."""
    model = build()
    loss_of = loss_fn()
    optimizer = optimizers.SGD(learning_rate=LEARNING_RATE)
    batches = [(x[i:i + BATCH], y[i:i + BATCH]) for i in range(0, len(x), BATCH)]

    def step(xb: np.ndarray, yb: np.ndarray) -> float:
        # A function per step, as train_step: the step's graph dies with its locals
        # instead of living on through the next step's forward.
        weights = model.trainable_weights  # re-read each step, as fit does
        loss = loss_of(yb, model(pyfrozen.tensor(xb), training=True))
        loss.backward()
        optimizer.apply([w.grad for w in weights], weights)
        for w in weights:
            w.grad = None
        return float(loss.data)

    def epoch() -> object:
        return [step(xb, yb) for xb, yb in batches]
    return epoch


def fit_epoch(x: np.ndarray, y: np.ndarray, shuffle: bool) -> Callable[[], object]:
    """``model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=shuffle)``."""
    model = build()
    model.compile(optimizers.SGD(learning_rate=LEARNING_RATE), loss_fn())

    def epoch() -> object:
        return model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, shuffle=shuffle)
    return epoch


def timed(fns: dict[str, Callable[[], object]], quick: bool) -> dict[str, list[float]]:
    """Seconds per epoch, interleaved: ``time_group`` when quick, else ``ROUNDS`` rounds."""
    if quick:
        return time_group(fns, quick)
    for fn in fns.values():
        warm_up(fn)
    return interleave(fns, ROUNDS, dict.fromkeys(fns, 1))


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few rounds (smoke test)")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    torch = optional_torch()  # only for the machine line
    limiter = set_threads(1, torch)
    x, y = data()
    fns = {"hand": hand_epoch(x, y), "fit": fit_epoch(x, y, shuffle=False),
           "fit_shuffled": fit_epoch(x, y, shuffle=True)}
    samples, load = measured(lambda: timed(fns, args.quick))
    hand = samples["hand"]
    rows = []
    for name, label in (("hand", "hand-written loop"), ("fit", "fit(shuffle=False)"),
                        ("fit_shuffled", "fit(shuffle=True)")):
        ms = np.median(samples[name]) * 1e3
        ratio = ratio_stats(hand, samples[name])
        verdict = "" if name == "hand" else ("ok" if ratio.median <= TARGET else "MISSED")
        rows.append([label, f"{ms:.1f}", f"{ms / BATCHES:.1f}",
                     "1" if name == "hand" else ratio.fmt(3, "x"), verdict])
    print(f"Machine: {machine_line(1, torch)}\n")
    headers = ["epoch of 4 batches", "ms / epoch", "ms / step", "fit / hand",
               f"<= {TARGET:g}x"]
    print(table(headers, rows, args.markdown))
    print(f"\n{len(hand)} rounds, interleaved in one process, 1 thread. Ratio: median (min-max) "
          f"of per-round fit time / hand-loop time. Other processes' CPU use meanwhile "
          f"(here/all/steal, % of one CPU): {load.fmt()}.")
    del limiter


if __name__ == "__main__":
    main()
