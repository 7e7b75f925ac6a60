"""Knowledge distillation: a frozen teacher, run tape-free, trains a smaller student.

1. A teacher CNN (with BatchNormalization) is trained on a 5-class task, then frozen.
2. A student with a fraction of its parameters is trained with ``fit`` on batches made on
   the fly: each batch is augmented (noise, flips), and the frozen teacher is called on
   it (``teacher(x, training=False)``) to give its logits. The student has two outputs
   on the same logits: ``labels`` (sparse cross-entropy on the true labels) and ``soft``
   (``losses.Distillation(temperature=T)`` against the teacher's logits), weighted by
   ``loss_weights``.
3. Printed checks: the teacher's weights and BN moving statistics are bit-identical after
   the student's training; ``trace()`` over a training step shows the teacher's kernels
   ran forward only, with nothing recorded or saved for it; the student learned.

    python examples/distillation.py [--quick] [--temperature T] [--epochs N]
"""

from __future__ import annotations

import argparse

import numpy as np

import pyfrozen
from pyfrozen import layers, losses
from pyfrozen.autograd import trace

CLASSES = 5


def make_task(n: int, rng: np.random.Generator):
    """16x16 noise images; the class is a colour (0-2) or a bright half (3-4)."""
    labels = rng.integers(0, CLASSES, n)
    x = rng.uniform(-1.0, 1.0, (n, 16, 16, 3)).astype(np.float32)
    for k in range(3):
        x[labels == k, :, :, k] += 0.6
    x[labels == 3, :8] += 0.6
    x[labels == 4, 8:] += 0.6
    return x, labels


def teacher_model() -> pyfrozen.Sequential:
    return pyfrozen.Sequential([
        pyfrozen.Input((16, 16, 3)),
        layers.Conv2D(16, 3, padding="same", use_bias=False, name="t_conv1"),
        layers.BatchNormalization(momentum=0.9, name="t_bn1"), layers.ReLU(name="t_relu1"),
        layers.MaxPooling2D(name="t_pool"),
        layers.Conv2D(32, 3, padding="same", use_bias=False, name="t_conv2"),
        layers.BatchNormalization(momentum=0.9, name="t_bn2"), layers.ReLU(name="t_relu2"),
        layers.GlobalAveragePooling2D(name="t_gap"), layers.Dense(CLASSES, name="t_logits"),
    ], name="teacher")


def student_model() -> pyfrozen.Model:
    inputs = pyfrozen.Input((16, 16, 3))
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="s_conv")(inputs)
    x = layers.GlobalAveragePooling2D(name="s_gap")(x)
    logits = layers.Dense(CLASSES, name="labels")(x)
    soft = layers.Activation("linear", name="soft")(logits)  # the same logits, 2nd loss
    return pyfrozen.Model(inputs, [logits, soft], name="student")


class DistillationBatches:
    """A Sequence of augmented batches, each labelled by the frozen teacher on the fly."""

    def __init__(self, teacher: pyfrozen.Model, x: np.ndarray, y: np.ndarray,
                 batch_size: int, seed: int) -> None:
        self.teacher, self.x, self.y, self.batch_size = teacher, x, y, batch_size
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i: int):
        rows = slice(i * self.batch_size, (i + 1) * self.batch_size)
        x = self.x[rows] + self.rng.normal(0.0, 0.1, self.x[rows].shape).astype(np.float32)
        x = np.where(self.rng.random((len(x), 1, 1, 1)) < 0.5, x[:, :, ::-1], x)
        teacher_logits = self.teacher(x, training=False).numpy()  # frozen: tape-free
        return x, {"labels": self.y[rows], "soft": teacher_logits}


def teacher_state(teacher: pyfrozen.Model) -> list[np.ndarray]:
    return [np.array(w) for w in teacher.get_weights()]  # BN moving statistics included


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny run, for tests")
    parser.add_argument("--epochs", type=int, default=10, help="student epochs")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:  # smaller defaults; flags given explicitly still win
        parser.set_defaults(epochs=6, samples=320)
        args = parser.parse_args(argv)
    pyfrozen.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x, y = make_task(args.samples, rng)
    x_test, y_test = make_task(300, rng)

    teacher = teacher_model()
    teacher.compile(optimizer=pyfrozen.optimizers.Adam(3e-3),
                    loss=losses.SparseCategoricalCrossentropy(from_logits=True),
                    metrics=["accuracy"])
    teacher.fit(x, y, epochs=args.epochs, verbose=0)
    teacher_acc = teacher.evaluate(x_test, y_test, verbose=0)[1]
    teacher.trainable = False  # frozen: BN runs in inference mode, nothing is recorded
    before = teacher_state(teacher)

    student = student_model()
    student.compile(optimizer=pyfrozen.optimizers.Adam(1e-2),
                    loss={"labels": losses.SparseCategoricalCrossentropy(from_logits=True),
                          "soft": losses.Distillation(temperature=args.temperature)},
                    loss_weights={"labels": 0.3, "soft": 0.7})
    count = lambda m: sum(int(np.prod(w.shape)) for w in m.weights)  # noqa: E731
    print(f"teacher: {count(teacher):,} parameters, test accuracy {teacher_acc:.3f}; "
          f"student: {count(student):,} parameters; temperature {args.temperature}")

    batches = DistillationBatches(teacher, x, y, batch_size=32, seed=args.seed)
    with trace() as t:  # one step: the teacher labels a batch, the student trains on it
        xb, yb = batches[0]
        student.train_on_batch(xb, yb)
    teacher_names = {layer.name for layer in teacher.layers}
    forward = sum(r.calls for r in t.kernels if r.layer in teacher_names
                  and r.pass_ == "forward")
    backward = sum(r.calls for r in t.kernels if r.layer in teacher_names
                   and r.pass_ != "forward")
    recorded = sorted(t.by_layer())  # every layer or op that recorded a tape node
    print(f"one step traced: teacher kernels forward {forward}, backward {backward}; "
          f"teacher layers on the tape {[n for n in recorded if n in teacher_names]}; "
          f"{t.nodes} nodes recorded, by {recorded}")

    history = student.fit(batches, epochs=args.epochs, verbose=0)
    losses_ = history.history
    print(f"student loss {losses_['loss'][0]:.3f} -> {losses_['loss'][-1]:.3f} "
          f"(distillation {losses_['soft_loss'][0]:.3f} -> {losses_['soft_loss'][-1]:.3f})")
    same = all(a.tobytes() == b.tobytes()
               for a, b in zip(before, teacher_state(teacher), strict=True))
    print(f"teacher weights and BN statistics bit-identical: {same}")
    logits = student.predict(x_test, verbose=0)[0]
    agree = (logits.argmax(-1) == teacher.predict(x_test, verbose=0).argmax(-1)).mean()
    print(f"student: test accuracy {(logits.argmax(-1) == y_test).mean():.3f} "
          f"(chance {1 / CLASSES:.3f}), agrees with the teacher on {agree:.3f}")


if __name__ == "__main__":
    main()
