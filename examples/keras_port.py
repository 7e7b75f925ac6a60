"""A Keras 3 transfer-learning script run by pyfrozen: only the import lines differ.

Swap the first two imports below for ``import keras`` / ``from keras import layers`` and
the same file runs under Keras 3 (tests/test_examples.py does exactly that). It follows
Keras's own transfer-learning guide:

0. a MobileNet base (small width and resolution, ``weights=None`` so nothing is
   downloaded) is first trained on a source task, a stand-in for ImageNet weights (a
   randomly initialised MobileNet's features vanish in inference mode: each block
   shrinks them several times, so there would be nothing to transfer);
1. the base frozen, called with ``training=False`` so BatchNormalization stays in
   inference mode, with a new classification head for the target task;
2. ``compile`` / ``fit(validation_split=...)`` / ``evaluate`` with the base frozen;
3. unfreeze the top block (its BatchNormalization kept frozen), recompile with a low
   learning rate, fit again;
4. ``save_weights`` to a Keras 3 ``.weights.h5`` file.

It prints, and checks, that the frozen base's weights and BN statistics are
bit-identical after phase 1, that phase 2 changed only the top block's kernels, and the
test accuracy against chance. The data are synthetic noise images, so the script needs
nothing but numpy: the source task asks which quadrant is brightest, the target task
(other classes) which colour dominates.

    python examples/keras_port.py            # about half a minute on 2 cores
    python examples/keras_port.py --quick    # a few seconds
"""

import argparse
import os
import tempfile

import numpy as np

import pyfrozen as keras
from pyfrozen import layers

CLASSES = 3
TOP_BLOCK = ("conv_dw_13", "conv_pw_13")  # Keras's MobileNet layer names


def make_images(n, size, rng, task="target"):
    """Noise images; the class is the dominant colour (target) or the bright quadrant."""
    classes = CLASSES if task == "target" else 4
    labels = rng.integers(0, classes, n)
    images = rng.uniform(0.0, 1.0, (n, size, size, 3)).astype("float32")
    half = size // 2
    for k in range(classes):
        if task == "target":
            images[labels == k, :, :, k] += 0.6
        else:
            rows, cols = slice(half * (k // 2), half * (k // 2 + 1)), slice(half * (k % 2),
                                                                         half * (k % 2 + 1))
            images[labels == k, rows, cols, :] += 0.6
    return images / 1.6 * 2.0 - 1.0, labels  # MobileNet expects [-1, 1]


def pretrain_base(size, alpha, samples, epochs, rng):
    """The source task: the whole MobileNet trained, BN statistics following quickly."""
    base = keras.applications.MobileNet(input_shape=(size, size, 3), alpha=alpha,
                                        include_top=False, weights=None, pooling="avg")
    for layer in base.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = 0.8  # a short run: let the moving statistics catch up
    source = keras.Sequential([base, layers.Dense(4, activation="softmax")])
    source.compile(optimizer=keras.optimizers.Adam(2e-3),
                   loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = make_images(samples, size, rng, task="source")
    source.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
    x, y = make_images(200, size, rng, task="source")
    print(f"source task: test accuracy {source.evaluate(x, y, verbose=0)[1]:.3f} "
          "(chance 0.250)")
    return base


def build_model(base, size):
    base.trainable = False
    inputs = keras.Input(shape=(size, size, 3))
    x = base(inputs, training=False)  # BN in inference mode, even once unfrozen
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(CLASSES, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def count(weights):
    return int(sum(np.prod(w.shape) for w in weights))


def snapshot(model):
    return {layer.name: [np.array(w, copy=True) for w in layer.get_weights()]
            for layer in model.layers}


def changed(before, model):
    """Names of the layers any of whose weights (BN statistics included) differ."""
    return [layer.name for layer in model.layers
            if any(a.tobytes() != b.tobytes()  # bit-identical: -0.0 is not 0.0
                   for a, b in zip(before[layer.name], layer.get_weights(), strict=True))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny run, for tests")
    parser.add_argument("--epochs", type=int, default=6, help="epochs of phase 1")
    parser.add_argument("--samples", type=int, default=600, help="training images")
    parser.add_argument("--size", type=int, default=32, help="image side (>= 32)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="folder for the weights file")
    args = parser.parse_args(argv)
    if args.quick:  # smaller defaults; flags given explicitly still win
        parser.set_defaults(epochs=4, samples=320)
        args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x_train, y_train = make_images(args.samples, args.size, rng)
    x_test, y_test = make_images(200, args.size, rng)

    base = pretrain_base(args.size, 0.25, args.samples, args.epochs, rng)
    model = build_model(base, args.size)
    print(f"trainable params (base frozen): {count(model.trainable_weights):,} "
          f"of {count(model.weights):,}")
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    before = snapshot(base)
    model.fit(x_train, y_train, batch_size=32, epochs=args.epochs, validation_split=0.2,
              verbose=2)
    base_changed = changed(before, base)
    print(f"phase 1: base weights and BN statistics bit-identical: {not base_changed}")
    _, acc1 = model.evaluate(x_test, y_test, verbose=0)
    print(f"phase 1: test accuracy {acc1:.3f} (chance {1 / CLASSES:.3f})")

    # Phase 2: the top block's convolutions train, everything else (BN included) stays.
    base.trainable = True
    for layer in base.layers:
        top = layer.name.startswith(TOP_BLOCK)
        layer.trainable = top and not isinstance(layer, layers.BatchNormalization)
    print(f"trainable params (top block unfrozen): {count(model.trainable_weights):,}")
    model.compile(optimizer=keras.optimizers.Adam(1e-4),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    before = snapshot(base)
    model.fit(x_train, y_train, batch_size=32, epochs=max(1, args.epochs // 2),
              validation_split=0.2, verbose=2)
    print(f"phase 2: base layers whose weights changed: {changed(before, base)}")
    _, acc2 = model.evaluate(x_test, y_test, verbose=0)
    print(f"phase 2: test accuracy {acc2:.3f}")

    out = args.out or tempfile.mkdtemp(prefix="keras_port_")
    path = os.path.join(out, "transfer.weights.h5")
    model.save_weights(path)
    print(f"saved weights to {path} ({os.path.getsize(path):,} bytes)")


if __name__ == "__main__":
    main()
