"""Scenarios of the fixes to pyfrozen.distributed, run like mpi_worker.py:
``python exact_worker.py SCENARIO OUTDIR [--plain]`` writes ``OUTDIR/rank<r>.npz``
(final weights ``w<i>``, history ``h_<key>``, and what the scenario records)."""

from __future__ import annotations

import os
import sys
import time
from contextlib import nullcontext

import numpy as np

import pyfrozen
from pyfrozen.layers import BatchNormalization, Dense, Input
from pyfrozen.losses import SparseCategoricalCrossentropy


def compiled(strategy, build, **loss) -> pyfrozen.Model:
    """``build()`` made and compiled (SGD 0.1, sparse cross-entropy on logits) in the
    strategy's scope, or without one for the plain process."""
    with strategy.scope() if strategy is not None else nullcontext():
        model = build()
        model.compile(pyfrozen.optimizers.SGD(0.1),
                      SparseCategoricalCrossentropy(from_logits=True, **loss))
    return model


def dense3(name: str | None = None) -> pyfrozen.Model:
    """Input(4) -> Dense(3): the scenarios' smallest model."""
    inputs = Input((4,))
    return pyfrozen.Model(inputs, Dense(3, name=name)(inputs))


def loss_scenario(scenario: str, strategy, rank: int) -> dict:
    """One global batch of 8 split 4 / 4: rank 0's half has 3 of 4 labels ignored
    (``ignore``), and the sample weights differ between the halves (``mws``)."""
    x = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    y = np.array([0, 0, 0, 1, 2, 1, 2, 1] * 2)
    loss = {"ignore": dict(ignore_class=0), "sum": dict(reduction="sum"),
            "mws": dict(reduction="mean_with_sample_weight"), "mean": {}}[scenario[5:]]
    model = compiled(strategy, lambda: dense3("head"), **loss)
    sw = np.array([1, 1, 1, 1, 5, 5, 5, 5] * 2, np.float32) if scenario == "loss-mws" else None
    history = model.fit(x, y, sample_weight=sw, batch_size=8, epochs=2, shuffle=False,
                        verbose=0)
    return {"model": model, "history": history}


def steps_scenario(scenario: str, strategy, rank: int) -> dict:
    """33 samples in batches of 8, 2 steps per epoch: the last batch (1 row) has no row
    for rank 1 and is skipped by every rank."""
    x = np.random.default_rng(0).normal(size=(33, 4)).astype(np.float32)
    model = compiled(strategy, dense3)
    history = model.fit(x, np.arange(33) % 3, batch_size=8, epochs=4, steps_per_epoch=2,
                        verbose=0)
    return {"model": model, "history": history}


def bn_scenario(scenario: str, strategy, rank: int) -> dict:
    """One step of a model with BatchNormalization(momentum=0.5), built before fit or
    not; both ranks' halves hold the same rows, so their batch statistics are those of
    the global batch (one process's)."""
    half = np.random.default_rng(0).normal(size=(4, 4)).astype(np.float32)
    x, y = np.concatenate([half, half]), np.array([0, 1, 2, 1] * 2)
    model = compiled(strategy, lambda: pyfrozen.Sequential(
        [Dense(5), BatchNormalization(momentum=0.5), Dense(3)]))
    if scenario == "bn-built":
        model(x[:1])
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    return {"model": model, "moving_mean": model.layers[1].moving_mean.numpy()}


class ChiefBuilds(pyfrozen.callbacks.Callback):
    """Builds an unrelated layer on rank 0 only at each epoch end (a chief-only export)."""

    def __init__(self, rank: int) -> None:
        super().__init__()
        self.rank = rank

    def on_epoch_end(self, epoch, logs=None):
        if self.rank == 0:
            Dense(2)(np.zeros((1, 2), np.float32))


def chief_scenario(scenario: str, strategy, rank: int) -> dict:
    x = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    model = compiled(strategy, dense3)
    history = model.fit(x, np.arange(32) % 3, batch_size=8, epochs=3, verbose=0,
                        shuffle=False, callbacks=[ChiefBuilds(rank)])
    return {"model": model, "history": history}


def evaluate_scenario(scenario: str, strategy, rank: int) -> dict:
    """evaluate before fit on an unbuilt model whose ranks would initialise it apart
    (seeded by rank): it is evaluated with rank 0's weights, one process's."""
    pyfrozen.utils.set_random_seed(3 + rank)
    x = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    model = compiled(strategy, lambda: pyfrozen.Sequential([Dense(5), Dense(3)]))
    logs = model.evaluate(x, np.arange(16) % 3, batch_size=8, verbose=0, return_dict=True)
    return {"model": model, "e_loss": np.array(logs["loss"])}


def dropout_scenario(scenario: str, strategy, rank: int) -> dict:
    """Dropout masks drawn at an epoch's start (what fit does first), seeded alike."""
    if strategy is not None:
        strategy.on_epoch_begin()
    masks = pyfrozen.layers.Dropout(0.5)(np.ones((4, 8), np.float32), training=True)
    return {"model": pyfrozen.Sequential([Dense(1)]), "mask": masks.numpy() != 0}


def local_scenario(scenario: str, strategy, rank: int) -> dict:
    """Rank 0 alone evaluates every sample inside ``strategy.local(model)``."""
    x = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    model = compiled(strategy, dense3)
    loss = np.nan
    if rank == 0:
        with strategy.local(model) if strategy is not None else nullcontext():
            loss = model.evaluate(x, np.arange(16) % 3, batch_size=5, verbose=0)
    return {"model": model, "e_loss": np.array(loss)}


SCENARIOS = {"steps": steps_scenario, "chief-builds": chief_scenario,
             "evaluate-local": local_scenario,
             "dropout": dropout_scenario,
             "evaluate-unbuilt": evaluate_scenario,
             "bn-built": bn_scenario, "bn-unbuilt": bn_scenario,
             **{f"loss-{k}": loss_scenario for k in ("ignore", "sum", "mws", "mean")}}


def main(scenario: str, outdir: str, plain: bool) -> None:
    if scenario == "startup-hang" and os.environ["PMI_RANK"] == "1":
        from mpi4py import MPI  # noqa: F401  (MPI started, but no strategy made)

        time.sleep(20)  # rank 0 gives up after 3 s
        return
    pyfrozen.utils.set_random_seed(3)
    if scenario == "startup-hang":
        pyfrozen.distributed.DataParallel(timeout=3)
        return
    strategy = None if plain else pyfrozen.distributed.DataParallel(timeout=30)
    rank = 0 if strategy is None else strategy.rank
    out = SCENARIOS[scenario](scenario, strategy, rank)
    model, history = out.pop("model"), out.pop("history", None)
    logs = {} if history is None else {f"h_{k}": np.array(v)
                                       for k, v in history.history.items()}
    np.savez(os.path.join(outdir, f"rank{rank}.npz"), **logs, **out,
             **{f"w{i}": w for i, w in enumerate(model.get_weights())})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--plain" in sys.argv[3:])
