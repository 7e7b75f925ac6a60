"""The autograd tape: recording ops and the backward sweep.

This file is compiled by Cython together with ``tape.pxd`` (which makes ``Node`` and
``Version`` extension types, keeps the grad-mode flags in C variables and types the
loops); the installed package holds only the compiled module. There is no pure-Python
fallback: ``COMPILED`` is True in every working install, and a test asserts it.

Recording is by need. :func:`apply` runs an op's forward and records a :class:`Node`
only if some input requires a gradient; the node keeps, per input, whether that
gradient is needed, so the op saves only what those gradients need and the backward
sweep calls only the backward kernels whose results someone uses. Nodes keep arrays,
never Tensors, so no reference cycle delays freeing a graph.
"""

import cython
import numpy as np
from cython.cimports.cpython.pycapsule import PyCapsule_IsValid
from cython.cimports.pyfrozen.autograd.thread_state import (
    pf_get_scope,
    pf_get_tracer,
    pf_grad_enabled,
    pf_swap_grad_enabled,
    pf_swap_scope,
    pf_swap_tracer,
    pf_tracing,
)

COMPILED = cython.compiled

# Grad mode, the layer scope and the trace() recorder are per thread (thread_state.pxd).
_tensor_type = None  # pyfrozen.tensor.Tensor, registered by tensor.py
_parameter_type = None  # pyfrozen.tensor.Parameter


def register_types(tensor_type, parameter_type):
    """Called once by ``pyfrozen.tensor``: the tape builds outputs of these types."""
    global _tensor_type, _parameter_type
    _tensor_type = tensor_type
    _parameter_type = parameter_type


# ---------------------------------------------------------------------------------------
# Modes of the calling thread: grad recording, layer scope, tracer
# ---------------------------------------------------------------------------------------


def is_grad_enabled():
    """Whether ops are recorded in this thread (False inside ``no_grad()``)."""
    return pf_grad_enabled()


def set_grad_enabled(enabled):
    """Sets grad recording on or off for this thread; returns the previous setting."""
    return pf_swap_grad_enabled(bool(enabled))


def current_scope():
    """The layer name recorded with this thread's new nodes (None outside any layer)."""
    return pf_get_scope()


def set_scope(name):
    """Sets the layer name recorded with this thread's new nodes; returns the previous one."""
    return pf_swap_scope(name)


def is_tracing():
    """Whether a trace() is active in this thread (ops then count numpy kernels too)."""
    return pf_tracing()


def set_tracer(tracer):
    """Installs this thread's recorder of kernels and saved bytes (None removes it);
    returns the previous one."""
    return pf_swap_tracer(tracer)


# ---------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------


class TensorSlots:
    """The fields of a Tensor that the tape reads and writes, as C slots.

    ``pyfrozen.Tensor`` derives from this class (its public API and docs are there). The
    tape reaches these fields at C speed instead of through Python attribute lookups
    (which perf put at ~15 % of recording a small op). A new instance has every field
    None (and ``_requires_grad`` False); ``Tensor`` defines pickling, since the Parameter
    subclass adds Python slots that a generated pickler would miss.
    """


class Version:
    """Counts in-place changes of one buffer; shared by a tensor and its views.

    A node saving an array remembers the count; backward refuses to run if it changed.
    ``shared`` tells that another tensor uses the same memory (a view, ``detach()``):
    a recorded in-place change of one would leave the other's history stale.
    """

    def __init__(self):
        self.value = 0
        self.shared = False

    def bump(self):
        self.value += 1


