"""Transfer learning on several processes: the same script under ``mpiexec -n N``.

``pyfrozen.distributed.DataParallel`` runs one copy of the model per MPI rank; each rank
trains on its share of every global batch and the ranks average their gradients. What
freezing changes: frozen weights send nothing. The script

1. trains a small convolutional network on the digits 0-4 (the "source task"), the
   whole network trainable: every step sends all of its gradients;
2. freezes the convolutional base, puts a new head on it for the digits 5-9 and trains
   again: every step sends only the head's gradients (the script prints both byte
   counts and their ratio);
3. checks that every rank ends with bit-identical weights, prints the test accuracy of
   both tasks, and rank 0 alone writes the weights file.

Only rank 0 prints. The data are the 8x8 digits shipped with pyfrozen (no download).

    pip install "pyfrozen[mpi]"
    mpiexec -n 2 python examples/distributed_transfer.py            # ~5 s on 2 cores
    mpiexec -n 2 python examples/distributed_transfer.py --quick    # a few seconds
    python examples/distributed_transfer.py --quick                 # one process works too

On a cluster (hostfiles, Slurm, threads per rank): docs/distributed.md.
"""

import argparse
import os
import tempfile

import numpy as np

import pyfrozen
from pyfrozen import layers
from pyfrozen.datasets import load_digits


def split_digits(seed):
    """Source task (digits 0-4) and target task (digits 5-9, labels 0-4), 80/20 splits."""
    digits = load_digits()
    x = (digits.images[..., None] / 16.0).astype(np.float32)
    y = digits.target
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order], y[order]
    tasks = []
    for low in (0, 5):
        keep = (y >= low) & (y < low + 5)
        xs, ys = x[keep], y[keep] - low
        cut = int(0.8 * len(ys))
        tasks.append(((xs[:cut], ys[:cut]), (xs[cut:], ys[cut:])))
    return tasks


def build_base():
    return pyfrozen.Sequential([
        pyfrozen.Input((8, 8, 1)),
        layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1"),
        layers.Conv2D(64, 3, padding="same", activation="relu", name="conv2"),
        layers.MaxPooling2D(name="pool"),
        layers.Conv2D(64, 3, padding="same", activation="relu", name="conv3"),
        layers.GlobalAveragePooling2D(name="gap"),
    ], name="base")


def classifier(base, name):
    return pyfrozen.Sequential([base, layers.Dense(5, name=name)], name=f"model_{name}")


def compile_model(model, learning_rate):
    model.compile(pyfrozen.optimizers.Adam(learning_rate),
                  pyfrozen.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])


class BytesPerStep(pyfrozen.callbacks.Callback):
    """The gradient bytes each rank sent at the last step of fit (one process sends
    nothing: then the bytes of the trainable weights, which N ranks would send)."""

    def __init__(self, strategy):
        super().__init__()
        self.strategy, self.value = strategy, None

    def on_train_batch_end(self, batch, logs=None):
        self.value = self.strategy.bytes_last_step if self.strategy.size > 1 else sum(
            w.numpy().nbytes for w in self.model.trainable_weights)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny run, for tests")
    parser.add_argument("--epochs", type=int, default=8, help="epochs per phase")
    parser.add_argument("--batch-size", type=int, default=64,
                        help="global batch: split over the ranks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="folder for the weights file")
    args = parser.parse_args(argv)
    epochs = 2 if args.quick else args.epochs

    pyfrozen.utils.set_random_seed(args.seed)  # rank 0's shuffles are every rank's anyway
    strategy = pyfrozen.distributed.DataParallel()
    chief = strategy.is_chief
    say = print if chief else (lambda *a, **k: None)
    say(f"ranks: {strategy.size}, global batch {args.batch_size} "
        f"({args.batch_size // strategy.size} or so per rank)")
    (source, source_test), (target, target_test) = split_digits(args.seed)
    if args.quick:
        source, target = (source[0][:300], source[1][:300]), (target[0][:300], target[1][:300])

    # Phase 1: the whole network trains on the source task.
    with strategy.scope():
        base = build_base()
        model = classifier(base, "source_head")
        compile_model(model, 3e-3)
    full = BytesPerStep(strategy)
    model.fit(*source, batch_size=args.batch_size, epochs=epochs, callbacks=[full],
              verbose=2 if chief else 0)
    source_acc = model.evaluate(*source_test, verbose=0, return_dict=True)["accuracy"]
    say(f"phase 1 (all trainable): bytes per step {full.value:,}; "
        f"source test accuracy {source_acc:.3f}")

    # Phase 2: the base frozen, a new head for the target task.
    base.trainable = False
    with strategy.scope():
        transfer = classifier(base, "target_head")
        compile_model(transfer, 3e-3)
    frozen_before = [w.copy() for w in base.get_weights()]
    head = BytesPerStep(strategy)
    transfer.fit(*target, batch_size=args.batch_size, epochs=epochs, callbacks=[head],
                 verbose=2 if chief else 0)
    target_acc = transfer.evaluate(*target_test, verbose=0, return_dict=True)["accuracy"]
    unchanged = all(np.array_equal(a, b) for a, b in zip(frozen_before, base.get_weights(),
                                                          strict=True))
    say(f"phase 2 (base frozen): bytes per step {head.value:,} "
        f"({full.value / head.value:.0f}x fewer); target test accuracy {target_acc:.3f}")
    say(f"frozen base bit-identical after phase 2: {unchanged}")
    in_sync = strategy.weights_in_sync(transfer)
    say(f"all ranks hold bit-identical weights: {in_sync}")

    if chief:  # one writer: the weights are the same on every rank
        folder = args.out or tempfile.mkdtemp(prefix="pyfrozen_distributed_")
        transfer.save_weights(os.path.join(folder, "transfer.safetensors"))
        say(f"weights written by rank 0 into {folder}")


if __name__ == "__main__":
    main()
