"""The canonical Keras transfer-learning script runs with only its imports changed.

``SCRIPT`` follows keras.io's "Transfer learning & fine-tuning" guide (MobileNet base
frozen with ``base_model.trainable = False``, a new head, compile, fit with
validation_split, evaluate, unfreeze the top blocks, recompile with a low rate, fit
again with ``EarlyStopping(restore_best_weights=True)``, save_weights / load_weights),
at toy sizes so it runs in seconds. The same text runs under pyfrozen
(``import pyfrozen as keras``) and, when it is installed, under Keras 3 itself
(torch backend), and both must return the same History keys and evaluate shapes.
"""

from __future__ import annotations

import warnings

import numpy as np

HEADERS = {
    "pyfrozen": "import pyfrozen as keras\nfrom pyfrozen import layers\n",
    "keras": "import keras\nfrom keras import layers\n",
}

SCRIPT = '''
rng = np.random.default_rng(0)
x_train = rng.uniform(0, 255, (30, 32, 32, 3)).astype("float32")
y_train = rng.integers(0, 3, 30)
x_test = rng.uniform(0, 255, (10, 32, 32, 3)).astype("float32")
y_test = rng.integers(0, 3, 10)


def build_model():
    base_model = keras.applications.MobileNet(
        weights=None, input_shape=(32, 32, 3), alpha=0.25, include_top=False)
    base_model.trainable = False
    inputs = keras.Input(shape=(32, 32, 3))
    x = layers.Rescaling(scale=1 / 127.5, offset=-1)(inputs)
    x = base_model(x, training=False)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    outputs = layers.Dense(3)(x)
    return base_model, keras.Model(inputs, outputs)


base_model, model = build_model()
frozen_before = [w.numpy().copy() for w in base_model.weights]
model.compile(
    optimizer=keras.optimizers.Adam(),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=[keras.metrics.SparseCategoricalAccuracy()],
)
history = model.fit(x_train, y_train, epochs=2, batch_size=8, validation_split=0.2, verbose=0)
results = model.evaluate(x_test, y_test, verbose=0)
frozen_after = [w.numpy().copy() for w in base_model.weights]

# Fine-tuning: unfreeze the top blocks, BatchNormalization stays frozen.
base_model.trainable = True
for layer in base_model.layers[:-6]:
    layer.trainable = False
for layer in base_model.layers:
    if isinstance(layer, layers.BatchNormalization):
        layer.trainable = False
model.compile(
    optimizer=keras.optimizers.Adam(1e-5),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    metrics=[keras.metrics.SparseCategoricalAccuracy()],
)
early = keras.callbacks.EarlyStopping(monitor="val_loss", patience=1,
                                      restore_best_weights=True)
history_ft = model.fit(x_train, y_train, epochs=3, batch_size=8, validation_split=0.2,
                       callbacks=[early], verbose=0)
results_dict = model.evaluate(x_test, y_test, verbose=0, return_dict=True)

model.save_weights(weights_path)
_, restored = build_model()
restored.load_weights(weights_path)
same_predictions = np.allclose(restored.predict(x_test, verbose=0),
                               model.predict(x_test, verbose=0), atol=1e-5)
'''


def run_script(library: str, tmp_path) -> dict:
    namespace = {"np": np, "weights_path": str(tmp_path / f"{library}.weights.h5")}
    exec(HEADERS[library] + SCRIPT, namespace)  # noqa: S102 (our own test script)
    return namespace


def _summary(ns: dict) -> dict:
    return {
        "history": list(ns["history"].history),
        "epochs": len(ns["history"].history["loss"]),
        "history_ft": list(ns["history_ft"].history),
        "results": (type(ns["results"]).__name__, len(ns["results"])),
        "results_dict": sorted(ns["results_dict"]),
        "same_predictions": ns["same_predictions"],
    }


def test_the_script_runs_under_pyfrozen(tmp_path):
    ns = run_script("pyfrozen", tmp_path)
    assert _summary(ns) == {
        "history": ["loss", "sparse_categorical_accuracy", "val_loss",
                    "val_sparse_categorical_accuracy"],
        "epochs": 2,
        "history_ft": ["loss", "sparse_categorical_accuracy", "val_loss",
                       "val_sparse_categorical_accuracy"],
        "results": ("list", 2),
        "results_dict": ["loss", "sparse_categorical_accuracy"],
        "same_predictions": True,
    }
    for a, b in zip(ns["frozen_before"], ns["frozen_after"], strict=True):
        assert a.tobytes() == b.tobytes()  # the frozen base, BN statistics included
    top = ns["base_model"].layers[-3]  # conv_pw_13: unfrozen for fine-tuning
    assert ns["model"].optimizer.state_of(top.kernel) is not None
    assert 1 <= len(ns["history_ft"].history["loss"]) <= 3


def test_keras_gives_the_same_keys_and_shapes(tmp_path, keras):  # keras: the torch backend
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras's own notices (input size, ...)
        reference = _summary(run_script("keras", tmp_path))
    ours = _summary(run_script("pyfrozen", tmp_path))
    reference["results"] = (reference["results"][0], reference["results"][1])
    assert ours == reference