class Node:
    """One recorded op, and the ``ctx`` its forward and backward receive.

    Args:
        name: op name, for traces and error messages.
        parents: per input, the Node that produced it, the leaf Tensor whose ``.grad``
            receives the gradient, or None for an input that needs no gradient.
        needs_input_grad: per input, whether backward must produce its gradient.
        fn: the op (a class with ``forward(ctx, *arrays, **kw)`` and
            ``backward(ctx, grad)``); None for a bare record.

    Ops may set any other attribute on the node (shapes, strides, flags) in forward
    and read it in backward.
    """

    def __init__(self, name, parents, needs_input_grad, fn=None):
        parents = tuple(parents)
        needs_input_grad = tuple([bool(x) for x in needs_input_grad])
        if len(parents) != len(needs_input_grad):
            raise ValueError(
                f"Node {name!r}: {len(parents)} parents but "
                f"{len(needs_input_grad)} needs_input_grad flags"
            )
        _init_node(self, name, fn, needs_input_grad, True)
        self.parents = parents

    def save_for_backward(self, *arrays):
        """Keeps ``arrays`` (None allowed) for backward; a no-op when nothing is recorded.

        An array that is an input's data is checked at backward time against that
        input's version counter, so an in-place change in between raises instead of
        giving a wrong gradient. Saved bytes are counted unless the array is a
        Parameter's own storage (alive anyway).
        """
        if self.recording:
            _save(self, arrays)

    def save_output(self):
        """Asks the tape to keep the op's output for backward (appended to ``saved``)."""
        if self.recording:
            self.save_output_flag = True

    def mark_view_of(self, index):
        """Declares the output a view of input ``index``: they share a version counter."""
        self.view_of = index

    @property
    def saved_tensors(self):
        """What ``save_for_backward`` (and ``save_output``) kept, in order."""
        return self.saved

    def check_versions(self):
        """Raises RuntimeError if an array this node saved was changed in place since
        (what backward checks first; for ops that reuse another node's saved arrays)."""
        _check_versions(self)

    def release(self):
        """Drops the saved arrays, the op and what its forward set on the node (after
        backward ran): a graph still referenced after its backward (a kept loss tensor)
        must not hold arrays that an attribute points to (a recompute function's)."""
        self.saved = ()
        self.saved_versions = ()
        self.counted = ()
        self.fn = None
        vars(self).clear()

    def __repr__(self):
        return f"Node({self.name!r}, needs_input_grad={self.needs_input_grad})"


def _init_node(node, name, fn, needs_input_grad, recording):
    node.name = name
    node.fn = fn
    node.needs_input_grad = needs_input_grad
    node.recording = recording
    node.parents = ()
    node.saved = ()
    node.saved_versions = ()
    node.saved_bytes = 0
    node.counted = ()
    node.scope = pf_get_scope()
    node.inputs = None
    node.save_output_flag = False
    node.view_of = -1
    node.mask_checks = ()


def _save(node, arrays):
    versions = ()
    counted = ()
    for a in arrays:
        if a is None:
            continue
        owner = _input_owning(node.inputs, a)
        if owner is not None:
            versions += ((owner._version, owner._version.value),)
            if isinstance(owner, _parameter_type):
                continue
        counted += (a,)
        node.saved_bytes += a.nbytes
    # Most ops save once: a first save keeps the tuples as they are.
    node.saved = node.saved + arrays if node.saved else arrays
    if versions:
        node.saved_versions = node.saved_versions + versions
    if counted:
        node.counted = node.counted + counted


def _input_owning(inputs, array):
    if inputs is None:
        return None
    for t in inputs:
        if t.data is array:
            return t
    # A view of an input (dense saves x reshaped to rows) is that input's memory too: an
    # in-place change of the input must be caught for it as well.
    base = array.base
    if base is not None:
        for t in inputs:
            if base is t.data or (t.data.base is not None and base is t.data.base):
                return t
    return None


# ---------------------------------------------------------------------------------------
# Recording
# ---------------------------------------------------------------------------------------


