"""Layer configs in Keras 3's file form, both ways.

pyfrozen's ``get_config`` already uses Keras's keys and values; a Keras 3 file differs
in three ways, translated here: the dtype is a ``DTypePolicy`` object, initializers
are ``{"module", "class_name", "config"}`` objects, and Keras layers carry options
pyfrozen does not have (regularizers, constraints, quantization, renorm, ...). Reading,
such an option is accepted only at its Keras default; any other value, an unknown
class, a Lambda layer, a custom activation or a dtype other than float32/float64 raises
naming the layer and the option: nothing is dropped silently.
"""

from __future__ import annotations

import inspect
from typing import Any

from pyfrozen import initializers
from pyfrozen.layers import serialization
from pyfrozen.layers.activation_layers import ReLU, ReLU6
from pyfrozen.layers.input_layer import InputLayer
from pyfrozen.layers.layer import Layer, snake_case

# Keras-only options and the value that means "not used" (what pyfrozen does).
KERAS_DEFAULTS: dict[str, Any] = {
    **{f"{w}_{k}": None for w in ("kernel", "bias", "depthwise", "pointwise", "beta", "gamma",
                                  "embeddings", "activity")
       for k in ("regularizer", "constraint")},
    "quantization_config": None, "lora_rank": None, "lora_alpha": None,
    "synchronized": False, "renorm": False, "renorm_clipping": None, "renorm_momentum": 0.99,
    "mask_zero": False, "sparse": False, "ragged": False, "optional": False,
    "interpolation_is_nearest": None, "seed": None, "noise_shape": None,
}
_FLOATS = ("float32", "float64")
_LAYER_MODULE = "keras.layers"


class UnsupportedKerasConfig(NotImplementedError):
    """A Keras file uses a layer class or an option pyfrozen does not implement."""


# --------------------------------------------------------------------------- pyfrozen -> Keras


def _dtype_policy(name: str) -> dict[str, Any]:
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name},
            "registered_name": None}


def _initializer_to_keras(value: Any) -> Any:
    if value is None:
        return None
    found = initializers.serialize(initializers.get(value))
    return {"module": "keras.initializers", **found, "registered_name": None}


def layer_config_to_keras(layer: Layer) -> tuple[str, dict[str, Any]]:
    """(Keras class name, Keras config) of a pyfrozen layer (models excluded)."""
    if isinstance(layer, InputLayer):
        return "InputLayer", {"batch_shape": list(layer.batch_shape), "dtype": layer.data_dtype,
                              "sparse": False, "ragged": False, "name": layer.name,
                              "optional": False}
    if isinstance(layer, ReLU6):  # Keras has no ReLU6 layer: it is ReLU(max_value=6)
        class_name, config = "ReLU", ReLU.get_config(layer)
    else:
        class_name, config = type(layer).__name__, layer.get_config()
    if not getattr(layer, "_keras_has_lora", True):  # Keras's class takes no lora_rank
        config = {k: v for k, v in config.items() if k not in ("lora_rank", "lora_alpha")}
    out = {}
    for key, value in config.items():
        if key == "dtype":
            value = _dtype_policy(value)
        elif key.endswith("_initializer"):
            value = _initializer_to_keras(value)
        elif key == "activation" and callable(value):
            raise UnsupportedKerasConfig(f"layer {layer.name!r} ({class_name}): a custom "
                                         "activation function cannot be saved in a Keras file; "
                                         "use a named activation")
        out[key] = list(value) if isinstance(value, tuple) else value
    return class_name, out


def layer_to_keras(layer: Layer) -> dict[str, Any]:
    """Keras 3's serialized form of a single (non-model) layer."""
    class_name, config = layer_config_to_keras(layer)
    registered = serialization.registered_name(type(layer))
    spec = {"module": _LAYER_MODULE if registered is None else type(layer).__module__,
            "class_name": class_name, "config": config, "registered_name": registered}
    if layer.built and layer._build_shape is not None and not isinstance(layer, InputLayer):
        spec["build_config"] = {"input_shape": _plain(layer._build_shape)}
    return spec


def _plain(shape: Any) -> Any:
    if isinstance(shape, (list, tuple)):
        return [_plain(s) for s in shape]
    return shape


