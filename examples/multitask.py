"""Two heads on one frozen trunk: the trunk runs once per batch, not once per head.

A functional model with one input, a frozen convolutional trunk and two trainable heads:
``kind`` (3 classes, the dominant colour) and ``size`` (a number, the side of a bright
square). ``compile`` takes a loss per output name and ``loss_weights``; one ``fit`` step
computes the trunk once, feeds both heads, and back-propagates the weighted sum of the
two losses into the heads only: nothing of the frozen trunk is recorded, saved or
differentiated. ``pyfrozen.autograd.trace()`` shows it: one forward kernel call per
trunk layer in a training step, against two when each head is trained as a model of
its own on the shared trunk, and none in backward.

The trunk is random here (it stands for a pretrained one): its pooled features carry the
colour and brightness these tasks need.

    python examples/multitask.py [--quick] [--epochs N]
"""

from __future__ import annotations

import argparse

import numpy as np

import pyfrozen
from pyfrozen import layers
from pyfrozen.autograd import trace


def make_data(n: int, rng: np.random.Generator):
    """Images with a dominant colour (class) and a bright square of random side (size)."""
    kind = rng.integers(0, 3, n)
    side = rng.integers(2, 13, n)
    x = rng.uniform(0.0, 0.5, (n, 16, 16, 3)).astype(np.float32)
    for i in range(n):
        x[i, :, :, kind[i]] += 0.3
        x[i, : side[i], : side[i]] += 0.5
    return x, {"kind": kind, "size": (side / 12.0).astype(np.float32)[:, None]}


def build() -> pyfrozen.Model:
    inputs = pyfrozen.Input((16, 16, 3))
    x = inputs
    for i, filters in enumerate([16, 32], start=1):
        x = layers.Conv2D(filters, 3, padding="same", name=f"trunk_conv{i}")(x)
        x = layers.ReLU(name=f"trunk_relu{i}")(x)
    features = layers.GlobalAveragePooling2D(name="trunk_pool")(x)
    kind = layers.Dense(3, activation="softmax", name="kind")(features)
    size = layers.Dense(1, name="size")(features)
    model = pyfrozen.Model(inputs, [kind, size], name="multitask")
    model.freeze("trunk_*")
    return model


def compile_model(model: pyfrozen.Model) -> None:
    model.compile(optimizer=pyfrozen.optimizers.Adam(1e-2),
                  loss={"kind": "sparse_categorical_crossentropy", "size": "mse"},
                  loss_weights={"kind": 1.0, "size": 4.0},
                  metrics={"kind": ["accuracy"]})


def trunk_calls(t, pass_: str, kernel: str | None = None) -> int:
    """Kernel calls the trunk's layers made in this pass (of ``kernel`` only, if given)."""
    return sum(r.calls for r in t.kernels if r.layer.startswith("trunk_")
               and r.pass_ == pass_ and kernel in (None, r.kernel))


def one_step_traces(model: pyfrozen.Model, x: np.ndarray, y: dict) -> None:
    """What one training step ran: the two-head model vs one model per head."""
    with trace() as t:
        model.train_on_batch(x, y)
    backward = sum(trunk_calls(t, p) for p in ("backward_input", "backward_weight",
                                                "backward_bias"))
    print(f"one step, both heads: trunk convolutions run {trunk_calls(t, 'forward', 'conv2d')} "
          f"(2 layers), trunk backward kernel calls {backward}, saved for backward "
          f"{t.saved_bytes:,} bytes, by {sorted(t.by_layer())}")
    separate = [pyfrozen.Model(model.inputs, model.get_layer(name).output) for name in
                ("kind", "size")]
    separate[0].compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    separate[1].compile(optimizer="adam", loss="mse")
    with trace() as t:
        separate[0].train_on_batch(x, y["kind"])
        separate[1].train_on_batch(x, y["size"])
    print("one step, a model per head: trunk convolutions run "
          f"{trunk_calls(t, 'forward', 'conv2d')}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny run, for tests")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:  # smaller defaults; flags given explicitly still win
        parser.set_defaults(epochs=12, samples=320)
        args = parser.parse_args(argv)
    pyfrozen.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x, y = make_data(args.samples, rng)
    x_test, y_test = make_data(300, rng)

    model = build()
    compile_model(model)
    trunk_before = [np.array(w) for layer in model.layers if layer.name.startswith("trunk_")
                    for w in layer.get_weights()]
    one_step_traces(model, x[:32], {k: v[:32] for k, v in y.items()})
    compile_model(model)  # fresh optimizer state after the probes
    history = model.fit(x, y, batch_size=32, epochs=args.epochs, verbose=0)
    print(f"loss {history.history['loss'][0]:.3f} -> {history.history['loss'][-1]:.3f} "
          f"(kind {history.history['kind_loss'][-1]:.3f}, "
          f"size {history.history['size_loss'][-1]:.3f})")
    trunk_after = [np.array(w) for layer in model.layers if layer.name.startswith("trunk_")
                   for w in layer.get_weights()]
    same = all(a.tobytes() == b.tobytes() for a, b in zip(trunk_before, trunk_after, strict=True))
    print(f"frozen trunk bit-identical after training: {same}")

    kind_p, size_p = model.predict(x_test, verbose=0)
    accuracy = float((kind_p.argmax(-1) == y_test["kind"]).mean())
    r2 = 1.0 - float(((size_p - y_test["size"]) ** 2).mean() / y_test["size"].var())
    print(f"test: kind accuracy {accuracy:.3f} (chance 0.333), size R^2 {r2:.3f} "
          "(0 = predicting the mean)")


if __name__ == "__main__":
    main()
