"""Model: a layer made of layers, functional (``Model(inputs, outputs)``) or subclassed.

A functional model replays the graph of layer calls between its symbolic inputs and
outputs; a subclass defines ``call`` itself. Either kind can be called inside another
model like any layer, frozen as a whole (``trainable = False``), cut at a named layer
(``Model(base.inputs, base.get_layer("conv_pw_13_relu").output)``), summarized,
saved and loaded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen.layers.input_layer import InputLayer
from pyfrozen.layers.layer import Layer, to_tensor, unique_name
from pyfrozen.models.freezing import Freezing
from pyfrozen.models.graph import Graph, flat
from pyfrozen.models.trainer import Trainer
from pyfrozen.tensor import Tensor


class Model(Trainer, Freezing, Layer):
    """Groups layers into a model with ``compile`` / ``fit`` / ``evaluate`` / ``predict``,
    ``summary`` and weight files.

    Args:
        inputs: symbolic input(s) from ``pyfrozen.layers.Input`` (functional API).
        outputs: symbolic output(s) computed from ``inputs`` by calling layers.
        name: model name; default "functional" (with a counter), or the snake-case
            class name for subclasses.
        trainable: whether the model's layers train.

    Freezing:
        ``model.trainable = False`` freezes every layer inside, recursively (Keras 3):
        no weight gradients, BatchNormalization in inference mode. Calling a frozen
        base with ``training=False`` (``base(x, training=False)``) keeps its
        BatchNormalization layers in inference mode even while the outer model trains.
        ``freeze(patterns)`` / ``unfreeze(patterns, include_bn=False)`` /
        ``freeze_to(layer_name)`` do it by glob patterns over layer names (see
        pyfrozen.models.freezing); every change applies at the next training step.

    Example:

    >>> import numpy as np, pyfrozen
    >>> from pyfrozen.layers import Dense, Input
    >>> inputs = Input((4,))
    >>> model = pyfrozen.models.Model(inputs, Dense(2)(inputs))
    >>> model.predict(np.ones((3, 4))).shape
    (3, 2)
    """

    def __init__(self, inputs: Any = None, outputs: Any = None, name: str | None = None,
                 trainable: bool = True, **kwargs: Any) -> None:
        explicit = name is not None
        if name is None and type(self) is Model:
            name = unique_name("functional")
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._explicit_name = explicit
        self._graph: Graph | None = None
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError("Model(inputs, outputs) needs both inputs and outputs")
            self._set_graph(Graph(inputs, outputs))

    def _set_graph(self, graph: Graph) -> None:
        names = [layer.name for layer in graph.layers()]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f'The name "{name}" is used {names.count(name)} times in the '
                                 "model. All layer names should be unique.")
        self._graph = graph
        self._tracked = [layer for layer in graph.layers() if not isinstance(layer, InputLayer)]
        self._input_layers = [layer for layer in graph.layers() if isinstance(layer, InputLayer)]
        self.built = True

    # --- structure -------------------------------------------------------------------------

    @property
    def inputs(self) -> list[Any]:
        """The symbolic inputs (functional models)."""
        return list(self._graph.inputs) if self._graph is not None else []

    @property
    def outputs(self) -> list[Any]:
        """The symbolic outputs (functional models)."""
        return list(self._graph.outputs) if self._graph is not None else []

    @property
    def layers(self) -> list[Layer]:
        """The model's layers; for functional models in Keras's order (by decreasing depth,
        the inputs usually first), which can differ from the call order."""
        if self._graph is not None:
            return self._graph.layers()
        return list(self._tracked)

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by name (or by position in ``layers``).

        Raises:
            ValueError: no layer has that name (the message lists the names).
        """
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"model {self.name!r} has {len(layers)} layers; "
                                 f"index {index} is out of range")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: "
                         f"{[layer.name for layer in layers]}.")

    # --- calling ----------------------------------------------------------------------------

    def _data_structure(self, x: Any) -> Any:
        """A plain nested list given to a one-input model is one array, as in Keras."""
        one_input = self._graph is not None and len(self._graph.inputs) == 1
        if one_input and isinstance(x, (list, tuple)) and not _holds_arrays(x):
            return np.asarray(x)
        return x

    def _cast_input(self, x: Any) -> Any:
        if self._graph is None:
            return super()._cast_input(x)
        x = self._data_structure(x)
        values = flat(x)
        if len(values) != len(self._graph.inputs):
            raise ValueError(f"model {self.name!r} expects {len(self._graph.inputs)} "
                             f"input(s), received {len(values)}")
        cast = [to_tensor(v, t.dtype, cast_ints=np.dtype(t.dtype).kind == "f")
                for v, t in zip(values, self._graph.inputs, strict=True)]
        for v, t in zip(cast, self._graph.inputs, strict=True):
            _check_shape(self.name, t, v)
        return cast if isinstance(x, (list, tuple)) else cast[0]

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if self._graph is None:
            raise NotImplementedError(
                f"{type(self).__name__}: subclassed models must implement call(); "
                "functional models are made with Model(inputs, outputs)"
            )
        return self._graph.run(flat(inputs))

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self._graph is not None:
            shapes = flat(input_shape) if isinstance(input_shape, list) else [input_shape]
            same = all(tuple(s[1:]) == tuple(t.shape[1:])
                       for s, t in zip(shapes, self._graph.inputs, strict=False))
            if same and len(shapes) == len(self._graph.inputs):
                batch = shapes[0][0]
                out = [(batch, *t.shape[1:]) for t in self._graph.outputs]
                return out if self._graph.output_is_list else out[0]
        return super().compute_output_shape(input_shape)

    # --- summary and weight files (pyfrozen.models.summary / saving) ---------------------------

    def summary(self, show_trainable: bool = True, expand_nested: bool = False,
                print_fn: Any = None) -> Any:
        """Prints the layer table and the Keras footer; returns it as a ModelSummary.

        Args:
            show_trainable: add the Trainable column ("Y", "N", or "12,288 of 65,536"
                for partly masked weights) and each BatchNormalization's mode.
            expand_nested: also list the layers inside nested models.
            print_fn: called with the text instead of ``print``.

        Returns:
            A :class:`pyfrozen.models.summary.ModelSummary` with the same numbers as
            attributes (``total_params``, ``trainable_params``, ``non_trainable_params``).
        """
        from pyfrozen.models.summary import summarize

        result = summarize(self, show_trainable=show_trainable, expand_nested=expand_nested)
        (print_fn or print)(str(result))
        return result

    def save_weights(self, filepath: str, overwrite: bool = True) -> None:
        """Writes every weight; the format is told by the suffix: ``.safetensors``
        (pyfrozen's: keyed by each weight's path, sha256-checked) or ``.weights.h5``
        (Keras 3's layout, which Keras 3 loads). Both are written atomically.

        Raises:
            ValueError: another suffix (the message names the two).
            FileExistsError: ``overwrite=False`` and the file exists (Keras asks).
        """
        import os

        from pyfrozen.models.formats import weights_format

        saver = weights_format(filepath, "save_weights").save
        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"save_weights: {filepath!r} exists and overwrite=False")
        saver(self, filepath)

    def load_weights(self, filepath: str, skip_mismatch: bool = False) -> Any:
        """Loads a ``.safetensors`` or ``.weights.h5`` file (written by pyfrozen or, for
        ``.weights.h5``, by Keras 3 for the same architecture).

        Every weight is checked before any is copied: a mismatch raises naming each one
        and leaves the model unchanged, unless ``skip_mismatch``, which loads what fits
        and returns a LoadResult (missing, unexpected, mismatched).
        """
        from pyfrozen.models.formats import weights_format

        return weights_format(filepath, "load_weights").load(self, filepath,
                                                             skip_mismatch=skip_mismatch)

    def save(self, filepath: str, overwrite: bool = True, **kwargs: Any) -> None:
        """Saves the whole model; the format is told by the suffix (``.keras``: Keras 3's
        zip, which Keras 3 itself loads). See ``pyfrozen.models.formats``."""
        from pyfrozen.models.formats import model_saver

        model_saver(filepath)(self, filepath, overwrite=overwrite, **kwargs)

    def export(self, filepath: str, format: str = "tf_saved_model", **kwargs: Any) -> None:
        """Writes the model for inference elsewhere (Keras 3's call): ``format="onnx"``
        (a ``.onnx`` file) or ``"tfjs"`` (a TensorFlow.js layers-model folder).

        Raises:
            ValueError: a format pyfrozen does not export (the message lists those it does).
        """
        from pyfrozen.models.formats import exporter

        exporter(format)(self, filepath, **kwargs)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "trainable": self.trainable}


def is_functional(layer: Any) -> bool:
    """Whether ``layer`` is a model that replays a layer graph (functional or Sequential
    with a known input shape), so each of its layer calls is known."""
    return isinstance(layer, Model) and layer._graph is not None and (
        type(layer).call is Model.call)


def _holds_arrays(x: Any) -> bool:
    return all(isinstance(v, (np.ndarray, Tensor)) for v in x)


def _check_shape(model: str, spec: Any, value: Tensor) -> None:
    expected = spec.shape
    got = tuple(value.shape)
    if len(got) != len(expected) or any(
            e is not None and e != g for e, g in zip(expected, got, strict=True)):
        raise ValueError(f"model {model!r}: input {spec.name or ''} expects shape {expected}, "
                         f"received {got}")
