"""Layer configs: pyfrozen's registry round trips, and Keras 3's config form against Keras."""

from __future__ import annotations

import json

import pytest

import pyfrozen
from pyfrozen import layers
from pyfrozen.saving import UnsupportedKerasConfig, register_keras_serializable
from pyfrozen.saving.keras_config import (
    KERAS_DEFAULTS,
    layer_config_to_keras,
    layer_from_keras,
    layer_to_keras,
)

# Every layer class pyfrozen has, with non-default arguments where they exist.
CASES = [
    ("Dense", dict(units=3, activation="relu", use_bias=False, trainable=False)),
    ("Conv2D", dict(filters=2, kernel_size=3, strides=2, padding="same", activation="relu6")),
    ("DepthwiseConv2D", dict(kernel_size=3, depth_multiplier=2, padding="same")),
    ("SeparableConv2D", dict(filters=2, kernel_size=(3, 1), strides=(2, 1))),
    ("BatchNormalization", dict(momentum=0.9, epsilon=1e-5, center=False)),
    ("Activation", dict(activation="sigmoid")),
    ("ReLU", dict(max_value=6.0)),
    ("Softmax", dict(axis=1)),
    ("Dropout", dict(rate=0.25)),
    ("Embedding", dict(input_dim=5, output_dim=2)),
    ("Add", {}),
    ("Concatenate", dict(axis=1)),
    ("Rescaling", dict(scale=1 / 127.5, offset=-1.0)),
    ("Flatten", {}),
    ("Reshape", dict(target_shape=(2, 2))),
    ("UpSampling2D", dict(size=(2, 3))),
    ("ZeroPadding2D", dict(padding=((0, 1), (0, 1)))),
    ("MaxPooling2D", dict(pool_size=3, strides=2, padding="same")),
    ("AveragePooling2D", dict(pool_size=2)),
    ("GlobalAveragePooling2D", dict(keepdims=True)),
    ("GlobalMaxPooling2D", {}),
]


def plain(value):
    return json.loads(json.dumps(value))  # tuples become lists, as in a file


def same_meaning(config):
    """``config`` with each initializer as its serialized object ("uniform" is RandomUniform)."""
    return plain({k: pyfrozen.initializers.serialize(pyfrozen.initializers.get(v))
                  if k.endswith("_initializer") else v for k, v in config.items()})


def test_every_layer_class_is_covered():
    registered = {name for name in dir(layers) if isinstance(getattr(layers, name), type)
                  and issubclass(getattr(layers, name), layers.Layer)}
    covered = {name for name, _ in CASES} | {"Layer", "InputLayer", "ReLU6",
                                             "AvgPool2D", "MaxPool2D", "GlobalAvgPool2D",
                                             "GlobalMaxPool2D"}
    assert registered <= covered, registered - covered


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[c[0] for c in CASES])
def test_registry_round_trip(name, kwargs):
    layer = getattr(layers, name)(**kwargs)
    spec = layers.serialize(layer)
    assert spec["class_name"] == name and layers.get(name) is type(layer)
    again = layers.deserialize(plain(spec))
    assert type(again) is type(layer)
    assert plain(again.get_config()) == plain(layer.get_config())


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[c[0] for c in CASES])
def test_keras_config_matches_keras(name, kwargs, keras):
    ours = getattr(layers, name)(name="probe", **kwargs)
    theirs = getattr(keras.layers, name)(name="probe", **kwargs)
    class_name, config = layer_config_to_keras(ours)
    assert class_name == name
    config, expected = plain(config), plain(theirs.get_config())
    for key, value in expected.items():
        if key not in config:  # an option pyfrozen lacks: Keras must have it at its default
            assert key in KERAS_DEFAULTS and value == KERAS_DEFAULTS[key], (name, key, value)
        elif key == "dtype" or key.endswith("_initializer"):
            assert config[key]["class_name"] == value["class_name"], (name, key)
        else:
            assert config[key] == value, (name, key)
    assert set(config) <= set(expected)
    # Keras's own config reads back into the same pyfrozen layer.
    back = layer_from_keras({"class_name": name, "config": expected})
    assert type(back) is type(ours)
    assert same_meaning(back.get_config()) == same_meaning(ours.get_config())


def test_relu6_is_saved_as_keras_relu(keras):
    spec = layer_to_keras(layers.ReLU6(name="r6"))
    assert spec["class_name"] == "ReLU" and spec["config"]["max_value"] == 6.0
    assert keras.layers.deserialize(spec).max_value == 6.0


@pytest.mark.parametrize(("spec", "message"), [
    ({"class_name": "LSTM", "config": {"name": "rnn", "units": 3}},
     r"layer 'rnn' \(LSTM\): Unknown layer class 'LSTM'"),
    ({"class_name": "Lambda", "config": {"name": "fn"}},
     r"layer 'fn' \(Lambda\): Lambda layers hold Python code"),
    ({"class_name": "Dense", "config": {"name": "d", "units": 2,
                                        "kernel_regularizer": {"class_name": "L2"}}},
     r"layer 'd' \(Dense\): option kernel_regularizer=.* is not supported"),
    ({"class_name": "Dense", "config": {"name": "d", "units": 2, "dtype": {
        "class_name": "DTypePolicy", "config": {"name": "mixed_float16"}}}},
     r"layer 'd' \(Dense\): dtype 'mixed_float16' is not supported"),
    ({"class_name": "BatchNormalization", "config": {"name": "bn", "renorm": True}},
     r"layer 'bn' \(BatchNormalization\): option renorm=True"),
    ({"class_name": "Dense", "config": {"name": "d", "units": 2, "activation": {
        "class_name": "function", "config": "my_fn"}}},
     r"layer 'd' \(Dense\): activation .* is not supported"),
])
def test_unsupported_parts_raise_naming_layer_and_option(spec, message):
    with pytest.raises(UnsupportedKerasConfig, match=message):
        layer_from_keras(spec)


def test_registered_user_layer_round_trips():
    @register_keras_serializable(package="tests")
    class Twice(layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, x):
            return x * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    spec = layer_to_keras(Twice(factor=3.0, name="t"))
    assert spec["registered_name"] == "tests>Twice"
    back = layer_from_keras(plain(spec))
    assert type(back) is Twice and back.factor == 3.0 and back.name == "t"
    assert layers.get("tests>Twice") is Twice
    # Registered again (a notebook cell run twice): the newer class wins, as in Keras.
    again = register_keras_serializable(package="tests", name="Twice")(
        type("Twice", (Twice,), {}))
    assert layers.get("tests>Twice") is again
    with pytest.raises(ValueError, match="already registered as 'Dense'"):
        layers.serialization.register(type("Dense", (Twice,), {}))
    assert pyfrozen.saving.register_keras_serializable is register_keras_serializable


def test_model_configs_round_trip_in_keras_form():
    inner = pyfrozen.Sequential([layers.Input((4,)), layers.Dense(3, name="d")], name="inner")
    x = layers.Input((4,), name="x")
    model = pyfrozen.Model(x, layers.ReLU()(inner(x)), name="outer")
    spec = pyfrozen.saving.serialize_keras_object(model)
    assert spec["class_name"] == "Functional"
    assert spec["config"]["input_layers"] == ["x", 0, 0]
    assert [s["class_name"] for s in spec["config"]["layers"]] == ["InputLayer", "Sequential",
                                                                  "ReLU"]
    back = pyfrozen.saving.deserialize_keras_object(plain(spec))
    assert plain(pyfrozen.saving.serialize_keras_object(back)) == plain(spec)
