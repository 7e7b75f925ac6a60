"""TensorFlow.js in, fine-tuned with a frozen base, TensorFlow.js and ONNX out.

1. Load a small CNN saved by TensorFlow.js itself (``model.json`` + ``weights.bin``, the
   layers format) and check its predictions against those tfjs recorded.
2. Freeze its lower layers (conv, depthwise conv and their BatchNormalization), train the
   rest with ``fit`` on a new 5-class task, and check that the frozen weights and BN
   statistics are bit-identical afterwards.
3. Export the fine-tuned model for TensorFlow.js (``export(dir, format="tfjs")``) and as
   ONNX (``export("model.onnx", format="onnx")``), reload both (the tfjs folder with
   ``pyfrozen.saving.load_model``, the ONNX file with onnxruntime when it is installed)
   and compare their predictions with the model's.

    python examples/tfjs_roundtrip.py [MODEL_JSON] [--quick] [--out DIR]

The default model is the copy of the TensorFlow.js fixture in tests/data/peers.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

import pyfrozen

DEFAULT_MODEL = (Path(__file__).resolve().parents[1] / "tests" / "data" / "peers" / "tfjs"
                 / "small_cnn" / "model.json")
FROZEN = ["c1", "bn1", "dw", "bn2"]  # the layers below the 1x1 convolution
CLASSES = 5


def make_task(n: int, shape: tuple[int, ...], rng: np.random.Generator):
    """Noise images in [-1.5, 1.5]; the class is a colour (0-2) or a bright half (3-4)."""
    labels = rng.integers(0, CLASSES, n)
    x = rng.uniform(-1.0, 1.0, (n, *shape)).astype(np.float32)
    half = shape[0] // 2
    for k in range(3):
        x[labels == k, :, :, k] += 0.5
    x[labels == 3, :half] += 0.5
    x[labels == 4, half:] += 0.5
    onehot = np.eye(CLASSES, dtype=np.float32)[labels]
    return x, onehot


def check_against_tfjs(model: pyfrozen.Model, model_json: Path) -> None:
    """tfjs's own predictions, recorded next to the model (io.json), when present."""
    io_file = model_json.parent / "io.json"
    if not io_file.exists():
        print("no io.json next to the model: skipping the comparison with tfjs's predictions")
        return
    recorded = json.loads(io_file.read_text())
    x = np.asarray(recorded["x"], np.float32).reshape(recorded["x_shape"])
    expected = np.asarray(recorded["predict"], np.float32).reshape(len(x), -1)
    gap = np.abs(model.predict(x, verbose=0) - expected).max()
    print(f"loaded: max |pyfrozen - tfjs| on tfjs's recorded predictions = {gap:.1e}")


def weights_of(model: pyfrozen.Model, names: list[str]) -> dict[str, list[np.ndarray]]:
    return {n: [np.array(w, copy=True) for w in model.get_layer(n).get_weights()]
            for n in names}


def fine_tune(model: pyfrozen.Model, epochs: int, samples: int, seed: int) -> None:
    model.freeze(FROZEN)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    total = sum(int(np.prod(w.shape)) for w in model.weights)
    print(f"frozen {FROZEN}: {trainable:,} of {total:,} parameters train")
    rng = np.random.default_rng(seed)
    shape = tuple(model.inputs[0].shape[1:])
    x, y = make_task(samples, shape, rng)
    x_test, y_test = make_task(200, shape, rng)
    model.compile(optimizer=pyfrozen.optimizers.Adam(1e-2), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    before = weights_of(model, FROZEN)
    acc0 = model.evaluate(x_test, y_test, verbose=0)[1]
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=2)
    acc1 = model.evaluate(x_test, y_test, verbose=0)[1]
    after = weights_of(model, FROZEN)
    same = all(a.tobytes() == b.tobytes() for n in FROZEN
               for a, b in zip(before[n], after[n], strict=True))
    print(f"fine-tuned: frozen weights and BN statistics bit-identical: {same}")
    print(f"fine-tuned: test accuracy {acc0:.3f} -> {acc1:.3f} (chance {1 / CLASSES:.3f})")


def roundtrip_tfjs(model: pyfrozen.Model, x: np.ndarray, out: Path) -> None:
    folder = out / "tfjs"
    model.export(str(folder), format="tfjs")
    reloaded = pyfrozen.saving.load_model(str(folder / "model.json"))
    gap = np.abs(reloaded.predict(x, verbose=0) - model.predict(x, verbose=0)).max()
    files = ", ".join(sorted(p.name for p in folder.iterdir()))
    print(f"tfjs export: {folder} ({files}); reloaded, max |difference| = {gap:.1e}")


def roundtrip_onnx(model: pyfrozen.Model, x: np.ndarray, out: Path) -> None:
    path = out / "model.onnx"
    try:
        model.export(str(path), format="onnx")
    except ImportError as err:  # the onnx package is optional
        print(f"onnx export skipped: {err}")
        return
    print(f"onnx export: {path} ({path.stat().st_size:,} bytes)")
    try:
        import onnxruntime
    except ImportError:
        print("onnxruntime is not installed: skipping the ONNX comparison "
              "(pip install onnxruntime)")
        return
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    (got,) = session.run(None, {name: x})
    gap = np.abs(got - model.predict(x, verbose=0)).max()
    print(f"onnxruntime: max |onnx - pyfrozen| = {gap:.1e}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model_json", nargs="?", type=Path, default=DEFAULT_MODEL,
                        help="a TensorFlow.js layers model (model.json)")
    parser.add_argument("--quick", action="store_true", help="tiny run, for tests")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--samples", type=int, default=800, help="training images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="folder for the exports")
    args = parser.parse_args(argv)
    if args.quick:  # smaller defaults; flags given explicitly still win
        parser.set_defaults(epochs=10, samples=320)
        args = parser.parse_args(argv)
    pyfrozen.utils.set_random_seed(args.seed)
    model = pyfrozen.saving.load_model(str(args.model_json))
    print(f"loaded {args.model_json}: {[layer.name for layer in model.layers]}")
    check_against_tfjs(model, args.model_json)
    fine_tune(model, args.epochs, args.samples, args.seed)
    out = args.out or Path(tempfile.mkdtemp(prefix="tfjs_roundtrip_"))
    x = make_task(16, tuple(model.inputs[0].shape[1:]), np.random.default_rng(1))[0]
    roundtrip_tfjs(model, x, out)
    roundtrip_onnx(model, x, out)


if __name__ == "__main__":
    main()
