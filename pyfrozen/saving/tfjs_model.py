"""Model topologies in TensorFlow.js's layers form (Keras 2's), both ways.

A Sequential is ``{"name", "layers"}`` whose first layer carries ``batch_input_shape``;
a functional model (class ``Model``) is ``{"name", "layers", "input_layers",
"output_layers"}``, each layer entry with its ``name`` and ``inbound_nodes``: one list
per call, of ``[layer name, node index, tensor index, kwargs]`` per input tensor.
A nested model counts its calls from 1 (tfjs's ``buildNodeConversionMap``: node 0 is
the model's own inside), so references to it are shifted by one both ways.

Reading translates the topology into Keras 3's config form and builds it with the one
Keras model reader (pyfrozen.saving.keras_model.from_keras), so layers, shared calls
and nested models come back through the same code as a ``.keras`` file.
"""

from __future__ import annotations

from typing import Any

from pyfrozen.layers.input_layer import InputLayer
from pyfrozen.layers.layer import Layer
from pyfrozen.models.model import Model
from pyfrozen.models.sequential import Sequential
from pyfrozen.saving.keras_order import node_indices
from pyfrozen.saving.tfjs_config import (
    UnsupportedTfjsConfig,
    input_layer_to_tfjs,
    layer_spec_to_keras,
    layer_to_tfjs,
)

_MODEL_CLASSES = ("Sequential", "Model", "Functional")

# --------------------------------------------------------------------------- pyfrozen -> tfjs


def to_tfjs(layer: Layer) -> dict[str, Any]:
    """tfjs's ``{"class_name", "config"}`` of any pyfrozen layer or model."""
    if not isinstance(layer, Model):
        return layer_to_tfjs(layer)
    if isinstance(layer, Sequential):
        return _sequential_to_tfjs(layer)
    if layer._graph is None:  # its call() is Python code
        raise UnsupportedTfjsConfig(f"model {layer.name!r} ({type(layer).__name__}) is a "
                                    "subclassed model, which a tfjs file cannot hold (it "
                                    "holds layer graphs, not code)")
    return _functional_to_tfjs(layer)


def _sequential_input(model: Sequential) -> InputLayer | None:
    found = getattr(model, "_input_layers", None) or [
        layer for layer in model._stack[:1] if isinstance(layer, InputLayer)]
    return found[0] if found else None


def _sequential_to_tfjs(model: Sequential) -> dict[str, Any]:
    source = _sequential_input(model)
    if source is not None:
        input_layer_to_tfjs(source)  # refuses dtypes tfjs lacks
    if source is not None and source.data_dtype != "float32":
        # tfjs's Sequential gives its first layer the input's dtype, weights included.
        raise UnsupportedTfjsConfig(f"model {model.name!r} (Sequential): a {source.data_dtype} "
                                    "input cannot be written in a tfjs Sequential; build the "
                                    "model as a functional Model to export it")
    specs = []
    for i, layer in enumerate(model.layers):
        if i == 0 and source is not None and not isinstance(layer, Model):
            specs.append(layer_to_tfjs(layer, batch_input_shape=list(source.batch_shape)))
        else:
            specs.append(to_tfjs(layer))
    return {"class_name": "Sequential", "config": {"name": model.name, "layers": specs}}


def _functional_to_tfjs(model: Model) -> dict[str, Any]:
    graph = model._graph
    order = graph.layers()
    index = node_indices(order, [t.node for t in graph.inputs] + graph.nodes)

    def ref(t: Any) -> list[Any]:
        shift = 1 if isinstance(t.node.layer, Model) else 0
        return [t.node.layer.name, index[id(t.node)] + shift, t.index]

    calls = {id(node) for node in graph.nodes}
    layers = []
    for layer in order:
        spec = to_tfjs(layer)
        nodes = [[[*ref(t), dict(node.kwargs)] for t in node.inputs]
                 for node in layer._inbound_nodes if id(node) in calls]
        layers.append({"name": layer.name, **spec, "inbound_nodes": nodes})
    config = {"name": model.name, "layers": layers,
              "input_layers": [ref(t) for t in graph.inputs],
              "output_layers": [ref(t) for t in graph.outputs]}
    return {"class_name": "Model", "config": config}


# --------------------------------------------------------------------------- tfjs -> Keras 3


def topology_to_keras(spec: Any) -> dict[str, Any]:
    """Keras 3's serialized form of a tfjs layer or model spec."""
    if not isinstance(spec, dict):
        raise UnsupportedTfjsConfig(f"a layer entry must be an object, got {spec!r}")
    class_name = spec.get("class_name")
    if class_name == "Sequential":
        return _sequential_to_keras(spec.get("config"))
    if class_name in ("Model", "Functional"):
        return _functional_to_keras(spec.get("config") or {})
    return layer_spec_to_keras(spec)


