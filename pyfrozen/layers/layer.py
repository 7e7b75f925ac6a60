"""Layer: the Keras 3 layer contract on pyfrozen's autograd engine.

A layer owns weights (Parameters made by ``add_weight``) and sub-layers (any Layer
assigned to an attribute), builds itself lazily from the first input shape, and
computes ``call(inputs, training=None)`` with the ops in ``pyfrozen.ops``. Called on
symbolic tensors (``pyfrozen.layers.Input``) it records a node of a functional graph
instead of computing.

Freezing: ``layer.trainable = False`` sets every weight the layer created trainable
and every sub-layer (recursively) to non-trainable, as in Keras 3; a non-trainable
layer reports no trainable weights. ``set_freeze_mask`` freezes part of one weight.
"""

from __future__ import annotations

import inspect
import re
import threading
from typing import Any

import numpy as np

from pyfrozen.autograd import is_grad_enabled, name_scope, no_grad
from pyfrozen.layers.layer_weights import LayerWeights, _structure_changed
from pyfrozen.layers.symbolic import is_symbolic, symbolic_call
from pyfrozen.ops import cast
from pyfrozen.tensor import Parameter, Tensor

Shape = tuple[int | None, ...]

_FLOAT_DTYPES = ("float32", "float64")


# ---------------------------------------------------------------------------------------
# Names and the training flag of the current call
# ---------------------------------------------------------------------------------------

_name_counts: dict[str, int] = {}
_name_lock = threading.Lock()  # two threads building layers must not get the same name


