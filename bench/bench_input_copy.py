"""What protecting caller-owned input arrays costs a training step (issue 10).

While grad recording is on, a layer or model given a numpy array computes on a private
copy of it (``pyfrozen.layers.layer.to_tensor``), so a caller who reuses the buffer
before ``backward()`` cannot make the gradient silently wrong; with recording off
(``predict``, ``no_grad``) the array is still used without a copy. This script times
one training step (``bench_freezing``'s: forward, softmax cross-entropy, backward,
plain SGD) fed

* ``copied``: the numpy array itself (the protected path: one copy of the batch per step),
* ``shared``: ``Tensor.from_numpy(array)`` (no copy: what every step cost before),

interleaved in one process (A B A B, ``time_pair``), and the bare copy of the batch.
Two models bracket the range: a small MLP (64-64-10 Dense, batch 32), where the step
is cheapest and the copy weighs most, and MobileNet V1 (alpha 0.25, 96x96x3, no top)
+ GlobalAveragePooling2D + Dense(10), batch 16, all trainable. Run it from outside the
repository root, pinned to one core::

    cd /tmp && taskset -c 0 python /path/to/bench/bench_input_copy.py --markdown
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_freezing import pyfrozen_sgd_step  # noqa: E402
from common import (  # noqa: E402
    Stats,
    machine_line,
    measured,
    repeat,
    set_threads,
    table,
    time_pair,
    warm_up,
)

import pyfrozen  # noqa: E402
from pyfrozen.layers import Dense, GlobalAveragePooling2D, Input  # noqa: E402
from pyfrozen.models import Model, Sequential  # noqa: E402


def mlp() -> tuple[Any, tuple[int, ...]]:
    model = Sequential([Input((64,)), Dense(64, activation="relu"), Dense(10)])
    return model, (32, 64)


def mobilenet() -> tuple[Any, tuple[int, ...]]:
    from pyfrozen.applications import MobileNet

    base = MobileNet(input_shape=(96, 96, 3), alpha=0.25, include_top=False)
    inputs = Input((96, 96, 3))
    pooled = GlobalAveragePooling2D()(base(inputs))
    return Model(inputs, Dense(10)(pooled)), (16, 96, 96, 3)


def train_step(model: Any, x: Any, labels: np.ndarray) -> Callable[[], object]:
    return pyfrozen_sgd_step(lambda: model(x, training=True), model.trainable_weights, labels)


CASES = [("MLP 64-64-10, batch 32", mlp), ("MobileNet 0.25 96x96, batch 16", mobilenet)]


def copy_us(x: np.ndarray, quick: bool) -> Stats:
    def copy() -> object:
        return x.copy()

    per = warm_up(copy)
    number = max(1, round(0.02 / max(per, 1e-9)))
    return Stats.of([t * 1e6 for t in repeat(copy, 5 if quick else 21, number)])


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few rounds (smoke test)")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--copy-only", metavar="SHAPE",
                    help="only time the bare copy of a float32 batch of this shape, e.g. "
                         "32,224,224,3 (a batch whose training step is too slow to time here)")
    args = ap.parse_args(argv)
    if args.copy_only:
        shape = tuple(int(d) for d in args.copy_only.split(","))
        x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
        stats, load = measured(lambda: copy_us(x, args.quick))
        print(f"Machine: {machine_line(1)}\n\n{shape} float32, {x.nbytes / 1e6:.1f} MB: copy "
              f"{stats.fmt(1, ' us')} (median (min-max) of {stats.n}), load {load.all:.0f} %")
        return
    limiter = set_threads(1)
    rng = np.random.default_rng(0)
    rows = []
    for name, make in CASES:
        model, shape = make()
        x = rng.uniform(-1, 1, shape).astype(np.float32)
        labels = rng.integers(0, 10, shape[0]).astype(np.int64)
        copied = train_step(model, x, labels)
        shared = train_step(model, pyfrozen.Tensor.from_numpy(x), labels)
        (c, s, r), load = measured(lambda c=copied, s=shared: time_pair(c, s, args.quick))
        copy = copy_us(x, args.quick)
        rows.append([name, f"{x.nbytes / 1e6:.2f}", copy.fmt(1),
                     f"{copy.median / (s.median * 1e6) * 100:.2f}", f"{c.median * 1e3:.3f}",
                     f"{s.median * 1e3:.3f}", r.fmt(3, "x"), f"{load.all:.0f}"])
    print(f"Machine: {machine_line(1)}\n")
    headers = ["step", "batch MB", "copy us", "copy % of step", "copied ms", "shared ms",
               "shared/copied", "load %"]
    print(table(headers, rows, args.markdown))
    print("\ncopy us: median (min-max) of the bare batch copy; copy % of step: that over the "
          "shared step's median. copied: the step given the "
          "numpy array (protected, one copy); shared: given Tensor.from_numpy of it (no copy). "
          "Ratio: median (min-max) of per-round shared / copied time, interleaved in one "
          "process, 1 thread (< 1: the copy costs). Load: other processes' CPU use (% of one "
          "CPU) while the pair was timed.")
    del limiter


if __name__ == "__main__":
    main()
