"""``model.export("x.onnx", format="onnx")``: a pyfrozen model as an ONNX file.

The model's functional graph is walked in execution order, nested models inlined, each
layer call turned into ONNX nodes by its converter (pyfrozen.saving.onnx_layers). The
file keeps the user's interface: inputs and outputs channels-last (NHWC) with the
model's input names and dtypes, a dynamic batch dimension; inside, convolutions run
channels-first (see pyfrozen.saving.onnx_builder). Inference semantics: BatchNormalization
with its moving statistics, Dropout off, whatever ``trainable`` and freeze masks say.

The whole model is converted and checked (``onnx.checker``) before anything is
written, then written atomically: an unsupported layer or option leaves no file behind
and an old file untouched.
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as dist_version
from typing import Any

import numpy as np

from pyfrozen.io.files import write_atomically
from pyfrozen.layers import Embedding, InputLayer
from pyfrozen.models import Model
from pyfrozen.models.model import is_functional
from pyfrozen.saving.onnx_builder import OnnxGraph, Value
from pyfrozen.saving.onnx_layers import CONVERTERS, Call

DEFAULT_OPSET = 17
MIN_OPSET = 13  # Softmax over one axis, Squeeze/Pad/Clip with tensor arguments
_MAX_PROTO_BYTES = 2**31 - 1  # protobuf's limit for one message


def import_onnx() -> Any:
    """The ``onnx`` package, or an ImportError naming the extra that installs it."""
    try:
        return importlib.import_module("onnx")
    except ModuleNotFoundError as err:
        raise ImportError('export(format="onnx") needs the onnx package: '
                          'pip install "pyfrozen[onnx]" (or pip install onnx)') from err


# ---------------------------------------------------------------------------------------
# Checks before converting
# ---------------------------------------------------------------------------------------


def _check_model(model: Any) -> None:
    if not isinstance(model, Model):
        raise TypeError(f"export(format='onnx') exports a pyfrozen Model, got "
                        f"{type(model).__name__}")
    if model._graph is None and type(model).call is Model.call:  # a Sequential with no shape
        raise ValueError(f"export(format='onnx'): model {model.name!r} is not built: give "
                         "it an Input (or input_shape=), call build(input_shape) or call it "
                         "on data first")
    if not is_functional(model):
        raise ValueError(f"export(format='onnx'): model {model.name!r} "
                         f"({type(model).__name__}) defines call() in Python, which has no "
                         "graph to export; build it with the functional API or Sequential")


def _check_dtypes(model: Model, path: str = "") -> None:
    """float32 only: onnxruntime has no float64 convolution or pooling kernels."""
    for layer in model.layers:
        name = f"{path}{layer.name}"
        if is_functional(layer):
            _check_dtypes(layer, f"{name}/")
        elif not isinstance(layer, InputLayer) and layer.dtype != "float32":
            raise ValueError(f"export(format='onnx'): layer {name!r} "
                             f"({type(layer).__name__}) has dtype {layer.dtype}; ONNX export "
                             "supports float32 models (onnxruntime has no float64 "
                             "convolutions): rebuild the model with dtype='float32'")


# ---------------------------------------------------------------------------------------
# The graph walk
# ---------------------------------------------------------------------------------------


def _casts(source: str, target: str, cast_ints: bool) -> bool:
    # Layer._cast_input's rule: floats and bools become the layer's dtype, integers too
    # unless the layer passes them through (Flatten, Reshape).
    return source != target and (np.dtype(source).kind in "fb" or cast_ints)


def _layer_inputs(g: OnnxGraph, layer: Any, values: list[Value]) -> list[Value]:
    if isinstance(layer, Embedding):
        return values  # indices stay integers; the converter casts floats
    cast_ints = not layer.passes_input_dtype
    return [g.cast(v, layer.dtype) if _casts(v.dtype, layer.dtype, cast_ints) else v
            for v in values]


def _convert_call(g: OnnxGraph, layer: Any, inputs: list[Value], shape: tuple,
                  name: str) -> Value:
    converter = CONVERTERS.get(type(layer))
    if converter is None:
        known = ", ".join(sorted({cls.__name__ for cls in CONVERTERS}))
        raise ValueError(
            f"export(format='onnx'): layer {name!r} of class {type(layer).__module__}."
            f"{type(layer).__qualname__} has no ONNX converter; nothing was written. "
            f"Layers that export: {known}, and functional or Sequential models of them")
    return converter(g, Call(layer, _layer_inputs(g, layer, inputs), shape, name))


def _check_call(node: Any, name: str, training: bool) -> None:
    extra = set(node.kwargs) - {"training"}
    if extra:
        raise ValueError(f"export(format='onnx'): layer {name!r} was called with the "
                         f"arguments {sorted(extra)}, which ONNX export cannot replay")
    layer = node.layer
    # A nested model's own calls are checked one by one as it is walked.
    if not is_functional(layer) and layer._differs_in_training(training):
        # predict runs such a call in training mode (batch statistics, random drops):
        # an inference file would silently compute something else.
        raise ValueError(f"export(format='onnx'): layer {name!r} ({type(layer).__name__}) "
                         "is called with training=True in the model, so predict uses it in "
                         "training mode; ONNX export writes inference semantics only. Build "
                         "the model without training=True on that call (or freeze the layer)")


def _walk(g: OnnxGraph, model: Model, inputs: list[Value], path: str,
          training: bool = False) -> list[Value]:
    """Adds the nodes of ``model``'s graph fed with ``inputs``; returns its outputs.
    ``training``: the value an enclosing call passes down (an explicit one wins)."""
    graph = model._graph
    values = {id(t): v for t, v in zip(graph.inputs, inputs, strict=True)}
    for node in graph.nodes:
        layer = node.layer
        name = f"{path}{layer.name}"
        call_training = bool(node.kwargs.get("training", training))
        _check_call(node, name, call_training)
        args = [values[id(t)] for t in node.inputs]
        if is_functional(layer):
            inner = [_model_input(g, v, t.dtype) for v, t in
                     zip(args, layer._graph.inputs, strict=True)]
            results = _walk(g, layer, inner, f"{name}/", call_training)
        else:
            results = [_convert_call(g, layer, args, node.outputs[0].shape, name)]
        for t, v in zip(node.outputs, results, strict=True):
            values[id(t)] = v
    return [values[id(t)] for t in graph.outputs]


def _model_input(g: OnnxGraph, value: Value, dtype: str) -> Value:
    # Model._cast_input's rule: float data becomes the Input's dtype; integers only
    # become a float Input's dtype.
    return g.cast(value, dtype) if _casts(value.dtype, dtype, np.dtype(dtype).kind == "f") else (
        value)


# ---------------------------------------------------------------------------------------
# The model file
# ---------------------------------------------------------------------------------------


def _output_names(model: Model) -> list[str]:
    names = [t.node.layer.name for t in model._graph.outputs]
    if len(set(names)) != len(names):  # one layer's output listed twice
        return [f"output_{i}" for i in range(len(names))]
    return names


def _opset(onnx: Any, opset_version: Any) -> int:
    newest = onnx.defs.onnx_opset_version()
    opset = DEFAULT_OPSET if opset_version is None else opset_version
    if isinstance(opset, bool) or not isinstance(opset, int) or not (
            MIN_OPSET <= opset <= newest):
        raise ValueError(f"export(format='onnx'): opset_version must be an int from "
                         f"{MIN_OPSET} to {newest} (this onnx package's newest). "
                         f"Received: opset_version={opset_version!r}")
    return opset


def _producer_version() -> str:
    try:
        return dist_version("pyfrozen")
    except PackageNotFoundError:
        return "unknown"


def to_onnx(model: Any, opset_version: int | None = None, layout: str = "nchw") -> Any:
    """The ONNX ModelProto of ``model`` (checked by ``onnx.checker``).

    Args:
        model: a built functional or Sequential pyfrozen model, float32.
        opset_version: ONNX opset, default 17.
        layout: "nchw" (default: channels-first between convolutions) or "nhwc"
            (transposes around each convolution); the file's interface is NHWC either way.

    Raises:
        ImportError: the onnx package is missing (names the extra).
        ValueError: an unbuilt or subclassed model, a layer without converter (named
            with its class), an unsupported option or dtype.
    """
    onnx = import_onnx()
    _check_model(model)
    _check_dtypes(model)
    opset = _opset(onnx, opset_version)
    g = OnnxGraph(onnx, layout)
    input_names = [g.unique(t.node.layer.name) for t in model._graph.inputs]
    output_names = [g.unique(n) for n in _output_names(model)]
    inputs = [Value(name, t.shape, t.dtype) for name, t in
              zip(input_names, model._graph.inputs, strict=True)]
    outputs = _walk(g, model, inputs, "")
    for name, value in zip(output_names, outputs, strict=True):
        g.nodes.append(onnx.helper.make_node("Identity", [g.nhwc(value).name], [name],
                                             name=name))
    graph = onnx.helper.make_graph(
        g.nodes, model.name,
        [g.value_info(n, v, "batch") for n, v in zip(input_names, inputs, strict=True)],
        [g.value_info(n, v, "batch") for n, v in zip(output_names, outputs, strict=True)],
        g.initializers)
    opsets = [onnx.helper.make_opsetid("", opset)]
    proto = onnx.helper.make_model(graph, opset_imports=opsets,
                                   ir_version=onnx.helper.find_min_ir_version_for(opsets),
                                   producer_name="pyfrozen",
                                   producer_version=_producer_version())
    if proto.ByteSize() > _MAX_PROTO_BYTES:
        raise ValueError(f"export(format='onnx'): model {model.name!r} needs "
                         f"{proto.ByteSize():,} bytes, over protobuf's 2 GiB limit for one "
                         "file (external weight files are not supported)")
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model: Any, filepath: Any, verbose: Any = None,
                opset_version: int | None = None, layout: str = "nchw") -> None:
    """Writes ``model`` to the ONNX file ``filepath``, atomically (``Model.export``'s
    ``format="onnx"``).

    The file takes and returns channels-last arrays, with the names of the model's
    inputs and output layers and any batch size.

    Args:
        model: a built functional or Sequential model, float32.
        filepath: the ``.onnx`` file to write (replaced all or nothing).
        verbose: print a line naming the file written (Keras 3's argument).
        opset_version: ONNX opset, 13 to the onnx package's newest; default 17.
        layout: "nchw" (default): channels-first between convolutions, one transpose at
            the input; "nhwc": transposes around each convolution. Both give the same
            numbers and an NHWC interface; bench/RESULTS.md compares their speed.

    Raises:
        ImportError: the onnx package is missing (names ``pip install "pyfrozen[onnx]"``).
        ValueError: see :func:`to_onnx`; nothing is written then.
    """
    proto = to_onnx(model, opset_version=opset_version, layout=layout)
    write_atomically(os.fspath(filepath), proto.SerializeToString())
    if verbose:
        print(f"Saved the ONNX model {model.name!r} to {os.fspath(filepath)!r} "
              f"({len(proto.graph.node)} nodes, opset {proto.opset_import[0].version})")


__all__ = ["export_onnx", "import_onnx", "to_onnx"]
