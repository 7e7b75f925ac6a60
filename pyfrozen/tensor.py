"""Tensor and Parameter: numpy arrays that the autograd tape can differentiate.

A Tensor owns (or shares) one numpy array, ``data``. It requires a gradient if the
user said so (leaves) or if it was computed from one that does (recorded results).
A Parameter is a leaf with a ``trainable`` switch and an optional freeze mask that
keeps some of its elements unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen.autograd import tape

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _check_dtype(array: np.ndarray, what: str) -> None:
    kind = array.dtype.kind
    if kind == "f" and array.dtype not in _FLOATS:
        raise TypeError(f"{what}: dtype {array.dtype} is not supported (use float32 or float64)")
    if kind not in "fiub":
        raise TypeError(f"{what}: dtype {array.dtype} is not supported")


def _to_array(data: Any, dtype: Any) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.array(data, dtype=dtype)
    array = np.array(data)
    if array.dtype.kind == "f" and not isinstance(data, np.ndarray):
        array = array.astype(np.float32)  # Python floats: float32, as torch.tensor
    elif array.dtype == np.float16:
        array = array.astype(np.float32)
    return array


_TENSOR_FIELDS = ("data", "grad", "_requires_grad", "_node", "_version", "_frozen")


def _unpickle(cls: type, state: dict) -> Tensor:
    t = cls.__new__(cls)
    for name, value in state.items():
        setattr(t, name, value)
    return t


class Tensor(tape.TensorSlots):
    """An n-dimensional array with reverse-mode autograd.

    ``Tensor(data)`` copies, like :func:`pyfrozen.tensor`; :meth:`from_numpy` shares
    memory. Floating tensors are float32 (the default for Python numbers) or float64;
    integer and boolean tensors hold indices and labels and never require a gradient.
    Two float dtypes never mix silently: an op given both raises ``TypeError``.

    Args:
        data: array-like; copied.
        requires_grad: whether ``backward()`` should fill this tensor's ``.grad``.
        dtype: numpy dtype to convert to; by default numpy arrays keep theirs and
            Python numbers become float32 (int64 for integers).
    """

    # data, grad, _requires_grad, _node, _version, _frozen and __weakref__ are C slots of
    # tape.TensorSlots: the tape reads and writes them on every recorded op.
    __slots__ = ()
    __array_priority__ = 1000  # ndarray + Tensor uses Tensor.__radd__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        array = _to_array(data, dtype)
        _check_dtype(array, "Tensor")
        self.data = array
        self.grad: Tensor | None = None
        self._requires_grad = False
        self._node = None
        self._version = tape.Version()
        self._frozen = None
        self.requires_grad = requires_grad

    @classmethod
    def _wrap(cls, array: np.ndarray) -> Tensor:
        """A tensor over ``array`` without copying or checking (internal)."""
        t = cls.__new__(cls)
        t.data = array
        t.grad = None
        t._requires_grad = False
        t._node = None
        t._version = tape.Version()
        t._frozen = None
        return t

    def __reduce__(self) -> tuple:
        """Pickles every field, a subclass's own slots included (Parameter's)."""
        state = {name: getattr(self, name) for name in _TENSOR_FIELDS}
        for cls in type(self).__mro__:
            for name in cls.__dict__.get("__slots__", ()):
                if hasattr(self, name):
                    state[name] = getattr(self, name)
        return (_unpickle, (type(self), state))

    @classmethod
    def from_numpy(cls, array: np.ndarray, requires_grad: bool = False) -> Tensor:
        """A tensor sharing ``array``'s memory (changes show through both ways)."""
        if not isinstance(array, np.ndarray):
            raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(array).__name__}")
        _check_dtype(array, "from_numpy")
        t = cls._wrap(array)
        t.requires_grad = requires_grad
        return t

    # --- attributes -------------------------------------------------------------------

    @property
    def requires_grad(self) -> bool:
        """Whether a gradient flows to (leaf) or through (recorded result) this tensor."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        flag = bool(flag)
        if self._node is not None:
            raise RuntimeError(
                f"requires_grad can only be set on leaf tensors; this one was computed by "
                f"{self._node.name!r} (use .detach() to get a leaf)"
            )
        if flag and self.data.dtype.kind != "f":
            raise TypeError(f"only float tensors can require a gradient, not {self.data.dtype}")
        self._requires_grad = flag

    def requires_grad_(self, flag: bool = True) -> Tensor:
        """Sets ``requires_grad`` in place and returns self."""
        self.requires_grad = flag
        return self

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        """True unless this tensor was computed by a recorded op."""
        return self._node is None

    @property
    def grad_fn(self) -> str | None:
        """Name of the recorded op that produced this tensor (None for leaves)."""
        return None if self._node is None else self._node.name

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = ""
        if self.data.dtype != np.float32:
            extra += f", dtype={self.data.dtype}"
        if self._node is not None:
            extra += f", grad_fn={self._node.name}"
        elif self._requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # --- conversion -------------------------------------------------------------------

    def numpy(self) -> np.ndarray:
        """The underlying array (a view, no copy). Changing it in place is not tracked."""
        return self.data

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def item(self) -> float | int:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def detach(self) -> Tensor:
        """A leaf sharing this tensor's data (and version counter), outside the graph."""
        t = Tensor._wrap(self.data)
        t._version = self._version
        self._version.shared = True  # a recorded in-place change would miss the other
        return t

    # --- autograd ---------------------------------------------------------------------

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulates the gradient of this tensor into ``.grad`` of every leaf it depends on.

        Args:
            grad: gradient of some scalar with respect to this tensor, same shape and
                dtype; may be omitted for a one-element tensor (taken as 1).
            retain_graph: keep the saved arrays so backward can run again.

        Raises:
            RuntimeError: the tensor needs no gradient, or the graph was already freed.
            ValueError: ``grad`` has the wrong shape.
        """
        if not self._requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no input of the ops that "
                "computed it requires a gradient (all frozen, or computed under no_grad())"
            )
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a one-element tensor, got shape "
                    f"{self.shape}; pass grad="
                )
            grad = np.ones_like(self.data)
        else:
            grad = grad.data if isinstance(grad, Tensor) else np.asarray(grad)
            if grad.shape != self.shape or grad.dtype != self.dtype:
                raise ValueError(
                    f"backward(): grad {grad.dtype} {grad.shape} does not match the tensor "
                    f"{self.dtype} {self.shape}"
                )
        tape.run_backward(self, grad, retain_graph)

    # --- in-place changes (never recorded: they bump the version counter) -----------------

    def _check_inplace(self, what: str) -> None:
        if self._requires_grad and tape.is_grad_enabled():
            if self._node is None:
                raise _ops.inplace.leaf_error(what)
            raise RuntimeError(
                f"{what}: in-place change of a recorded result that requires grad; write "
                "it out of place, or inside pyfrozen.no_grad()"
            )

    # Arithmetic in place (pyfrozen.ops.inplace has the rules): ``p -= lr * g`` changes
    # p's own array; a Python ``-=`` without these would silently rebind the name.

    def __iadd__(self, other: Any) -> Tensor:
        return _ops.inplace.inplace(self, other, "add", "+=")

    def __isub__(self, other: Any) -> Tensor:
        return _ops.inplace.inplace(self, other, "sub", "-=")

    def __imul__(self, other: Any) -> Tensor:
        return _ops.inplace.inplace(self, other, "mul", "*=")

    def __itruediv__(self, other: Any) -> Tensor:
        return _ops.inplace.inplace(self, other, "div", "/=")

    def add_(self, other: Any, alpha: Any = 1) -> Tensor:
        """``self += alpha * other`` in place (PyTorch's ``add_``); returns self."""
        return _ops.inplace.inplace(self, other, "add", "add_", alpha)

    def sub_(self, other: Any, alpha: Any = 1) -> Tensor:
        """``self -= alpha * other`` in place; returns self."""
        return _ops.inplace.inplace(self, other, "sub", "sub_", alpha)

    def mul_(self, other: Any) -> Tensor:
        """``self *= other`` in place; returns self."""
        return _ops.inplace.inplace(self, other, "mul", "mul_")

    def div_(self, other: Any) -> Tensor:
        """``self /= other`` in place; returns self."""
        return _ops.inplace.inplace(self, other, "div", "div_")

    def __setitem__(self, index: Any, value: Any) -> None:
        self._check_inplace("__setitem__")
        self.data[index] = value.data if isinstance(value, Tensor) else value
        self._version.bump()

    def zero_(self) -> Tensor:
        """Sets every element to 0 in place."""
        self._check_inplace("zero_")
        self.data[...] = 0
        self._version.bump()
        return self

    def fill_(self, value: float) -> Tensor:
        """Sets every element to ``value`` in place."""
        self._check_inplace("fill_")
        self.data[...] = value
        self._version.bump()
        return self

    def copy_(self, source: Any) -> Tensor:
        """Copies ``source`` (same shape, or broadcastable) into this tensor in place."""
        self._check_inplace("copy_")
        src = source.data if isinstance(source, Tensor) else np.asarray(source)
        if src.dtype.kind == "f" and self.dtype.kind == "f" and src.dtype != self.dtype:
            raise TypeError(f"copy_: source {src.dtype} into tensor {self.dtype}")
        np.copyto(self.data, src)
        self._version.bump()
        return self

    def _bump_version(self) -> None:
        """Records an in-place change made through ``.data`` (optimizers call this)."""
        self._version.bump()

    # --- operators (dispatch to pyfrozen.ops) -------------------------------------------

    def __add__(self, other: Any) -> Tensor:
        return _ops.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _ops.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _ops.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _ops.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _ops.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _ops.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _ops.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ops.div(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return _ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _ops.matmul(other, self)

    def __pow__(self, exponent: Any) -> Tensor:
        return _ops.pow(self, exponent)

    def __rpow__(self, base: Any) -> Tensor:
        return _ops.pow(base, self)

    def __neg__(self) -> Tensor:
        return _ops.neg(self)

    def __getitem__(self, index: Any) -> Tensor:
        return _ops.getitem(self, index)

    __hash__ = object.__hash__  # identity: tensors are dict keys (no elementwise __eq__)

    # --- method forms of common ops ---------------------------------------------------------

    def astype(self, dtype: Any) -> Tensor:
        """A differentiable copy converted to ``dtype`` (float32 <-> float64)."""
        return _ops.cast(self, dtype)

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.mean(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _ops.reshape(self, shape)

    def transpose(self, *axes: Any) -> Tensor:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return _ops.transpose(self, axes or None)

    @property
    def T(self) -> Tensor:  # noqa: N802 (numpy's name)
        return _ops.transpose(self, None)

    def exp(self) -> Tensor:
        return _ops.exp(self)

    def log(self) -> Tensor:
        return _ops.log(self)

    def sqrt(self) -> Tensor:
        return _ops.sqrt(self)

    def relu(self) -> Tensor:
        return _ops.relu(self)

    def sigmoid(self) -> Tensor:
        return _ops.sigmoid(self)

    def tanh(self) -> Tensor:
        return _ops.tanh(self)


class Parameter(Tensor):
    """A leaf tensor a model trains: ``trainable`` switch plus an optional freeze mask.

    Args:
        data: array-like (copied) or a Tensor (its data is shared).
        trainable: whether optimizers may change it; False behaves exactly like a
            mask that freezes every element.
        name: the weight's name inside its layer (``"kernel"``), for messages and files.
        freeze_mask: boolean array broadcastable to the parameter, True = frozen.

    Freezing:
        A frozen parameter (``trainable=False`` or all elements masked) requires no
        gradient: ops on it save nothing for its gradient and run no weight-gradient
        kernel. With a partial mask the gradient of frozen elements is exactly 0, and
        when the mask freezes whole rows, columns or output channels the ops compute the
        weight gradient only for the unfrozen part.
    """

    __slots__ = ("name", "_trainable", "_freeze_mask", "_index_cache", "_update_mask")

    def __init__(
        self,
        data: Any,
        trainable: bool = True,
        name: str | None = None,
        freeze_mask: Any = None,
    ) -> None:
        if isinstance(data, Tensor):
            array = data.data
        else:
            array = _to_array(data, None)
        _check_dtype(array, "Parameter")
        if array.dtype.kind != "f":
            raise TypeError(f"Parameter {name!r}: dtype {array.dtype} is not a float dtype")
        self.data = array
        self.grad = None
        self._node = None
        self._version = data._version if isinstance(data, Tensor) else tape.Version()
        self.name = name
        self._trainable = bool(trainable)
        self._freeze_mask = None
        self._frozen = None
        self._requires_grad = False
        self.set_freeze_mask(freeze_mask)

    @property
    def trainable(self) -> bool:
        """Whether the parameter trains at all (the mask still applies when True)."""
        return self._trainable

    @trainable.setter
    def trainable(self, flag: bool) -> None:
        self._trainable = bool(flag)
        self._requires_grad = self._trainable and not self._all_frozen()

    @property
    def requires_grad(self) -> bool:  # type: ignore[override]
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        self.trainable = flag

    @property
    def freeze_mask(self) -> np.ndarray | None:
        """The boolean mask as given (True = frozen), read-only, or None.

        Change it only with :meth:`set_freeze_mask`: the flags that decide which
        gradients and kernels run are derived from it there.
        """
        return self._freeze_mask

    def set_freeze_mask(self, frozen: Any, axis: int | None = None) -> None:
        """Freezes the elements where ``frozen`` is True; None clears the mask.

        Args:
            frozen: boolean array broadcastable to the parameter's shape, or a 1-D
                mask along ``axis``.
            axis: with a 1-D mask, the axis it runs along (``axis=0`` freezes rows of
                an embedding table; the default, numpy broadcasting, runs along the last).

        Raises:
            ValueError: the mask does not broadcast to the parameter's shape.
            TypeError: the mask is not boolean.
        """
        if frozen is None:
            self._freeze_mask = None
            self._sync()
            return
        mask = np.asarray(frozen.data if isinstance(frozen, Tensor) else frozen)
        if mask.dtype != np.bool_:
            raise TypeError(f"freeze mask of {self._label()}: dtype {mask.dtype}, expected bool")
        if axis is not None:
            if mask.ndim != 1:
                raise ValueError(f"freeze mask with axis={axis} must be 1-D, got {mask.shape}")
            axis = axis % self.ndim
            shape = [1] * self.ndim
            shape[axis] = mask.shape[0]
            mask = mask.reshape(shape)
        try:
            np.broadcast_to(mask, self.shape)
        except ValueError:
            raise ValueError(
                f"freeze mask of {self._label()}: shape {mask.shape} does not broadcast to "
                f"the parameter's shape {self.shape}"
            ) from None
        mask = mask.copy()
        mask.flags.writeable = False  # a write would bypass _sync: frozen units would train
        self._freeze_mask = mask
        self._sync()

    def _label(self) -> str:
        return f"parameter {self.name!r}" if self.name else f"parameter {self.shape}"

    def _all_frozen(self) -> bool:
        return self._frozen is not None and bool(self._frozen.all())

    def _sync(self) -> None:
        # A new mask gets a new _frozen object: nodes recorded under the old one notice.
        mask = self._freeze_mask
        self._frozen = None
        self._index_cache = {}
        self._update_mask = None  # rebuilt from _frozen on first use
        all_frozen = False
        if mask is not None and mask.any():
            all_frozen = bool(mask.all())
            self._frozen = np.broadcast_to(mask, self.shape)
        self._requires_grad = self._trainable and not all_frozen

    @property
    def update_mask(self) -> np.ndarray | None:
        """The freeze mask at full shape as a read-only C-contiguous bool array, or None.

        True = frozen, the convention of the core's masked optimizer kernels, which
        need exactly this layout (``_frozen`` is a broadcast view for row or column
        masks). Built once per mask and cached until the mask changes. None when no
        element is masked; ``trainable`` is not folded in (a parameter with
        ``trainable=False`` gets no update at all).
        """
        if self._frozen is None:
            return None
        if self._update_mask is None:
            mask = np.ascontiguousarray(self._frozen)
            if mask.flags.writeable:  # a copy we own: lock it like the view it replaces
                mask.flags.writeable = False
            self._update_mask = mask
        return self._update_mask

    def trainable_count(self) -> int:
        """How many elements may change (0 when not trainable)."""
        if not self._requires_grad:
            return 0
        if self._frozen is None:
            return self.size
        return int(self.size - np.count_nonzero(self._frozen))

    def trainable_index(self, axis: int) -> np.ndarray | None:
        """Indices along ``axis`` that hold trainable elements, when the mask is whole slices.

        Returns None when there is no mask or the mask also varies along another axis;
        ops then compute the full weight gradient (the tape zeroes frozen elements).
        """
        full = self._frozen
        if full is None:
            return None
        axis = axis % self.ndim
        cached = self._index_cache.get(axis)
        if cached is None:
            others = tuple(a for a in range(self.ndim) if a != axis)
            all_frozen = full.all(axis=others)
            whole_slices = np.array_equal(all_frozen, full.any(axis=others))
            cached = np.flatnonzero(~all_frozen).astype(np.int64) if whole_slices else False
            self._index_cache[axis] = cached
        return None if cached is False else cached

    def __repr__(self) -> str:
        state = "trainable" if self._trainable else "frozen"
        if self._frozen is not None and self._requires_grad:
            state = f"{self.trainable_count()} of {self.size} trainable"
        return f"Parameter(name={self.name!r}, shape={self.shape}, dtype={self.dtype}, {state})"


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A new tensor holding a copy of ``data`` (see :class:`Tensor`)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


tape.register_types(Tensor, Parameter)

from pyfrozen import ops as _ops  # noqa: E402  (ops import Tensor from this module)