def _input_shape(spec: Any) -> list[Any] | None:
    """The batch input shape a tfjs layer or model spec fixes, if any."""
    if not isinstance(spec, dict):
        return None
    config = spec.get("config")
    if spec.get("class_name") == "Sequential":
        layers = config if isinstance(config, list) else (config or {}).get("layers")
        return _input_shape(layers[0]) if isinstance(layers, list) and layers else None
    if spec.get("class_name") in ("Model", "Functional") and isinstance(config, dict):
        inputs = config.get("input_layers") or []
        if len(inputs) != 1 or not isinstance(inputs[0], list):
            return None
        for entry in config.get("layers") or []:
            if isinstance(entry, dict) and entry.get("name") == inputs[0][0]:
                return _input_shape(entry)
        return None
    return config.get("batch_input_shape") if isinstance(config, dict) else None


def _sequential_to_keras(config: Any) -> dict[str, Any]:
    if isinstance(config, list):  # Keras 2.0-2.2 wrote the bare list of layers
        config = {"layers": config}
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise UnsupportedTfjsConfig(f"a Sequential config must hold 'layers', got {config!r}")
    specs = config["layers"]
    layers = [topology_to_keras(s) for s in specs]
    first = (specs[0].get("config") or {}) if specs and isinstance(specs[0], dict) else {}
    shape = first.get("batch_input_shape")
    if shape is not None and specs[0].get("class_name") != "InputLayer":
        # tfjs makes the Input the same way (Keras 2 files may list it themselves)
        layers.insert(0, {"class_name": "InputLayer",
                          "config": {"batch_shape": shape, "dtype": first.get("dtype", "float32"),
                                     "name": f"{first.get('name')}_input"}})
    out = {"layers": layers}
    if shape is None and specs and isinstance(specs[0], dict) and (
            specs[0].get("class_name") in _MODEL_CLASSES):
        # A nested model first: tfjs's Sequential takes its inputs, pyfrozen builds on them.
        out["build_input_shape"] = _input_shape(specs[0])
    out.update({k: config[k] for k in ("name", "trainable") if config.get(k) is not None})
    return {"class_name": "Sequential", "config": out}


def _keras_ref(entry: Any, models: set[str], where: str) -> list[Any]:
    if not (isinstance(entry, list) and len(entry) in (3, 4) and isinstance(entry[0], str)
            and all(isinstance(i, int) for i in entry[1:3])):
        raise UnsupportedTfjsConfig(f"{where}: malformed tensor reference {entry!r}")
    node = entry[1] - 1 if entry[0] in models else entry[1]  # nested models count from 1
    return [entry[0], node, entry[2]]


def _keras_node(node: Any, models: set[str], where: str) -> dict[str, Any]:
    if not isinstance(node, list) or not node:
        raise UnsupportedTfjsConfig(f"{where}: malformed inbound node {node!r}")
    refs = [_keras_ref(entry, models, where) for entry in node]
    kwargs = node[0][3] if len(node[0]) == 4 and node[0][3] else {}
    if not isinstance(kwargs, dict):
        raise UnsupportedTfjsConfig(f"{where}: malformed call arguments {kwargs!r}")
    return {"args": [refs[0] if len(refs) == 1 else refs], "kwargs": dict(kwargs)}


def _functional_to_keras(config: dict[str, Any]) -> dict[str, Any]:
    name = config.get("name")
    if not isinstance(config.get("layers"), list):
        raise UnsupportedTfjsConfig(f"model {name!r}: a Model config must hold 'layers'")
    models = {entry.get("name") for entry in config["layers"]
              if isinstance(entry, dict) and entry.get("class_name") in _MODEL_CLASSES}
    layers = []
    for entry in config["layers"]:
        spec = topology_to_keras(entry)
        spec["name"] = entry.get("name")
        where = f"layer {entry.get('name')!r} in model {name!r}"
        spec["inbound_nodes"] = [_keras_node(n, models, where)
                                 for n in entry.get("inbound_nodes") or []]
        layers.append(spec)
    where = f"model {name!r}"
    inputs = [_keras_ref(r, models, where) for r in config.get("input_layers") or []]
    outputs = [_keras_ref(r, models, where) for r in config.get("output_layers") or []]
    out = {"name": name, "layers": layers,
           "input_layers": inputs[0] if len(inputs) == 1 else inputs,
           "output_layers": outputs[0] if len(outputs) == 1 else outputs}
    if config.get("trainable") is not None:  # Keras 2 files may hold a model's own flag
        out["trainable"] = config["trainable"]
    return {"class_name": "Functional", "config": out}
