"""The training scripts the tests of pyfrozen.distributed start under ``mpiexec -n 2``
(or alone with ``--plain``: one process, no strategy, the reference).

``python mpi_worker.py SCENARIO OUTDIR [--plain]`` writes ``OUTDIR/rank<r>.npz`` with the
final weights, the history and the bytes each step sent.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import nullcontext

import numpy as np

import pyfrozen
from pyfrozen.layers import BatchNormalization, Conv2D, Dense, Flatten, Input


def dense_model() -> pyfrozen.Model:
    inputs = Input((6,))
    hidden = Dense(16, activation="relu", name="hidden")(inputs)
    return pyfrozen.Model(inputs, Dense(3, name="head")(hidden))


def conv_model(norm=BatchNormalization) -> pyfrozen.Model:
    """A base (conv + BN) and a Dense head; ``frozen`` scenarios freeze the base."""
    inputs = Input((6, 6, 2))
    x = Conv2D(4, 3, activation="relu", name="base_conv")(inputs)
    x = norm(name="base_bn")(x)
    x = Conv2D(4, 3, activation="relu", name="base_conv2")(x)
    return pyfrozen.Model(inputs, Dense(3, name="head")(Flatten()(x)))


def data(shape: tuple[int, ...], n: int = 37) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return rng.normal(size=(n, *shape)).astype(np.float32), rng.integers(0, 3, n)


class Recorder(pyfrozen.callbacks.Callback):
    """Bytes sent at each step; in ``kill`` scenarios rank 1 dies or hangs at step 3."""

    def __init__(self, strategy, kill: str | None = None) -> None:
        super().__init__()
        self.strategy, self.kill, self.bytes, self.steps = strategy, kill, [], 0
        self.early = []  # buckets started while backward still ran

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.strategy is not None:
            self.bytes.append(self.strategy.bytes_last_step)
            self.early.append(self.strategy.buckets_during_backward)
            if self.kill and self.strategy.rank == 1 and self.steps == 3:
                if self.kill in ("crash", "exit"):
                    os._exit(1 if self.kill == "crash" else 0)  # gone without a word
                time.sleep(3600)  # "hang"


class Unfreeze(pyfrozen.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            self.model.unfreeze("base_conv2")


class NoAllreduce(pyfrozen.Model):
    """A custom train_step that forgets strategy.allreduce_gradients."""

    def train_step(self, data):
        x, y = data[0], data[1]
        for w in self.trainable_weights:
            w.grad = None
        loss = self.compute_loss(x, y, self(x, training=True))
        loss.backward()
        self.optimizer.apply([w.grad for w in self.trainable_weights], self.trainable_weights)
        return {}


def custom_loop(outdir: str, plain: bool) -> None:
    """A training step of one's own: broadcast_weights, then allreduce_gradients."""
    pyfrozen.utils.set_random_seed(3 + (0 if plain else int(os.environ["PMI_RANK"])))
    model = dense_model()  # different initial weights on each rank until the broadcast
    optimizer = pyfrozen.optimizers.SGD(0.1)
    loss_fn = pyfrozen.losses.SparseCategoricalCrossentropy(from_logits=True)
    x, y = data((6,), n=16)
    model(x[:1])
    if not plain:
        strategy = pyfrozen.distributed.DataParallel(timeout=60)
        strategy.broadcast_weights(model)
        part = slice(8 * strategy.rank, 8 * strategy.rank + 8)
        x, y = x[part], y[part]
    finite = []
    for step in range(4):  # the 4th: rank 1's loss is NaN, no rank applies it
        for w in model.trainable_weights:
            w.grad = None
        loss = loss_fn(y, model(x, training=True))
        if step == 3 and not plain and strategy.rank == 1:
            loss = loss * float("nan")
        loss.backward()
        if not plain:
            finite.append(strategy.allreduce_gradients(model))
        if plain and step == 3 or not plain and not finite[-1]:
            continue
        optimizer.apply([w.grad for w in model.trainable_weights], model.trainable_weights)
    rank = 0 if plain else strategy.rank
    np.savez(os.path.join(outdir, f"rank{rank}.npz"), finite=np.array(finite),
             **{f"w{i}": w for i, w in enumerate(model.get_weights())})


def main(scenario: str, outdir: str, plain: bool) -> None:
    if scenario == "loop":
        return custom_loop(outdir, plain)
    pyfrozen.utils.set_random_seed(3)
    strategy = None if plain else pyfrozen.distributed.DataParallel(
        timeout=float(os.environ.get("WORKER_TIMEOUT", "60")),
        bucket_bytes=int(os.environ.get("WORKER_BUCKET_BYTES", 25 * 2**20)))
    rank = 0 if strategy is None else strategy.rank
    with strategy.scope() if strategy is not None else nullcontext():
        if scenario == "custom-step":
            base = dense_model()
            model = NoAllreduce(base.inputs, base.outputs)
            x, y = data((6,))
        elif scenario in ("train", "masked", "mismatch", "nan") or scenario.startswith("kill"):
            model = dense_model()
            if scenario == "mismatch" and rank == 1:
                inputs = Input((6,))
                model = pyfrozen.Model(inputs, Dense(3, name="head")(
                    Dense(17, activation="relu", name="hidden")(inputs)))
            x, y = data((6,))
        else:  # syncbn: one process runs it as BatchNormalization
            model = conv_model(pyfrozen.distributed.SyncBatchNormalization
                               if scenario == "syncbn" else BatchNormalization)
            x, y = data((6, 6, 2))
        if scenario in ("frozen", "unfreeze", "cached"):
            model.freeze("base_*")
        if scenario == "nan" and rank == 1:  # this rank's samples give a NaN loss
            x[:] = np.nan
        if scenario == "masked":  # rows 0-9 of the hidden kernel and bias 0-9 frozen
            mask = np.arange(16) < 10
            model.get_layer("hidden").kernel.set_freeze_mask(np.arange(6) < 4, axis=0)
            model.get_layer("hidden").bias.set_freeze_mask(mask)
        model.compile(pyfrozen.optimizers.SGD(0.05, momentum=0.9),
                      pyfrozen.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
    kill = scenario.split("-")[1] if scenario.startswith("kill") else None
    callbacks = [Recorder(strategy, kill)] + ([Unfreeze()] if scenario == "unfreeze" else [])
    if scenario == "train":  # only rank 0 prints and writes
        callbacks.append(pyfrozen.callbacks.CSVLogger(os.path.join(outdir, f"log{rank}.csv")))
    history = model.fit(x, y, batch_size=8, epochs=3, validation_split=0.2, callbacks=callbacks,
                        verbose=2 if scenario == "train" else 0,
                        cache_frozen_features=scenario == "cached")
    evaluated = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    weights = {f"w{i}": w for i, w in enumerate(model.get_weights())}
    np.savez(os.path.join(outdir, f"rank{rank}.npz"), bytes=np.array(callbacks[0].bytes),
             early=np.array(callbacks[0].early),
             **weights, **{f"h_{k}": np.array(v) for k, v in history.history.items()},
             **{f"e_{k}": np.array(v) for k, v in evaluated.items()})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], "--plain" in sys.argv[3:])
