"""The frozen-prefix cache: a training epoch with a frozen base, cached vs uncached vs torch.

MobileNet V1 (alpha 0.25, 96x96x3, no top, frozen) + GlobalAveragePooling2D + Dense(10)
logits; ``SAMPLES`` random images, batch 32, SGD, shuffled epochs, 1 thread.
- pyfrozen uncached: ``fit(epochs=1)`` per call (the frozen base runs tape-free, every step);
- pyfrozen cached: ``fit(cache_frozen_features=True)``: the base runs once per sample
  when fit starts ("fill"), then every epoch trains the head on the cached features;
- torch uncached: the same network (bench_freezing's, channels_last), the base with
  ``requires_grad_(False)`` + ``eval()``, one epoch of the same batches;
- torch cached by hand: the base's features computed once under ``no_grad``, then the
  head trained on them (what a torch user writes to get the same saving).
Epoch functions are interleaved round-robin; the fill is timed on its own. Run pinned,
from outside the repository root::

    cd /tmp && taskset -c 0 python /path/to/bench/bench_prefix_cache.py --markdown
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_freezing import torch_model  # noqa: E402
from common import (  # noqa: E402
    Stats,
    machine_line,
    measured,
    optional_torch,
    ratio_stats,
    set_threads,
    table,
    time_group,
)

import pyfrozen  # noqa: E402
from pyfrozen import losses, optimizers  # noqa: E402

SAMPLES, BATCH, SIZE, ALPHA, CLASSES = 256, 32, 96, 0.25, 10
LEARNING_RATE = 1e-3


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (SAMPLES, SIZE, SIZE, 3)).astype(np.float32)
    return x, rng.integers(0, CLASSES, SAMPLES).astype(np.int64)


def build() -> Any:
    from pyfrozen.applications import MobileNet
    from pyfrozen.layers import Dense, GlobalAveragePooling2D

    pyfrozen.utils.set_random_seed(0)
    base = MobileNet(input_shape=(SIZE, SIZE, 3), alpha=ALPHA, include_top=False)
    base.trainable = False
    inputs = pyfrozen.Input((SIZE, SIZE, 3))
    pooled = GlobalAveragePooling2D(name="gap")(base(inputs, training=False))
    model = pyfrozen.Model(inputs, Dense(CLASSES, name="head")(pooled))
    model.compile(optimizers.SGD(learning_rate=LEARNING_RATE),
                  losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


class EpochTimes(pyfrozen.callbacks.Callback):
    """Wall-clock seconds of each epoch and of fit's start (the cache fill)."""

    def __init__(self, started: float) -> None:
        super().__init__()
        self.started, self.epochs, self.fill = started, [], 0.0

    def on_train_begin(self, logs: Any = None) -> None:
        self.fill = time.perf_counter() - self.started

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.epochs.append(time.perf_counter() - self.t0)


def pyfrozen_uncached(x: np.ndarray, y: np.ndarray) -> Callable[[], object]:
    model = build()
    return lambda: model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)


def pyfrozen_cached(x: np.ndarray, y: np.ndarray, epochs: int) -> EpochTimes:
    """One cached fit of ``epochs`` epochs; its fill time and epoch times."""
    model = build()
    timer = EpochTimes(time.perf_counter())
    model.fit(x, y, batch_size=BATCH, epochs=epochs, verbose=0, callbacks=[timer],
              cache_frozen_features=True)
    return timer


def torch_epochs(torch: Any, x: np.ndarray, y: np.ndarray) -> dict[str, Callable[[], object]]:
    """torch's uncached epoch and its hand-cached epoch (features computed here, once)."""
    model = torch_model(torch, "b")
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)  # NHWC memory as channels_last NCHW
    yt = torch.from_numpy(y)
    head_params = list(model.head.parameters())
    opt = torch.optim.SGD(head_params, lr=LEARNING_RATE)
    cross_entropy = torch.nn.functional.cross_entropy
    with torch.no_grad():
        features = torch.cat([model.flatten(model.gap(model.base(xt[i:i + BATCH])))
                              for i in range(0, SAMPLES, BATCH)])

    def epoch(forward: Callable[[Any], Any]) -> Callable[[], object]:
        def run() -> object:
            for index in torch.randperm(SAMPLES).split(BATCH):
                loss = cross_entropy(forward(index), yt[index])
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
            return loss
        return run

    def uncached(index: Any) -> Any:
        with torch.no_grad():
            pooled = model.flatten(model.gap(model.base(xt[index])))
        return model.head(pooled)

    return {"torch": epoch(uncached), "torch_cached": epoch(lambda i: model.head(features[i]))}


def ms(seconds: Sequence[float]) -> Stats:
    return Stats.of([s * 1e3 for s in seconds])


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few rounds (smoke test)")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    torch = optional_torch()
    limiter = set_threads(1, torch)
    x, y = data()
    epochs = 3 if args.quick else 8
    cached_runs = [pyfrozen_cached(x, y, epochs) for _ in range(2 if args.quick else 5)]
    fns = {"uncached": pyfrozen_uncached(x, y)}
    if torch is not None:
        fns.update(torch_epochs(torch, x, y))
    samples, load = measured(lambda: time_group(fns, args.quick))
    cached = [t for run in cached_runs for t in run.epochs[1:]]  # the first warms up
    fill = ms([run.fill for run in cached_runs])
    rows = [["pyfrozen, uncached", ms(samples["uncached"]).fmt(1), "1"],
            ["pyfrozen, cached", ms(cached).fmt(2),
             f"{np.median(samples['uncached']) / np.median(cached):.0f}x"],
            ["pyfrozen, cache fill (once per fit)", fill.fmt(1), ""]]
    if torch is not None:
        for name, label in (("torch", "torch, uncached"),
                            ("torch_cached", "torch, cached by hand")):
            ratio = ratio_stats(samples["uncached"], samples[name])
            rows.append([label, ms(samples[name]).fmt(2),
                         f"{np.median(samples['uncached']) / np.median(samples[name]):.2g}x"
                         f" (torch / ours uncached {ratio.fmt(2, 'x')})"])
    print(f"Machine: {machine_line(1, torch)}\n")
    print(table([f"epoch of {SAMPLES} samples, batch {BATCH}", "ms / epoch (median, min-max)",
                 "speed-up over pyfrozen uncached"], rows, args.markdown))
    print(f"\nCached epochs: {len(cached)} from {len(cached_runs)} fits of {epochs} epochs "
          "(each fit's first epoch left out). Other processes' CPU use meanwhile "
          f"(here/all/steal, % of one CPU): {load.fmt()}.")
    del limiter


if __name__ == "__main__":
    main()
