"""Function: the base of every differentiable op, built-in or user-defined.

An op is a class with two static methods, as in ``torch.autograd.Function``:

- ``forward(ctx, *arrays, **kwargs) -> ndarray`` computes the output from the inputs'
  numpy arrays. ``ctx.needs_input_grad`` is already known here, so forward saves
  (``ctx.save_for_backward``) only what the needed gradients use.
- ``backward(ctx, grad) -> tuple`` returns one gradient array per input, computed only
  where ``ctx.needs_input_grad[i]`` is True (None elsewhere).

``Op.apply(*tensors, **kwargs)`` runs it through the tape, which records a node only
when some input requires a gradient.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pyfrozen.autograd import tape


class Function:
    """Base class of differentiable ops (see the module docstring for the contract).

    Example:

    >>> import numpy as np, pyfrozen
    >>> class Square(pyfrozen.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x * x
    ...     @staticmethod
    ...     def backward(ctx, dy):
    ...         (x,) = ctx.saved_tensors
    ...         return (2 * x * dy,)
    >>> x = pyfrozen.tensor([3.0], requires_grad=True)
    >>> Square.apply(x).backward(np.ones(1, np.float32))
    >>> x.grad
    tensor([6.])
    """

    name: ClassVar[str] = "function"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()

    @staticmethod
    def forward(ctx: tape.Node, *arrays: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("Function subclasses define forward(ctx, *arrays)")

    @staticmethod
    def backward(ctx: tape.Node, grad: Any) -> Any:
        raise NotImplementedError(f"{ctx.name}: no gradient is defined for this op")

    @classmethod
    def apply(cls, *inputs: Any, **kwargs: Any) -> Any:
        """Runs the op on Tensors, recording it if some input requires a gradient."""
        return tape.apply(cls, inputs, kwargs)
