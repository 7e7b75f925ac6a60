"""Layer configs in TensorFlow.js's layers form, both ways.

tfjs writes a layer as ``{"class_name", "config"}`` with Keras 2's snake_case keys: a
config holds exactly the keys of tfjs's ``getConfig`` (``TFJS_KEYS``, then ``name``
and ``trainable``; ``batch_input_shape`` and ``dtype`` only on a layer that fixes the
model's input), initializers as ``{"class_name", "config"}`` objects in which Keras's
Glorot/He/LeCun presets are ``VarianceScaling`` and a truncated normal is called
``"normal"``, and every regularizer and constraint as null.

Reading translates a tfjs spec into Keras 3's form and hands it to the one Keras
config reader (pyfrozen.saving.keras_config), which refuses unknown classes, Lambda
layers and options pyfrozen lacks, naming the layer. Writing starts from the layer's
own ``get_config``; an option tfjs cannot express (``groups=2``, ``keepdims=True``, a
float64 layer, a user layer) raises naming the layer and the option.
"""

from __future__ import annotations

from typing import Any

from pyfrozen import initializers
from pyfrozen.layers.activation_layers import ReLU, ReLU6
from pyfrozen.layers.input_layer import InputLayer
from pyfrozen.layers.layer import Layer
from pyfrozen.saving.keras_config import UnsupportedKerasConfig, layer_from_keras


class UnsupportedTfjsConfig(UnsupportedKerasConfig):
    """A tfjs file uses a layer class or option pyfrozen lacks, or a pyfrozen model uses
    one the tfjs layers format cannot hold (both named in the message)."""


_CONV = ["kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation",
         "use_bias", "bias_initializer", "bias_regularizer", "activity_regularizer",
         "bias_constraint"]
_POOL = ["pool_size", "padding", "strides", "data_format"]
# Where Layer.getConfig's keys (name, trainable[, batch_input_shape, dtype]) go when a
# subclass adds its own after calling super (else they come last).
BASE = "<base>"
# tfjs-layers 4.x getConfig() keys per class, in its order.
TFJS_KEYS: dict[str, list[str]] = {
    "Conv2D": ["filters", "kernel_initializer", "kernel_regularizer", "kernel_constraint",
               *_CONV],
    "DepthwiseConv2D": [*_CONV, BASE, "depth_multiplier", "depthwise_initializer",
                        "depthwise_regularizer", "depthwise_constraint"],
    # tfjs's own getConfig leaves depth_multiplier out (reloading it as 1) while its
    # constructor reads it: written, so the file computes what the model does.
    "SeparableConv2D": ["filters", *_CONV, BASE, "depth_multiplier", "depthwise_initializer",
                        "pointwise_initializer", "depthwise_regularizer", "pointwise_regularizer",
                        "depthwise_constraint", "pointwise_constraint"],
    "Dense": ["units", "activation", "use_bias", "kernel_initializer", "bias_initializer",
              "kernel_regularizer", "bias_regularizer", "activity_regularizer",
              "kernel_constraint", "bias_constraint"],
    "BatchNormalization": ["axis", "momentum", "epsilon", "center", "scale", "beta_initializer",
                           "gamma_initializer", "moving_mean_initializer",
                           "moving_variance_initializer", "beta_regularizer",
                           "gamma_regularizer", "beta_constraint", "gamma_constraint"],
    "Embedding": ["input_dim", "output_dim", "embeddings_initializer", "embeddings_regularizer",
                  "activity_regularizer", "embeddings_constraint", "mask_zero", "input_length"],
    "ReLU": ["max_value"], "Softmax": ["axis"], "Activation": ["activation"],
    "Dropout": ["rate", "noise_shape", "seed"], "Flatten": ["data_format"],
    "Reshape": ["target_shape"], "Rescaling": ["scale", "offset"],
    "GlobalAveragePooling2D": ["data_format"], "GlobalMaxPooling2D": ["data_format"],
    "MaxPooling2D": _POOL, "AveragePooling2D": _POOL,
    "ZeroPadding2D": ["padding", "data_format"],
    "UpSampling2D": ["size", "data_format", "interpolation"],
    "Add": [], "Concatenate": ["axis"],
}
# tfjs-only keys and the value written for them (Embedding's; read: _embedding_options).
_TFJS_ONLY = {"mask_zero": False, "input_length": None}
# Keys tfjs's getConfig writes only when the option was given (checked against tfjs 4.22):
# written only when they differ from what they default to.
_OMITTED_AT_DEFAULT = {("Flatten", "data_format"): "channels_last"}
# pyfrozen options tfjs lacks, exportable only at the value tfjs implies.
_PYFROZEN_ONLY = {"groups": 1, "keepdims": False, "negative_slope": 0.0, "threshold": 0.0}
_PRESETS = (initializers.GlorotUniform, initializers.GlorotNormal, initializers.HeNormal,
            initializers.HeUniform, initializers.LecunNormal, initializers.LecunUniform)