def snake_case(name: str) -> str:
    """``DepthwiseConv2D`` -> ``depthwise_conv2d`` (Keras's default layer names)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base: str) -> str:
    """``base``, then ``base_1``, ``base_2``, ... within this process (as Keras)."""
    with _name_lock:
        count = _name_counts.get(base, 0)
        _name_counts[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


class _CallContext(threading.local):
    """The ``training`` value of the enclosing call, inherited by inner calls (Keras 3).

    Per thread: a model predicting in one thread must not see ``training=True`` from a
    model training in another (its BatchNormalization would use and move batch stats).
    """

    training: bool | None = None


_call_context = _CallContext()


def resolve_training(training: bool | None) -> bool | None:
    """An explicit ``training`` wins; otherwise the enclosing call's value (this thread's)."""
    return _call_context.training if training is None else bool(training)


# ---------------------------------------------------------------------------------------
# Layer
# ---------------------------------------------------------------------------------------


class Layer(LayerWeights):
    """Base class of every layer, built-in or user-defined (the Keras 3 contract).

    Subclasses create weights in ``build(input_shape)`` with ``add_weight`` and compute
    in ``call(inputs, training=None)``; ``__call__`` builds lazily, casts inputs to the
    layer's dtype and labels the recorded ops with the layer's name.

    Input dtypes follow Keras's rule, the same for layers, models and the labels of
    losses: data is cast to the compute dtype (float64, integer and boolean arrays to
    float32 for a float32 layer; a nested list of numbers is one array). Indices stay
    integers: Embedding inputs, integer model ``Input``s, sparse cross-entropy labels,
    and layers that only move data (Flatten, Reshape: ``passes_input_dtype``).

    Args:
        trainable: whether the layer's weights train.
        name: unique name within a model; default: the snake-case class name with a
            process-wide counter (``dense``, ``dense_1``, ...), as Keras.
        dtype: "float32" (default) or "float64": weights and computation.

    Freezing:
        ``trainable=False`` makes every weight the layer created non-trainable and
        sets it on every sub-layer: no gradient is computed for those weights, no
        weight-gradient kernel runs and nothing is saved for it. Weights created with
        ``add_weight(trainable=False)`` (BatchNormalization's moving statistics) never
        train. ``set_freeze_mask`` freezes part of one weight.

    Example:

    >>> import numpy as np, pyfrozen
    >>> class Scale(pyfrozen.layers.Layer):
    ...     def build(self, input_shape):
    ...         self.scale = self.add_weight("scale", (input_shape[-1],), "ones")
    ...     def call(self, x):
    ...         return x * self.scale
    >>> layer = Scale()
    >>> layer(np.ones((2, 3))).shape, layer.count_params()
    ((2, 3), 3)
    """

    def __init__(
        self,
        trainable: bool = True,
        name: str | None = None,
        dtype: Any = None,
        **kwargs: Any,
    ) -> None:
        input_shape = kwargs.pop("input_shape", None)
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}: unexpected keyword arguments {sorted(kwargs)}"
            )
        dtype = "float32" if dtype is None else np.dtype(dtype).name
        if dtype not in _FLOAT_DTYPES:
            raise ValueError(f"{type(self).__name__}: dtype must be float32 or float64. "
                             f"Received: dtype={dtype}")
        self._tracked: list[Layer] = []
        self._params: list[Parameter] = []
        self._created_trainable: list[bool] = []
        self._explicit_name = name is not None
        self.name = name if name is not None else unique_name(snake_case(type(self).__name__))
        self.dtype = dtype
        self._trainable = bool(trainable)
        self.built = False
        self._inbound_nodes: list[Any] = []
        self._build_shape: Any = None
        self._declared_input_shape = None if input_shape is None else tuple(input_shape)

    # --- attribute tracking ---------------------------------------------------------------

    def __setattr__(self, key: str, value: Any) -> None:
        tracked = self.__dict__.get("_tracked")
        if tracked is not None and not key.startswith("_"):
            for item in value if isinstance(value, (list, tuple)) else (value,):
                if isinstance(item, Layer) and item is not self and item not in tracked:
                    tracked.append(item)
                    _structure_changed()
                    if not self.__dict__.get("_trainable", True):
                        item.trainable = False  # a frozen parent freezes what it gains
        if key in ("_tracked", "_params", "_created_trainable") and key in self.__dict__:
            _structure_changed()  # replaced after construction (a new layer is in no model)
        object.__setattr__(self, key, value)

    @property
    def layers(self) -> list[Layer]:
        """Sub-layers, in the order they were assigned."""
        return list(self._tracked)

    # --- freezing ----------------------------------------------------------------------------

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        value = bool(value)
        self._trainable = value
        for p, created in zip(self._params, self._created_trainable, strict=True):
            if created and all(p is not q for q in self._pinned_frozen):
                p.trainable = value
        for layer in self._tracked:
            layer.trainable = value

    def set_freeze_mask(self, weight_name: str, frozen: Any = None, axis: int | None = None
                        ) -> None:
        """Freezes the elements of weight ``weight_name`` where ``frozen`` is True.

        Args:
            weight_name: one of this layer's weights (``"kernel"``, ``"embeddings"``).
            frozen: boolean mask broadcastable to the weight (or 1-D along ``axis``);
                None clears it. Masks survive ``trainable`` toggles.
            axis: with a 1-D mask, the axis it runs along.
        """
        self.get_weight(weight_name).set_freeze_mask(frozen, axis=axis)

    # --- building and calling ------------------------------------------------------------------

    def build(self, input_shape: Any) -> None:
        """Creates the weights; the default creates none."""

    def call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement call()")

    # Layers whose weights fix the size of the input's last axis (Dense, convolutions,
    # BatchNormalization) set this, so a reuse on another size fails when the graph is
    # built, with Keras's message, instead of later inside the op.
    _fixed_last_dim = False

    def _check_input_shape(self, input_shape: Any) -> None:
        built = self._build_shape
        if not (self._fixed_last_dim and self.built and isinstance(built, tuple)):
            return
        if isinstance(input_shape, tuple) and input_shape and input_shape[-1] is not None and (
                built[-1] is not None and input_shape[-1] != built[-1]):
            raise ValueError(
                f'Input 0 of layer "{self.name}" is incompatible with the layer: expected axis '
                f"-1 of input shape to have value {built[-1]}, but received input with shape "
                f"{input_shape}"
            )

    def _maybe_build(self, input_shape: Any) -> None:
        self._check_input_shape(input_shape)
        if not self.built:
            self._build_shape = tuple(input_shape) if isinstance(input_shape, tuple) else (
                input_shape)
            with no_grad():
                self.build(input_shape)
            self.built = True

    # Weights that ``trainable = True`` leaves frozen (the base weight under LoRA).
    _pinned_frozen: tuple = ()

    # Layers called on a list of inputs (Add, Concatenate) set this: a list of plain
    # numbers is then a list of inputs, not one array.
    _list_input = False

    # Layers that only move data (Flatten, Reshape) set this: integer inputs (token ids)
    # stay integers, as their symbolic output keeps the input's dtype.
    passes_input_dtype = False

    def _cast_input(self, x: Any) -> Any:
        cast_ints = not self.passes_input_dtype
        if isinstance(x, (list, tuple)) and self._list_input:
            return type(x)(_cast_structure(v, self.dtype, cast_ints) for v in x)
        return _cast_structure(x, self.dtype, cast_ints)

    def __call__(self, *args: Any, training: bool | None = None, **kwargs: Any) -> Any:
        if args and is_symbolic(args[0]):
            return symbolic_call(self, args, training, kwargs)
        inputs = self._cast_input(args[0])
        self._maybe_build(shape_of(inputs))
        training = resolve_training(training)
        context = _call_context
        previous = context.training
        context.training = training
        try:
            with name_scope(self.name):
                if self._accepts_training():
                    kwargs["training"] = training
                return self.call(inputs, *args[1:], **kwargs)
        finally:
            context.training = previous

    def _differs_in_training(self, training: bool | None) -> bool:
        """Whether a call with this ``training`` value may compute something else than an
        inference call, or change the layer's state (random noise, batch statistics).
        The frozen-prefix cache of ``fit`` stops below such a layer. By default a layer
        whose ``call`` takes ``training`` is assumed to use it, and so is a layer holding
        one that differs (a Dropout inside inherits the call's ``training``)."""
        if not training:
            return False
        return self._accepts_training() or any(
            layer._differs_in_training(training) for layer in self._tracked)

    @classmethod
    def _accepts_training(cls) -> bool:
        cached = cls.__dict__.get("_training_arg")
        if cached is None:
            cached = "training" in inspect.signature(cls.call).parameters
            cls._training_arg = cached
        return cached

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Output shape for an input shape (batch may be None).

        The default runs ``call`` on zeros under ``no_grad``; layers override it when
        that is wasteful or the output shape is easy to state.
        """
        def concrete(shape):
            return tuple(1 if d is None else d for d in shape)

        def zeros(shape):
            if isinstance(shape, list):
                return [zeros(s) for s in shape]
            return Tensor._wrap(np.zeros(concrete(shape), self.dtype))

        with no_grad():
            out = self(zeros(input_shape), training=False)
        batch = input_shape[0][0] if isinstance(input_shape, list) else input_shape[0]
        return _with_batch(shape_of(out), batch)

    # --- graph accessors (functional models) -----------------------------------------------

    @property
    def output(self) -> Any:
        """The symbolic output of this layer's first call in a functional graph."""
        if not self._inbound_nodes:
            raise AttributeError(f"layer {self.name!r} has never been called on a symbolic "
                                 "input, so it has no defined output")
        return self._inbound_nodes[0].output_structure

    @property
    def input(self) -> Any:
        """The symbolic input of this layer's first call in a functional graph."""
        if not self._inbound_nodes:
            raise AttributeError(f"layer {self.name!r} has never been called on a symbolic "
                                 "input, so it has no defined input")
        return self._inbound_nodes[0].input_structure

    # --- config ----------------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments that recreate this layer (without its weights)."""
        return {"name": self.name, "trainable": self.trainable, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """A new layer from ``get_config()``'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}, built={self.built}>"


def to_tensor(value: Any, dtype: str, cast_ints: bool = False) -> Tensor:
    """``value`` as a Tensor for an input of ``dtype`` (how layers and models cast inputs).

    The dtype rule (Keras's): data is cast to the compute dtype. Float (and bool) data
    becomes ``dtype`` when that is a float dtype, with a differentiable cast for Tensors;
    integer data becomes it too with ``cast_ints`` (layers and float model inputs), else
    keeps its dtype (indices: Embedding, integer model inputs).

    A caller's array is used without a copy where nothing can keep it: with grad
    recording off (``predict``, ``no_grad``). While recording, an op may save the input
    for backward, and the caller may change the array before backward runs (a reused
    batch buffer, a prefetching thread): the version counters that guard Tensors cannot
    see a plain numpy write, so the gradient would silently be wrong. The Tensor then
    holds a private copy instead (unless the cast already made one).
    """
    if isinstance(value, Tensor):
        kind = value.data.dtype.kind
        if kind == "f" and np.dtype(dtype).kind == "f" and value.data.dtype.name != dtype:
            return cast(value, dtype)
        if kind in "iub" and np.dtype(dtype).kind == "f" and _casts(value.data.dtype, dtype,
                                                                  cast_ints):
            return Tensor._wrap(value.data.astype(dtype))  # no gradient flows through ints
        return value
    array = np.ascontiguousarray(value)
    if _casts(array.dtype, dtype, cast_ints):
        array = array.astype(dtype)
    elif (array is value or array.base is not None) and is_grad_enabled():
        array = array.copy()  # borrowed memory (see above): a private copy
    return Tensor.from_numpy(array)


def _casts(source: np.dtype, dtype: str, cast_ints: bool) -> bool:
    return source.name != dtype and (source.kind in "fb" or (cast_ints and source.kind in "iu"))


def _cast_structure(x: Any, dtype: str, cast_ints: bool) -> Any:
    if isinstance(x, (list, tuple)) and not is_plain_data(x):
        return type(x)(_cast_structure(v, dtype, cast_ints) for v in x)
    return to_tensor(x, dtype, cast_ints=cast_ints)


def is_plain_data(value: Any) -> bool:
    """A non-empty nested list/tuple of numbers only: one array (as Keras), not a list of
    inputs."""
    if isinstance(value, (list, tuple)):
        return len(value) > 0 and all(is_plain_data(v) for v in value)
    return isinstance(value, (int, float, np.number, np.bool_))


def shape_of(value: Any) -> Any:
    """Shape of a Tensor/array (or list of shapes for a list of them)."""
    if isinstance(value, (list, tuple)):
        return [shape_of(v) for v in value]
    return tuple(value.shape)


def _with_batch(shape: Any, batch: int | None) -> Any:
    if isinstance(shape, list):
        return [_with_batch(s, batch) for s in shape]
    return (batch, *shape[1:])
