"""Regularization ops: inverted dropout, as Keras (zero a random fraction of the
elements, scale the rest up).

The node saves only the boolean keep-mask (one byte per element): the gradient is
``dy`` scaled where the mask keeps and 0 elsewhere. The mask selects, it never
multiplies, so a NaN in a dropped element gives 0, not NaN.
"""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np

from pyfrozen.autograd.function import Function
from pyfrozen.ops._util import float_operand
from pyfrozen.tensor import Tensor

# The generator used when no seed is given: one per process, as numpy's global one. numpy
# Generators lock internally, so threads may share it; two threads creating it at once
# only waste one.
_rng: np.random.Generator | None = None


def seed_generator(seed: int) -> None:
    """Replaces the process-wide generator by one seeded with ``seed``
    (``pyfrozen.utils.set_random_seed``)."""
    global _rng
    _rng = np.random.default_rng(seed)


def fold_into_generator(value: int) -> None:
    """Replaces the process-wide generator by one seeded with its own next draw and
    ``value``: processes seeded alike then draw apart (pyfrozen.distributed folds in
    the rank, so each shard gets its own dropout noise), still reproducibly."""
    global _rng
    _rng = np.random.default_rng([int(_generator(None).integers(2**63)), int(value)])


def _generator(seed: Any) -> np.random.Generator:
    global _rng
    if seed is None:
        if _rng is None:
            _rng = np.random.default_rng()
        return _rng
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng(seed)
    raise TypeError(
        f"dropout: seed must be None, an int or a numpy.random.Generator, got "
        f"{type(seed).__name__}"
    )


def _scaled_where(a: np.ndarray, keep: np.ndarray, scale: Any) -> np.ndarray:
    out = np.zeros(a.shape, dtype=a.dtype)
    np.multiply(a, scale, out=out, where=keep)
    return out


class Dropout(Function):
    @staticmethod
    def forward(ctx, x, *, rate, rng):
        # Drawn in float32 whatever x's dtype: one seed gives one mask for both dtypes.
        keep = rng.random(x.shape, dtype=np.float32) >= np.float32(rate)
        ctx.scale = x.dtype.type(1.0 / (1.0 - rate))
        ctx.save_for_backward(keep)
        return _scaled_where(x, keep, ctx.scale)

    @staticmethod
    def backward(ctx, dy):
        (keep,) = ctx.saved_tensors
        return (_scaled_where(dy, keep, ctx.scale),)


def dropout(x: Tensor, rate: float, training: bool = True, seed: Any = None) -> Tensor:
    """Sets each element to 0 with probability ``rate`` and scales the rest by ``1 / (1 - rate)``.

    The expected value of every element is unchanged, so inference uses the input as is.

    Args:
        x: float tensor.
        rate: fraction of elements to drop, in [0, 1).
        training: False (inference) returns ``x`` itself.
        seed: None (a generator shared by the process), a numpy ``Generator`` (draws
            from it; successive calls differ), or an int (a new generator from that seed:
            every call with that int drops the same elements).

    Returns:
        A new Tensor, or ``x`` itself (no node recorded) when ``rate == 0`` or not
        ``training``.

    Raises:
        ValueError: ``rate`` is not in [0, 1).
        TypeError: ``x`` is not a float tensor, or ``seed`` is of another type.

    Example:

    >>> import numpy as np, pyfrozen
    >>> from pyfrozen.ops import dropout
    >>> y = dropout(pyfrozen.tensor(np.ones(1000)), 0.2, seed=0)
    >>> sorted(set(y.numpy().tolist())), round(float(y.numpy().mean()), 1)
    ([0.0, 1.25], 1.0)
    """
    x = float_operand(x, "dropout")
    if not isinstance(rate, Real) or not 0 <= rate < 1:
        raise ValueError(f"dropout: rate must be a number in [0, 1), got {rate!r}")
    if not training or rate == 0:
        return x
    return Dropout.apply(x, rate=float(rate), rng=_generator(seed))