def apply(fn, inputs, kwargs):
    """Runs ``fn.forward`` on the inputs' arrays and records a node if a gradient is needed.

    Args:
        fn: the op class (``name``, ``forward``, ``backward``).
        inputs: tuple of Tensors, the op's differentiable inputs.
        kwargs: the op's other arguments, passed to forward as keywords.

    Returns:
        The output Tensor.
    """
    n = len(inputs)
    enabled = pf_grad_enabled()
    record = False
    masks = None  # (parameter, mask) pairs, made only when a masked parameter trains
    needs = [False] * n
    arrays = [None] * n
    dtype = None
    for i in range(n):
        if not isinstance(inputs[i], _tensor_type):
            raise TypeError(
                f"{fn.name}: input {i} is a {type(inputs[i]).__name__}, expected a Tensor "
                "(convert with pyfrozen.tensor(...))"
            )
        t = inputs[i]
        a = t.data
        arrays[i] = a
        a_dtype = a.dtype
        if a_dtype is _F32 or a_dtype is _F64 or a_dtype.kind == "f":
            if dtype is None:
                dtype = a_dtype
            elif a_dtype is not dtype and a_dtype != dtype:
                _raise_dtype_mix(fn.name, inputs)
        if enabled and t._requires_grad:
            needs[i] = True
            record = True
            if t._frozen is not None:
                masks = [(t, t._frozen)] if masks is None else masks + [(t, t._frozen)]
    node = Node.__new__(Node)  # skips __init__'s argument checks: apply built them
    _init_node(node, fn.name, fn, tuple(needs), record)
    node.inputs = inputs
    if masks is not None:
        node.mask_checks = tuple(masks)
    tracer = pf_get_tracer()
    snapshot = tracer.begin() if tracer is not None else None
    # An empty kwargs is not passed on: Cython would copy it for every call.
    out = fn.forward(node, *arrays, **kwargs) if kwargs else fn.forward(node, *arrays)
    if type(out) is not np.ndarray:
        out = np.asarray(out)  # numpy gives scalars for 0-d results
    node.inputs = None
    result = TensorSlots.__new__(_tensor_type)  # grad, _frozen: None
    result.data = out
    if node.view_of >= 0:
        result._version = inputs[node.view_of]._version
        result._version.shared = True
    else:
        result._version = Version.__new__(Version)  # value 0, not shared; skips __init__
    if record:
        node.parents = tuple([_edge(t) for t in inputs])
        result._node = node
        result._requires_grad = True
        if node.save_output_flag:
            node.saved = node.saved + (out,)
            node.saved_versions = node.saved_versions + ((result._version, result._version.value),)
            node.saved_bytes += out.nbytes
            node.counted = node.counted + (out,)
    if snapshot is not None:
        tracer.end(node, snapshot, "forward")
    return result


_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_NO_KWARGS = {}


def apply_binary(fn, a, b):
    """``apply(fn, (a, b), {})`` when ``a`` and ``b`` are Tensors whose arrays share a
    float32 or float64 dtype (an arithmetic operator's common case, checked here in C
    rather than by the op's Python argument checks); None for any other operands, which
    the caller then checks and converts as usual."""
    if not isinstance(a, _tensor_type) or not isinstance(b, _tensor_type):
        return None
    dtype = a.data.dtype
    if dtype is not b.data.dtype or (dtype is not _F32 and dtype is not _F64):
        return None
    return apply(fn, (a, b), _NO_KWARGS)


def _edge(t):
    if t._node is not None:
        return t._node
    if t._requires_grad:
        return t
    return None


def _raise_dtype_mix(name, inputs):
    described = ", ".join(f"{t.data.dtype} {tuple(t.data.shape)}" for t in inputs)
    raise TypeError(
        f"{name}: inputs have different float dtypes ({described}); pyfrozen never casts "
        "silently: convert one with .astype(...)"
    )


# ---------------------------------------------------------------------------------------
# The backward sweep
# ---------------------------------------------------------------------------------------


def reverse_topological_order(root):
    """Nodes reachable from ``root`` along edges whose gradient is needed.

    Every node comes before the nodes that produced its inputs, so running them in
    this order sees each node's output gradient complete. Iterative (no recursion
    limit on deep graphs) and deterministic (inputs are visited in order).
    """
    if root is None:
        return []
    order = []
    visited = {id(root)}
    stack = [(root, 0)]
    while stack:
        node, i = stack[-1]
        if i < len(node.parents):
            stack[-1] = (node, i + 1)
            parent = node.parents[i]
            if isinstance(parent, Node) and node.needs_input_grad[i] and id(parent) not in visited:
                visited.add(id(parent))
                stack.append((parent, 0))
        else:
            stack.pop()
            order.append(node)
    order.reverse()
    return order