_TFJS_DISTRIBUTION = {"truncated_normal": "normal", "uniform": "uniform"}


def _where(name: Any, class_name: Any) -> str:
    return f"layer {name!r} ({class_name})"


# --------------------------------------------------------------------------- pyfrozen -> tfjs


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def initializer_to_tfjs(value: Any, where: str, key: str) -> dict[str, Any]:
    """tfjs's ``{"class_name", "config"}`` of a pyfrozen initializer (name or object)."""
    init = initializers.get(value)
    if not isinstance(init, initializers.Initializer):
        raise UnsupportedTfjsConfig(f"{where}: {key}={value!r} is a Python function, which a "
                                    "tfjs file cannot hold")
    found = initializers.serialize(init)
    config = found["config"]
    seed = config.get("seed")
    if seed is not None and not isinstance(seed, int):
        raise UnsupportedTfjsConfig(f"{where}: {key} is seeded by a numpy Generator, which a "
                                    "tfjs file cannot hold; use an integer seed")
    if isinstance(init, initializers.VarianceScaling):
        if init.distribution not in _TFJS_DISTRIBUTION:
            raise UnsupportedTfjsConfig(f"{where}: {key} draws from distribution "
                                        f"{init.distribution!r}, which tfjs lacks")
        return {"class_name": "VarianceScaling",
                "config": {"scale": init.scale, "mode": init.mode,
                           "distribution": _TFJS_DISTRIBUTION[init.distribution], "seed": seed}}
    if isinstance(init, initializers.Constant) and not isinstance(config.get("value"),
                                                                 (int, float)):
        raise UnsupportedTfjsConfig(f"{where}: {key} is a Constant of an array; tfjs's "
                                    "Constant holds one number")
    if isinstance(init, initializers.Orthogonal) and seed is not None:
        # tfjs's Orthogonal throws on any seed ("not implemented yet"), which would make
        # the whole file unloadable; the weights are stored, so the seed never matters.
        config = {**config, "seed": None}
    return {"class_name": found["class_name"], "config": _plain(config)}


def _tfjs_value(key: str, config: dict[str, Any], where: str) -> Any:
    if key.endswith(("_regularizer", "_constraint")):
        return None
    if key in _TFJS_ONLY:
        return _TFJS_ONLY[key]
    value = config[key]
    if key.endswith("_initializer"):
        return initializer_to_tfjs(value, where, key)
    if key == "activation" and not isinstance(value, str):
        raise UnsupportedTfjsConfig(f"{where}: a custom activation function cannot be saved in "
                                    "a tfjs file; use a named activation")
    return _plain(value)


def _check_leftovers(config: dict[str, Any], used: set[str], where: str) -> None:
    for key, value in config.items():
        if key in used or key in ("name", "trainable"):
            continue
        if key == "dtype":
            if value != "float32":
                raise UnsupportedTfjsConfig(f"{where}: dtype {value!r}; tfjs layers models "
                                            "compute in float32")
            continue
        if key in _PYFROZEN_ONLY and value == _PYFROZEN_ONLY[key]:
            continue
        raise UnsupportedTfjsConfig(f"{where}: option {key}={value!r} has no equivalent in "
                                    "TensorFlow.js")


def input_layer_to_tfjs(layer: InputLayer) -> dict[str, Any]:
    """tfjs's InputLayer spec (float32 or int32 data: token ids for an Embedding)."""
    if layer.data_dtype not in ("float32", "int32"):
        raise UnsupportedTfjsConfig(f"{_where(layer.name, 'InputLayer')}: dtype "
                                    f"{layer.data_dtype!r}; tfjs inputs are float32 or int32")
    return {"class_name": "InputLayer",
            "config": {"batch_input_shape": list(layer.batch_shape), "dtype": layer.data_dtype,
                       "sparse": False, "name": layer.name}}


