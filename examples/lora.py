"""LoRA: fine-tune a pretrained network through low-rank adapters, then merge and export.

A small convolutional network is first trained on a source task (which quadrant of a
noise image is brightest), a stand-in for pretrained weights. For the target task (which
colour dominates) it gets a new head, and its convolutions (a 3x3, a depthwise and a
pointwise one) and its Dense layer get adapters (``layer.enable_lora(rank)``, Keras 3's
call): the kernels stay frozen, a low-rank ``A``, ``B`` pair trains beside each. It
prints, and checks:

* the optimizer's state: Adam's two slots for the adapters, biases and head only, none
  for the frozen kernels;
* ``trace()`` of a training step: the adapted layers' weight-gradient work against the
  same step with their kernels training; of ``predict``: one kernel per adapted layer
  (the merged kernel ``W + (alpha / rank) A B``, formed once and cached);
* the frozen kernels bit-identical after ``fit``;
* the model saved as ``.keras`` (as Keras writes an adapted model: ``lora_rank`` in the
  configs, the merged kernels) and exported for tfjs, reloaded, and ``merge_lora()``
  folding the adapters in: the same predictions.

    python examples/lora.py [--quick] [--rank R] [--epochs N] [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np
from progressive_unfreezing import make_images  # the same two synthetic tasks

import pyfrozen
from pyfrozen import layers
from pyfrozen.autograd import trace

ADAPTED = ("conv", "dw", "pw", "features")


def base_layers() -> list:
    return [layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv"),
            layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw"),
            layers.Conv2D(32, 1, activation="relu", name="pw"),
            layers.GlobalAveragePooling2D(name="gap"),
            layers.Dense(32, activation="relu", name="features")]


def model_on(base: list, head: layers.Dense) -> pyfrozen.Model:
    inputs = pyfrozen.Input((16, 16, 3))
    x = inputs
    for layer in base:
        x = layer(x)
    return pyfrozen.Model(inputs, head(x))


def weight_gradient_work(model: pyfrozen.Model, x: np.ndarray, y: np.ndarray) -> int:
    """Work of the adapted layers' weight-gradient kernels in one training step."""
    with trace() as t:
        model.train_on_batch(x, y)
    return sum(r.work for r in t.ran(pass_="backward_weight") if r.layer in ADAPTED)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny run, for tests")
    parser.add_argument("--rank", type=int, default=4, help="the adapters' rank")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--samples", type=int, default=1200)
    parser.add_argument("--out", default=None, help="folder for the exported files")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.quick:  # smaller defaults; flags given explicitly still win
        parser.set_defaults(epochs=6, samples=480)
        args = parser.parse_args(argv)
    pyfrozen.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    out = args.out or tempfile.mkdtemp(prefix="pyfrozen-lora-")

    # 0. The pretrained network: everything trains on the source task.
    base = base_layers()
    source = model_on(base, layers.Dense(4, activation="softmax", name="source_head"))
    source.compile(pyfrozen.optimizers.Adam(3e-3), "sparse_categorical_crossentropy",
                   metrics=["accuracy"])
    x, y = make_images(args.samples, rng, "source")
    full_work = weight_gradient_work(source, x[:32], y[:32])  # kernels training
    source.fit(x, y, batch_size=32, epochs=args.epochs, verbose=0)
    x_test, y_test = make_images(300, rng, "source")
    print(f"source task: test accuracy {source.evaluate(x_test, y_test, verbose=0)[1]:.3f} "
          "(chance 0.25)")

    # 1. The target task: a new head, adapters on the pretrained layers.
    model = model_on(base, layers.Dense(3, activation="softmax", name="head"))
    adapted = [model.get_layer(name) for name in ADAPTED]
    for layer in adapted:
        layer.enable_lora(args.rank)
    model.compile(pyfrozen.optimizers.Adam(1e-2), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    kernels = {layer.name: np.array(layer.weights[0]) for layer in adapted}
    x, y = make_images(args.samples, rng, "target")
    x_test, y_test = make_images(300, rng, "target")
    lora_work = weight_gradient_work(model, x[:32], y[:32])
    history = model.fit(x, y, batch_size=32, epochs=args.epochs, verbose=0)

    adapter_params = sum(w.size for layer in adapted for w in layer.weights[-2:])
    trainable = sum(w.size for w in model.trainable_weights)
    frozen = sum(k.size for k in kernels.values())
    state = sum(np.asarray(v).size for v in model.optimizer.variables) - 2  # less step, rate
    print(f"trainable parameters: {trainable:,} ({adapter_params:,} in the adapters A/B, "
          f"the rest biases and the head); frozen kernels: {frozen:,}")
    print(f"Adam state: {state:,} floats = 2 x {state // 2:,} (none for the frozen kernels)")
    print(f"adapted layers' weight-gradient work per step: {lora_work:,} with LoRA rank "
          f"{args.rank}, {full_work:,} with the kernels training "
          f"({lora_work / full_work:.2f}x)")
    same = all(np.array(layer.weights[0]).tobytes() == kernels[layer.name].tobytes()
               for layer in adapted)
    print(f"frozen kernels bit-identical after fit: {same}")
    accuracy = model.evaluate(x_test, y_test, verbose=0)[1]
    print(f"target task: loss {history.history['loss'][0]:.3f} -> "
          f"{history.history['loss'][-1]:.3f}, test accuracy {accuracy:.3f} (chance 0.333)")

    # 2. Inference from the cached merged kernels: one kernel per adapted layer.
    expected = model.predict(x_test, verbose=0)
    with trace() as t:
        model.predict(x_test[:8], verbose=0)
    ops = {name: sorted({r.op for r in t.ran(layer=name)}) for name in ADAPTED}
    print(f"predict: ops run per adapted layer: {ops}")

    # 3. Files: .keras as Keras writes an adapted model (lora_rank in the configs, the
    # merged kernels: reloaded, each adapter starts again from B = 0; DepthwiseConv2D,
    # which Keras cannot adapt, comes back plain); tfjs holds plain merged layers;
    # merge_lora folds the adapters in place.
    model.save(f"{out}/lora.keras")
    reloaded = pyfrozen.saving.load_model(f"{out}/lora.keras")
    weights = sum(len(layer.weights) for layer in reloaded.layers if layer.name in ADAPTED)
    again = [name for name in ADAPTED if reloaded.get_layer(name).lora_enabled]
    diff = np.abs(reloaded.predict(x_test, verbose=0) - expected).max()
    print(f".keras reloaded: {weights} weights in the adapted layers, adapters on {again}, "
          f"max |difference| = {diff:.2g}")
    for layer in adapted:
        layer.merge_lora()
    diff = np.abs(model.predict(x_test, verbose=0) - expected).max()
    print(f"merge_lora: {len(model.weights)} weights left, max |difference| = {diff:.2g}")
    model.export(f"{out}/tfjs", format="tfjs")
    back = pyfrozen.saving.load_model(f"{out}/tfjs/model.json")
    diff = np.abs(back.predict(x_test, verbose=0) - expected).max()
    print(f"tfjs export reloaded: max |difference| = {diff:.2g} (files in {out})")


if __name__ == "__main__":
    main()
