"""Functional and Sequential model configs in Keras 3's form, both ways (nested models too).

A functional model is ``{"layers": [...], "input_layers", "output_layers"}``: each layer
entry carries its ``name`` and ``inbound_nodes``, one per call inside this model, whose
arguments are ``__keras_tensor__`` references ``[layer name, node index, tensor index]``
to the outputs of earlier calls. A Sequential model is its list of layers (an
InputLayer first when the input shape is known). Reading replays the calls in order,
so shared layers and nested models come back as they were.
"""

from __future__ import annotations

from typing import Any

from pyfrozen.layers.input_layer import InputLayer
from pyfrozen.layers.layer import Layer
from pyfrozen.models.graph import flat
from pyfrozen.models.model import Model
from pyfrozen.models.sequential import Sequential
from pyfrozen.saving.keras_config import (
    UnsupportedKerasConfig,
    dtype_from_keras,
    layer_from_keras,
    layer_to_keras,
)
from pyfrozen.saving.keras_order import node_indices

_MODEL_KEYS = {"name", "trainable", "dtype", "layers", "input_layers", "output_layers",
               "build_input_shape"}

# --------------------------------------------------------------------------- pyfrozen -> Keras


def to_keras(layer: Layer) -> dict[str, Any]:
    """Keras 3's serialized form of any pyfrozen layer or model."""
    if isinstance(layer, Sequential):
        return _sequential_to_keras(layer)
    if isinstance(layer, Model):
        if layer._graph is None:
            raise UnsupportedKerasConfig(f"model {layer.name!r} ({type(layer).__name__}) is a "
                                         "subclassed model: its call() is Python code, which a "
                                         "Keras file cannot hold; save_weights instead")
        return _functional_to_keras(layer)
    return layer_to_keras(layer)


def _ref(t: Any, index: dict[int, int]) -> list[Any]:
    return [t.node.layer.name, index[id(t.node)], t.index]


def _tensor(t: Any, index: dict[int, int]) -> dict[str, Any]:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": list(t.shape), "dtype": t.dtype,
                       "keras_history": _ref(t, index)}}


def _functional_to_keras(model: Model) -> dict[str, Any]:
    graph = model._graph
    order = graph.layers()
    index = node_indices(order, [t.node for t in graph.inputs] + graph.nodes)
    calls = {id(node) for node in graph.nodes}
    layers = []
    for layer in order:
        spec = to_keras(layer)
        spec["name"] = layer.name
        spec["inbound_nodes"] = []
        for node in layer._inbound_nodes:
            if id(node) in calls:
                args = [_tensor(t, index) for t in node.inputs]
                arg = args if isinstance(node.input_structure, (list, tuple)) else args[0]
                spec["inbound_nodes"].append({"args": [arg], "kwargs": dict(node.kwargs)})
        layers.append(spec)
    inputs = [_ref(t, index) for t in graph.inputs]
    outputs = [_ref(t, index) for t in graph.outputs]
    config = {"name": model.name, "trainable": model.trainable, "layers": layers,
              "input_layers": inputs if graph.input_is_list else inputs[0],
              "output_layers": outputs if graph.output_is_list else outputs[0]}
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "config": config, "registered_name": "Functional",
            "build_config": {"input_shape": None}}


def _sequential_to_keras(model: Sequential) -> dict[str, Any]:
    inputs = getattr(model, "_input_layers", None) or [
        layer for layer in model._stack[:1] if isinstance(layer, InputLayer)]
    layers = [to_keras(layer) for layer in [*inputs[:1], *model.layers]]
    config = {"name": model.name, "trainable": model.trainable,
              "dtype": {"module": "keras", "class_name": "DTypePolicy",
                        "config": {"name": model.dtype}, "registered_name": None},
              "layers": layers}
    spec = {"module": "keras", "class_name": "Sequential", "config": config,
            "registered_name": None}
    if inputs:
        config["build_input_shape"] = list(inputs[0].batch_shape)
        spec["build_config"] = {"input_shape": list(inputs[0].batch_shape)}
    return spec


# --------------------------------------------------------------------------- Keras -> pyfrozen