def run_backward(root, grad, retain_graph):
    """Propagates ``grad`` (the gradient of ``root``) to every leaf that requires grad.

    Leaf gradients accumulate into ``.grad``; each node's saved arrays are freed as
    soon as it ran unless ``retain_graph``.
    """
    handed = {id(grad)}  # arrays someone else may hold: copied before a leaf keeps them
    root_node = root._node
    if root_node is None:
        _accumulate_leaf(root, grad, "backward", handed)
        return
    pending = {root_node: grad}
    tracer = pf_get_tracer()
    for node in reverse_topological_order(root_node):
        dy = pending.pop(node)
        if node.fn is None:
            raise RuntimeError(
                f"backward through {node.name!r} a second time: its saved arrays were freed "
                "after the first backward(); pass retain_graph=True to the first call"
            )
        _check_versions(node)
        if node.mask_checks:
            _check_masks(node)
        snapshot = tracer.begin() if tracer is not None else None
        grads = node.fn.backward(node, dy)
        if snapshot is not None:
            tracer.end(node, snapshot, "backward")
        if type(grads) is not tuple:
            grads = (grads,)
        if len(grads) != len(node.parents):
            raise RuntimeError(
                f"{node.name}: backward returned {len(grads)} gradients for "
                f"{len(node.parents)} inputs"
            )
        for i in range(len(grads)):
            if not node.needs_input_grad[i]:
                continue
            g = grads[i]
            if g is None:
                raise RuntimeError(f"{node.name}: backward gave no gradient for input {i}")
            if type(g) is not np.ndarray:
                g = np.asarray(g)
            parent = node.parents[i]
            if isinstance(parent, Node):
                # A node still to run holds g: a leaf must not take it as its .grad and
                # later accumulate into it in place.
                handed.add(id(g))
                previous = pending.get(parent)
                pending[parent] = g if previous is None else previous + g
            else:
                for j in range(i + 1, len(grads)):
                    if grads[j] is g:  # handed on to another input of this node too
                        handed.add(id(g))
                _accumulate_leaf(parent, g, node.name, handed)
        if not retain_graph:
            node.release()


def _check_versions(node):
    for version, value in node.saved_versions:
        if version.value != value:
            raise RuntimeError(
                f"{node.name}: an array saved for backward was modified in place after it "
                f"was saved (version {version.value}, saved at version {value}); the "
                "gradient would be wrong. Do the in-place change after backward(), or on a copy"
            )


def _check_masks(node):
    # Ops limit weight-gradient kernels to the slices the mask left trainable at forward
    # time; a mask changed since would be applied half (old limits, new zeroing).
    for param, frozen in node.mask_checks:
        if param._frozen is not frozen:
            raise RuntimeError(
                f"{node.name}: the freeze mask of {param._label()} changed between the "
                "forward pass and backward(); run the forward again with the new mask"
            )


def _owns_memory(a) -> bool:
    # A kernel's large output holds its block through a capsule of this name (the output
    # cache, csrc/python/array_cache.*, kBlockCapsuleName): such an array is its memory's
    # only owner, as one with owndata; a view's base is the ndarray it views, and another
    # library's capsule may share its memory.
    return a.flags.owndata or PyCapsule_IsValid(a.base, b"pyfrozen.output_block") != 0


def _accumulate_leaf(leaf, g, name, handed):
    data = leaf.data
    if g.shape != data.shape or g.dtype != data.dtype:
        raise RuntimeError(
            f"{name}: gradient {g.dtype} {tuple(g.shape)} does not match its input "
            f"{data.dtype} {tuple(data.shape)}"
        )
    frozen = leaf._frozen
    existing = leaf.grad
    if existing is None:
        if id(g) in handed or not _owns_memory(g) or not g.flags.writeable:
            g = g.copy()
        handed.add(id(g))
        if frozen is not None:
            np.copyto(g, 0, where=frozen)
        leaf.grad = _tensor_type._wrap(g)
    else:
        acc = existing.data
        np.add(acc, g, out=acc)
        if frozen is not None:
            np.copyto(acc, 0, where=frozen)
        existing._version.bump()
