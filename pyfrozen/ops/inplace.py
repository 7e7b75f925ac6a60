"""In-place arithmetic on Tensors (``+=``, ``-=``, ``*=``, ``/=``, ``add_`` ...) by PyTorch's rules.

* Nothing to record (recording is off, or no operand requires a gradient): the
  tensor's own array changes in place, so views and ``.numpy()`` see it, and its version
  counter bumps, so a node that saved the old values refuses to run backward.
* A leaf that requires grad, while recording: RuntimeError, as PyTorch. ``p -= lr * p.grad``
  outside ``no_grad()`` would otherwise be part of the graph it updates; optimizers and
  hand loops update under ``no_grad()``.
* A recorded result, or an operand that requires grad: the op is recorded on a snapshot
  of the old values, the array is overwritten with the result, and the tensor takes the
  new history (PyTorch rebases it the same way). A tensor whose array other tensors
  share (views, ``detach()``) is refused instead: they would keep the old history and
  give a silently wrong gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen.autograd import tape
from pyfrozen.ops import elementwise
from pyfrozen.tensor import Parameter, Tensor

_UFUNCS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide}
_OPS = {"add": elementwise.add, "sub": elementwise.sub, "mul": elementwise.mul,
        "div": elementwise.div}


def leaf_error(what: str) -> RuntimeError:
    """PyTorch's refusal of an in-place change of a leaf that requires grad."""
    return RuntimeError(
        f"{what}: a leaf tensor that requires grad is being used in an in-place operation "
        "while recording is on; the change would bypass its gradient. Update it inside "
        "pyfrozen.no_grad() (as optimizers do), or work on a copy"
    )


def inplace(target: Tensor, other: Any, op: str, what: str, alpha: Any = 1) -> Tensor:
    """``target (op)= alpha * other`` in place; returns ``target``.

    Args:
        target: the tensor changed.
        other: a Tensor, numpy array or Python number, broadcastable to ``target``.
        op: "add", "sub", "mul" or "div".
        what: the operator as the user wrote it (``"+="``, ``"add_"``), for messages.
        alpha: multiplies ``other`` first (``add_`` / ``sub_``).
    """
    if alpha != 1:
        other = other * alpha if isinstance(other, Tensor) else np.multiply(other, alpha)
    other_tensor = isinstance(other, Tensor)
    needs_grad = target._requires_grad or (other_tensor and other._requires_grad)
    if not (needs_grad and tape.is_grad_enabled()):
        _apply_to_array(target, other.data if other_tensor else other, op, what)
    else:
        _record(target, other, op, what)
    return target


def _apply_to_array(target: Tensor, value: Any, op: str, what: str) -> None:
    array = target.data
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and array.dtype.kind == "f" \
            and value.dtype != array.dtype:
        raise TypeError(f"{what}: operand {value.dtype} {value.shape} into tensor {array.dtype} "
                        f"{array.shape}; pyfrozen never casts silently: convert with .astype(...)")
    if not isinstance(value, (np.ndarray, int, float, np.number, np.bool_, bool)):
        raise TypeError(f"{what}: unsupported operand type {type(value).__name__}")
    try:
        _UFUNCS[op](array, value, out=array, casting="same_kind")
    except TypeError:  # numpy's UFuncTypeError: e.g. an integer tensor /= 2
        raise TypeError(f"{what}: the result cannot be stored in place in a tensor of dtype "
                        f"{array.dtype} {array.shape}") from None
    except ValueError:
        shape = np.shape(value)
        raise ValueError(f"{what}: operand of shape {shape} does not broadcast to the tensor's "
                         f"shape {array.shape} (an in-place op cannot change the shape)") from None
    target._version.bump()


def _record(target: Tensor, other: Any, op: str, what: str) -> None:
    if target._node is None and target._requires_grad:
        raise leaf_error(what)
    if isinstance(target, Parameter):
        raise RuntimeError(f"{what}: a Parameter would become a recorded result; change it "
                           "inside pyfrozen.no_grad(), or compute a new tensor")
    if target._version.shared:
        raise RuntimeError(
            f"{what}: in-place change of a tensor {target.shape} whose memory other tensors "
            "share (a view of it, or it of another), while recording: they would keep the "
            "old gradient history. Write it out of place (y = y + x)"
        )
    snapshot = Tensor._wrap(target.data.copy())  # the old values, for the op's backward
    snapshot._node = target._node
    snapshot._requires_grad = target._requires_grad
    result = _OPS[op](snapshot, other)
    if result.shape != target.shape or result.dtype != target.dtype:
        raise ValueError(f"{what}: the result {result.dtype} {result.shape} does not fit the "
                         f"tensor {target.dtype} {target.shape} (an in-place op cannot change "
                         "its shape or dtype)")
    np.copyto(target.data, result.data)
    target._version.bump()
    target._node = result._node
    target._requires_grad = result._requires_grad