def from_keras(spec: dict[str, Any]) -> Layer:
    """A new pyfrozen layer or model from its Keras 3 serialized form."""
    class_name = spec.get("class_name")
    if class_name in ("Functional", "Model") and "input_layers" in (spec.get("config") or {}):
        return _functional_from_keras(spec["config"])
    if class_name == "Sequential":
        return _sequential_from_keras(spec["config"])
    return layer_from_keras(spec)


def _check_model_keys(config: dict[str, Any], kind: str) -> None:
    where = f"model {config.get('name')!r} ({kind})"
    for key in config:
        if key not in _MODEL_KEYS:
            raise UnsupportedKerasConfig(f"{where}: option {key!r} is not supported by pyfrozen")
    if "dtype" in config:
        dtype_from_keras(config["dtype"], where)


def _is_ref(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)


def _resolve(value: Any, tensors: dict[tuple, Any], where: str) -> Any:
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        value = value["config"]["keras_history"]
    if _is_ref(value):
        key = tuple(value)
        if key not in tensors:
            raise KeyError(key)
        return tensors[key]
    if isinstance(value, list):
        return [_resolve(v, tensors, where) for v in value]
    raise UnsupportedKerasConfig(f"{where}: call argument {value!r} is not a tensor; "
                                 "pyfrozen replays calls on tensors only")


def _call_kwargs(kwargs: dict[str, Any], where: str) -> dict[str, Any]:
    out = {}
    for key, value in kwargs.items():
        if key == "mask" and value is None:
            continue
        if key == "training" and isinstance(value, bool):
            out[key] = value
            continue
        raise UnsupportedKerasConfig(f"{where}: call argument {key}={value!r} is not supported")
    return out


def _replay(pending: list[tuple[str, Layer, dict]], tensors: dict[tuple, Any],
            model_name: str) -> None:
    counts: dict[str, int] = {}
    while pending:
        waiting, blocked = [], set()
        for name, layer, node in pending:
            where = f"layer {name!r} in model {model_name!r}"
            args = node.get("args") or []
            if len(args) != 1 or name in blocked:
                if len(args) != 1:
                    raise UnsupportedKerasConfig(f"{where}: a call with {len(args)} "
                                                 "positional arguments is not supported")
                waiting.append((name, layer, node))
                continue
            try:
                x = _resolve(args[0], tensors, where)
            except KeyError:  # an input computed by a later entry: try again next round
                waiting.append((name, layer, node))
                blocked.add(name)  # keep this layer's calls in their order
                continue
            out = layer(x, **_call_kwargs(node.get("kwargs") or {}, where))
            k = counts.get(name, 0)
            counts[name] = k + 1
            for i, t in enumerate(flat(out)):
                tensors[(name, k, i)] = t
        if len(waiting) == len(pending):
            raise ValueError(f"model {model_name!r}: the config's calls cannot be ordered "
                             f"(inputs never computed for {[w[0] for w in waiting]})")
        pending = waiting


def _refs(value: Any, tensors: dict[tuple, Any], model_name: str) -> Any:
    try:
        if _is_ref(value):
            return _resolve(value, tensors, model_name)
        return [_resolve(v, tensors, model_name) for v in value]
    except KeyError as err:
        raise ValueError(f"model {model_name!r}: the config names {list(err.args[0])}, "
                         "which no layer computes") from None


def _functional_from_keras(config: dict[str, Any]) -> Model:
    _check_model_keys(config, "Functional")
    tensors: dict[tuple, Any] = {}
    pending: list[tuple[str, Layer, dict]] = []
    for spec in config["layers"]:
        layer = from_keras(spec)
        name = spec.get("name") or layer.name
        if isinstance(layer, InputLayer):
            tensors[(name, 0, 0)] = layer.output
        pending += [(name, layer, node) for node in spec.get("inbound_nodes") or []]
    _replay(pending, tensors, config.get("name"))
    model = Model(_refs(config["input_layers"], tensors, config.get("name")),
                  _refs(config["output_layers"], tensors, config.get("name")),
                  name=config.get("name"))
    if not config.get("trainable", True):
        model.trainable = False
    return model


def _sequential_from_keras(config: dict[str, Any]) -> Sequential:
    _check_model_keys(config, "Sequential")
    model = Sequential(name=config.get("name"))
    for spec in config["layers"]:
        model.add(from_keras(spec))
    shape = config.get("build_input_shape")
    if not model.built and shape is not None:
        model.build(tuple(shape))
    if not config.get("trainable", True):
        model.trainable = False
    return model