# --------------------------------------------------------------------------- Keras -> pyfrozen


def _where(spec: dict[str, Any]) -> str:
    name = (spec.get("config") or {}).get("name", "?")
    return f"layer {name!r} ({spec.get('class_name')})"


def dtype_from_keras(value: Any, where: str) -> str:
    """A Keras dtype (a name or a DTypePolicy object) as pyfrozen's; raises naming ``where``."""
    if isinstance(value, dict):
        value = (value.get("config") or {}).get("name")
    if value not in _FLOATS:
        raise UnsupportedKerasConfig(f"{where}: dtype {value!r} is not supported (pyfrozen "
                                     "computes in float32 or float64)")
    return value


def _initializer_from_keras(value: Any, where: str, key: str) -> Any:
    if not isinstance(value, dict):
        return value
    config = {k: v for k, v in (value.get("config") or {}).items()
              if not (k in ("input_axes", "output_axes") and v is None)}
    plain = {"class_name": value.get("class_name"), "config": config}
    try:
        found = initializers.serialize(initializers.deserialize(plain))
    except (ValueError, TypeError) as err:
        raise UnsupportedKerasConfig(f"{where}: {key}={value.get('class_name')!r} is not "
                                     f"supported ({err})") from err
    # A default-configured initializer comes back as its name, as the layer was written.
    name = snake_case(plain["class_name"])
    try:
        by_name = initializers.serialize(initializers.get(name))
    except ValueError:
        return plain
    return name if by_name == found else plain


def _accepted(cls: type) -> set[str]:
    names = set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}
    # Keywords a base class takes beside the subclass's signature (LoRA's lora_rank).
    return names | {"name", "trainable", "dtype", *getattr(cls, "_init_keywords", ())}


def _input_layer_from_keras(config: dict[str, Any], where: str) -> InputLayer:
    for key, value in config.items():
        if key in KERAS_DEFAULTS and value != KERAS_DEFAULTS[key]:
            raise UnsupportedKerasConfig(f"{where}: option {key}={value!r} is not supported")
    shape = config.get("batch_shape") or [None, *config.get("shape", [])]
    dtype = config.get("dtype", "float32")
    dtype = dtype.get("config", {}).get("name") if isinstance(dtype, dict) else dtype
    return InputLayer(shape=tuple(shape[1:]), batch_size=shape[0], dtype=dtype,
                      name=config.get("name"))


def layer_config_from_keras(cls: type, spec: dict[str, Any]) -> dict[str, Any]:
    """The pyfrozen config of a Keras layer spec (raises on what pyfrozen lacks)."""
    where = _where(spec)
    accepted = _accepted(cls)
    out = {}
    for key, value in (spec.get("config") or {}).items():
        if key == "dtype":
            value = dtype_from_keras(value, where)
        elif key.endswith("_initializer"):
            value = _initializer_from_keras(value, where, key)
        elif key == "activation" and not isinstance(value, str):
            raise UnsupportedKerasConfig(f"{where}: activation {value!r} is not supported "
                                         "(a named activation is)")
        if key not in accepted:
            if key in KERAS_DEFAULTS and value == KERAS_DEFAULTS[key]:
                continue
            raise UnsupportedKerasConfig(f"{where}: option {key}={value!r} is not supported "
                                         "by pyfrozen")
        out[key] = tuple(value) if isinstance(value, list) and key != "activation" else value
    return out


def layer_from_keras(spec: dict[str, Any]) -> Layer:
    """A new pyfrozen layer (not a model) from a Keras 3 layer spec."""
    class_name = spec.get("class_name")
    where = _where(spec)
    if class_name == "Lambda":
        raise UnsupportedKerasConfig(f"{where}: Lambda layers hold Python code, which pyfrozen "
                                     "never loads; rebuild the model with a registered layer")
    if class_name == "InputLayer":
        return _input_layer_from_keras(spec.get("config") or {}, where)
    try:
        cls = serialization.lookup(spec.get("registered_name") or class_name)
    except ValueError as err:
        raise UnsupportedKerasConfig(f"{where}: {err}") from None
    return cls.from_config(layer_config_from_keras(cls, spec))
