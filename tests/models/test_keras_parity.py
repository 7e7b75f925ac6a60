"""Keys, order and shapes of fit / evaluate / train_on_batch results, next to Keras 3.

The same script runs under pyfrozen and (when installed; torch backend) under Keras 3.
Without Keras the pyfrozen half still checks the expected values written out here.
"""

from __future__ import annotations

import warnings

import numpy as np

SCRIPT = '''
rng = np.random.default_rng(0)
x = rng.standard_normal((16, 4)).astype("float32")
ya = rng.standard_normal((16, 2)).astype("float32")
yb = rng.integers(0, 3, 16)
inputs = keras.Input((4,), name="x")
h = layers.Dense(6, activation="relu", name="trunk")(inputs)
a = layers.Dense(2, name="out_a")(h)
b = layers.Dense(3, activation="softmax", name="out_b")(h)
model = keras.Model(inputs, [a, b])
model.compile("adam", loss=["mse", "sparse_categorical_crossentropy"], loss_weights=[1.0, 0.5],
              metrics=[["mae"], ["accuracy"]])
history = model.fit(x, [ya, yb], epochs=1, batch_size=8, validation_split=0.25, verbose=0)
values = model.evaluate(x, [ya, yb], verbose=0)
logs = model.evaluate(x, [ya, yb], verbose=0, return_dict=True)
single = keras.Sequential([keras.Input((4,)), layers.Dense(2)])
single.compile("sgd", "mse")
single_eval = single.evaluate(x, ya, verbose=0)
single_batch = single.train_on_batch(x, ya)
single_metrics = keras.Sequential([keras.Input((4,)), layers.Dense(3)])
single_metrics.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                       metrics=["accuracy"])
with_metric = single_metrics.train_on_batch(x, yb)
'''

HEADERS = {"pyfrozen": "import pyfrozen as keras\nfrom pyfrozen import layers\n",
           "keras": "import keras\nfrom keras import layers\n"}


def summary(library: str) -> dict:
    ns = {"np": np}
    exec(HEADERS[library] + SCRIPT, ns)  # noqa: S102 (our own test script)
    logs, values = ns["logs"], ns["values"]
    order = [min(logs, key=lambda k, v=v: abs(logs[k] - v)) for v in values]
    return {"history": list(ns["history"].history), "evaluate_order": order,
            "dict_keys": sorted(logs), "single_eval": type(ns["single_eval"]).__name__,
            "single_batch": type(ns["single_batch"]).__name__,
            "with_metric": (type(ns["with_metric"]).__name__, len(ns["with_metric"]))}


EXPECTED = {
    "history": ["loss", "out_a_loss", "out_a_mae", "out_b_accuracy", "out_b_loss", "val_loss",
                "val_out_a_loss", "val_out_a_mae", "val_out_b_accuracy", "val_out_b_loss"],
    "evaluate_order": ["loss", "out_a_loss", "out_b_loss", "out_a_mae", "out_b_accuracy"],
    "dict_keys": ["loss", "out_a_loss", "out_a_mae", "out_b_accuracy", "out_b_loss"],
    "single_eval": "float", "single_batch": "float", "with_metric": ("list", 2),
}


def test_pyfrozen_results_have_keras_keys_and_order():
    assert summary("pyfrozen") == EXPECTED


def test_keras_3_gives_the_same(keras):  # the fixture imports it on the torch backend
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = summary("keras")
    assert summary("pyfrozen") == reference
