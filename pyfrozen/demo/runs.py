"""The demo's six runs. Each is a top-level function that `measure.in_own_process` runs in a
fresh process: it rebuilds its data and networks from the config (and the weight files the
earlier runs wrote), trains with ``compile`` / ``fit``, and returns a `RunResult`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

import pyfrozen
from pyfrozen import optimizers
from pyfrozen.demo.config import DemoConfig
from pyfrozen.demo.data import Split, source_task, target_task
from pyfrozen.demo.measure import (
    EpochTimer,
    FitMemory,
    RunResult,
    peak_rss_bytes,
    snapshot,
    unchanged,
)
from pyfrozen.demo.network import linear_model, mobilenet_like, transfer_model, unfreeze_names
from pyfrozen.utils import set_random_seed

LOSS = "sparse_categorical_crossentropy"
SOURCE_FILE = "letters.keras"
PHASE1_FILE = "phase1.safetensors"


def _setup(config: DemoConfig, run: int) -> None:
    """Same threads and ISA as the parent asked for; a seed of its own for each run."""
    if config.threads is not None:
        pyfrozen.set_num_threads(config.threads)
    if config.isa is not None:
        pyfrozen.set_isa(config.isa)
    set_random_seed(config.seed * 16 + run)


def _quiet(text: str) -> None:
    """A print_fn for summary(): the counts are reported, not the table."""


def _accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(model.predict(x, batch_size=256, verbose=0).argmax(axis=1) == y))


def _train(result: RunResult, model: Any, task: Split, epochs: int, batch_size: int,
           cache: bool = False, verbose: int = 0) -> None:
    """fit (with its progress bar if ``verbose``); fills the result's history, epoch times,
    memory and test accuracy. The target runs have many epochs of ten steps each: their
    bars would fill screens, so the report prints their curves in one line instead."""
    counts = model.summary(print_fn=_quiet)
    result.trainable, result.non_trainable = counts.trainable_params, counts.non_trainable_params
    timer = EpochTimer()
    validation = (task.x_val, task.y_val) if len(task.x_val) else None
    lifetime_peak, memory = peak_rss_bytes(), FitMemory()
    memory.start()  # may lower the kernel's peak: lifetime_peak keeps what was before
    history = model.fit(task.x_train, task.y_train, batch_size=batch_size, epochs=epochs,
                        validation_data=validation, callbacks=[timer], verbose=verbose,
                        cache_frozen_features=cache)
    result.grown, result.fit_start_rss = memory.stop(), memory.before
    peaks = [p for p in (lifetime_peak, peak_rss_bytes()) if p is not None]
    result.peak_rss = max(peaks) if peaks else None
    result.history = {k: [float(v) for v in vs] for k, vs in history.history.items()}
    result.epoch_seconds = timer.seconds
    result.test_accuracy = _accuracy(model, task.x_test, task.y_test)


def _adam(learning_rate: float) -> Any:
    return optimizers.Adam(learning_rate=learning_rate)


def _load_source(out: Path) -> Any:
    """The source network as saved: architecture and weights from the Keras 3 file."""
    return pyfrozen.saving.load_model(str(out / SOURCE_FILE))


def source_run(config: DemoConfig) -> RunResult:
    """1. The CNN on the letters, all of it trained; saved to ``letters.keras`` (a Keras 3
    file: ``keras.saving.load_model`` reads it too)."""
    _setup(config, 1)
    task = source_task(config.seed, config.source_per_class)
    model = mobilenet_like(len(task.classes), "letters")
    model.compile(_adam(config.source_lr), LOSS, metrics=["accuracy"])
    result = RunResult("source", "source task: the CNN on 26 letters")
    _train(result, model, task, config.source_epochs, config.source_batch_size, verbose=1)
    model.save(str(config.out / SOURCE_FILE))
    result.notes.append(f"{len(task.x_train):,} training letters; accuracy on "
                        f"{len(task.x_test):,} held-out letters; model saved to "
                        f"{config.out / SOURCE_FILE}")
    return result


def phase1_run(config: DemoConfig) -> RunResult:
    """2a. Feature extraction: the loaded base frozen, a new head trained on cached features."""
    _setup(config, 2)
    task = target_task(config.seed, config.shots, config.val_per_class)
    model = transfer_model(_load_source(config.out), len(task.classes))
    base = model.get_layer("base")
    before = snapshot(base.weights)
    model.compile(_adam(config.head_lr), LOSS, metrics=["accuracy"])
    model.summary()
    result = RunResult("phase1", "phase 1: frozen base + new head (cached features)")
    _train(result, model, task, config.phase1_epochs, config.batch_size, cache=True)
    result.checks["base bit-identical"] = unchanged(before, base.weights)
    values = sum(w.numpy().size for w in base.weights)
    result.notes.append(f"all {len(base.weights)} arrays of the base ({values:,} values: "
                        "convolution kernels, BN gamma/beta and moving mean/variance) "
                        "bit-identical after phase 1: "
                        f"{'yes' if result.checks['base bit-identical'] else 'NO'}")
    model.save_weights(str(config.out / PHASE1_FILE))
    return result


def phase2_run(config: DemoConfig) -> RunResult:
    """2b. Fine-tuning: phase 1's model, the top blocks' convolutions unfrozen, BN frozen."""
    _setup(config, 3)
    task = target_task(config.seed, config.shots, config.val_per_class)
    model = transfer_model(mobilenet_like(26, "letters"), len(task.classes))
    model.load_weights(str(config.out / PHASE1_FILE))
    unfrozen = model.unfreeze(unfreeze_names(config.unfreeze))  # BN stays frozen
    frozen = [w for w in model.weights if not w.trainable]
    moving = [w for w in model.weights if w.name in ("moving_mean", "moving_variance")]
    trained = model.trainable_weights
    before, before_moving, before_trained = snapshot(frozen), snapshot(moving), \
        snapshot(trained)
    model.compile(_adam(config.finetune_lr), LOSS, metrics=["accuracy"])
    result = RunResult("phase2", f"phase 2: + blocks {', '.join(map(str, config.unfreeze))} "
                                 "fine-tuned (BN frozen)")
    _train(result, model, task, config.phase2_epochs, config.batch_size, cache=True)
    result.checks["frozen bit-identical"] = unchanged(before, frozen)
    result.checks["BN statistics bit-identical"] = unchanged(before_moving, moving)
    moved = [a != b for a, b in zip(before_trained, snapshot(trained), strict=True)]
    result.checks["every trainable weight moved"] = all(moved)
    result.notes.append(f"unfrozen: {', '.join(unfrozen)} (their BatchNormalization stays "
                        f"frozen); the other {len(frozen)} arrays, BN statistics included, "
                        "bit-identical after phase 2: "
                        f"{'yes' if result.checks['frozen bit-identical'] else 'NO'}")
    return result


def full_run(config: DemoConfig) -> RunResult:
    """For comparison: phase 1's model with the whole base unfrozen (BN frozen), trained
    like phase 2. Nothing frozen is left at the bottom, so there is no feature cache."""
    _setup(config, 6)
    task = target_task(config.seed, config.shots, config.val_per_class)
    model = transfer_model(mobilenet_like(26, "letters"), len(task.classes))
    model.load_weights(str(config.out / PHASE1_FILE))
    model.unfreeze("base")  # every layer inside; BN stays frozen
    moving = [w for w in model.weights if w.name in ("moving_mean", "moving_variance")]
    before = snapshot(moving)
    model.compile(_adam(config.finetune_lr), LOSS, metrics=["accuracy"])
    result = RunResult("full", "full fine-tuning: whole base unfrozen (BN frozen)")
    _train(result, model, task, config.phase2_epochs, config.batch_size)
    result.checks["BN statistics bit-identical"] = unchanged(before, moving)
    return result


def scratch_run(config: DemoConfig) -> RunResult:
    """Baseline: the same CNN from random weights on the same few digits."""
    _setup(config, 4)
    task = target_task(config.seed, config.shots, config.val_per_class)
    model = mobilenet_like(len(task.classes), "scratch")
    model.compile(_adam(config.scratch_lr), LOSS, metrics=["accuracy"])
    result = RunResult("scratch", "baseline: the same CNN trained from scratch")
    _train(result, model, task, config.scratch_epochs, config.batch_size)
    return result


def linear_run(config: DemoConfig) -> RunResult:
    """Baseline: softmax regression on the raw pixels of the same few digits."""
    _setup(config, 5)
    task = target_task(config.seed, config.shots, config.val_per_class)
    model = linear_model(len(task.classes))
    model.compile(_adam(config.linear_lr), LOSS, metrics=["accuracy"])
    result = RunResult("linear", "baseline: linear classifier on raw pixels")
    _train(result, model, task, config.linear_epochs, config.batch_size)
    return result


RUNS = [source_run, phase1_run, phase2_run, full_run, scratch_run, linear_run]