def layer_to_tfjs(layer: Layer, batch_input_shape: list[Any] | None = None) -> dict[str, Any]:
    """tfjs's ``{"class_name", "config"}`` of a single (non-model) layer."""
    if isinstance(layer, InputLayer):
        return input_layer_to_tfjs(layer)
    if isinstance(layer, ReLU6):  # tfjs has no ReLU6 layer: it is ReLU(max_value=6)
        class_name, config = "ReLU", ReLU.get_config(layer)
    else:
        class_name, config = type(layer).__name__, layer.get_config()
    where = _where(layer.name, class_name)
    if class_name not in TFJS_KEYS:
        raise UnsupportedTfjsConfig(f"{where}: the tfjs layers format has no such layer class "
                                    f"(pyfrozen exports {sorted(TFJS_KEYS)})")
    keys = TFJS_KEYS[class_name]
    _check_leftovers(config, set(keys), where)
    base: dict[str, Any] = {"name": layer.name, "trainable": layer.trainable}
    if batch_input_shape is not None:
        base.update(batch_input_shape=list(batch_input_shape), dtype="float32")
    elif class_name == "Embedding":  # tfjs's Embedding always states its input's shape
        base["batch_input_shape"] = [None, None]
    out: dict[str, Any] = {}
    for key in keys if BASE in keys else [*keys, BASE]:
        if key == BASE:
            out.update(base)
        elif _OMITTED_AT_DEFAULT.get((class_name, key), ...) != config.get(key):  # ...: none
            out[key] = _tfjs_value(key, config, where)
    if class_name in ("MaxPooling2D", "AveragePooling2D") and out["strides"] is None:
        out["strides"] = out["pool_size"]  # what both mean by no strides
    return {"class_name": class_name, "config": out}


# --------------------------------------------------------------------------- tfjs -> Keras 3


def _preset(config: dict[str, Any]) -> type | None:
    """The Keras preset (GlorotUniform, HeNormal, ...) a VarianceScaling config is."""
    for cls in _PRESETS:
        scale, mode, distribution = cls._ARGS
        if (config.get("mode"), config.get("distribution")) == (mode, distribution) and (
                isinstance(config.get("scale"), (int, float))
                and float(config["scale"]) == scale):
            return cls
    return None


def initializer_from_tfjs(value: Any) -> Any:
    """Keras 3's form of a tfjs initializer: tfjs's ``"normal"`` is a truncated normal,
    and a VarianceScaling with a preset's arguments is that preset (as Keras wrote it)."""
    if not isinstance(value, dict):
        return value
    config = dict(value.get("config") or {})
    if value.get("class_name") != "VarianceScaling":
        return {"class_name": value.get("class_name"), "config": config}
    if config.get("distribution") == "normal":
        config["distribution"] = "truncated_normal"
    preset = _preset(config)
    if preset is not None and set(config) <= {"scale", "mode", "distribution", "seed"}:
        return {"class_name": preset.__name__, "config": {"seed": config.get("seed")}}
    return {"class_name": "VarianceScaling", "config": config}


def layer_spec_to_keras(spec: dict[str, Any]) -> dict[str, Any]:
    """Keras 3's spec of a tfjs (non-model) layer spec, for keras_config.layer_from_keras.

    ``batch_input_shape`` is left out: the model's input layer carries the input shape.
    """
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        raise UnsupportedTfjsConfig(f"a layer entry must be {{'class_name', 'config'}}, got "
                                    f"{spec!r}")
    class_name, config = spec.get("class_name"), dict(spec["config"])
    where = _where(config.get("name"), class_name)
    if class_name == "InputLayer":
        shape = config.pop("batch_input_shape", None)
        if shape is None:
            raise UnsupportedTfjsConfig(f"{where}: no batch_input_shape")
        config["batch_shape"] = shape
        return {"class_name": "InputLayer", "config": config}
    shape = config.pop("batch_input_shape", None)
    if class_name == "Embedding":
        _embedding_options(config, shape, where)
    for key, value in config.items():
        if key.endswith("_initializer"):
            config[key] = initializer_from_tfjs(value)
    spec = {"class_name": class_name, "config": config}
    _check_constructs(spec, where)
    return spec


def _embedding_options(config: dict[str, Any], shape: Any, where: str) -> None:
    """Drops tfjs's Embedding-only keys where they mean what pyfrozen does: no masking,
    and an ``input_length`` that only restates the input's shape."""
    if config.pop("mask_zero", None) not in (None, False):
        raise UnsupportedTfjsConfig(f"{where}: option mask_zero=True is not supported by "
                                    "pyfrozen (no masking)")
    length = config.pop("input_length", None)
    if length is not None and (shape is None or list(shape[1:]) != (
            list(length) if isinstance(length, list) else [length])):
        raise UnsupportedTfjsConfig(f"{where}: option input_length={length!r} disagrees with "
                                    f"its batch_input_shape {shape!r}")


def _check_constructs(spec: dict[str, Any], where: str) -> None:
    # A constructor's own message ("Received: padding='causal'") does not say which layer
    # of the file holds the value, and keras_model builds the layers without adding it:
    # build this one alone first (no weights yet: cheap) so the error names the layer.
    try:
        layer_from_keras(spec)
    except UnsupportedKerasConfig:
        raise
    except (ValueError, TypeError) as err:
        raise UnsupportedTfjsConfig(f"{where}: {err}") from err
