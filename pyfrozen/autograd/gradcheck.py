"""gradcheck: analytic gradients against float64 central differences.

The check contracts the output with a fixed random cotangent ``v`` and compares
``v^T J`` from one ``backward()`` with central differences of ``sum(v * f(x))``, one
element of one input at a time. Use float64: central differences in float32 are
noise, and keep test points away from kinks (relu at 0, ties of max).

Each input is perturbed in place and restored bit for bit, as PyTorch's gradcheck does:
its version counter is left as it was, so a graph recorded before the check still runs
backward; caches keyed by versions see every perturbation through
pyfrozen.autograd.restored_writes instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pyfrozen.autograd.grad_mode import no_grad
from pyfrozen.autograd.restored_writes import note_restored_write


class GradcheckError(AssertionError):
    """An analytic gradient disagrees with the finite-difference one."""


def analytic_grads(fn: Callable[..., Any], inputs: Sequence[Any], v: np.ndarray) -> list:
    """The gradients of ``sum(v * fn(*inputs))`` for every input (None where frozen).

    The inputs' ``.grad`` are left as they were before the call.
    """
    before = [t.grad for t in inputs]
    for t in inputs:
        t.grad = None
    try:
        out = fn(*inputs)
        if not out.requires_grad:
            return [None] * len(inputs)
        out.backward(v.astype(out.dtype))
        return [None if t.grad is None else t.grad.data.copy() for t in inputs]
    finally:
        for t, g in zip(inputs, before, strict=True):
            t.grad = g


def numeric_grad(fn: Callable[..., Any], inputs: Sequence[Any], index: int, v: np.ndarray,
                 eps: float) -> np.ndarray:
    """Central differences of ``sum(v * fn(*inputs))`` with respect to input ``index``."""
    tensor = inputs[index]
    x = tensor.data
    flat = x.reshape(-1)  # the tensor's own storage: perturbed in place, then restored
    if not np.shares_memory(flat, x):
        raise ValueError("gradcheck needs C-contiguous inputs")
    grad = np.empty(x.size, dtype=np.float64)

    def at(value: float) -> float:
        flat[j] = value
        note_restored_write()  # caches keyed by versions (LoRA's merged kernel) see it
        return float(np.sum(v * fn(*inputs).data))

    with no_grad():
        for j in range(x.size):
            keep = flat[j]
            grad[j] = (at(keep + eps) - at(keep - eps)) / (2 * eps)
            flat[j] = keep
            note_restored_write()  # nothing formed on perturbed data matches from here on
    return grad.reshape(x.shape)


def gradcheck(
    fn: Callable[..., Any],
    inputs: Sequence[Any],
    *,
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-4,
    seed: int = 0,
    raise_exception: bool = True,
) -> bool:
    """Checks ``fn``'s gradients for every input that requires grad.

    Args:
        fn: takes the tensors in ``inputs`` and returns one Tensor.
        inputs: Tensors; those requiring grad must be float64 (others, such as integer
            labels or frozen weights, are passed through and must get no gradient).
        eps: finite-difference step.
        atol, rtol: an element passes if ``|analytic - numeric| <= atol + rtol*|numeric|``.
        seed: seed of the random cotangent.
        raise_exception: raise :class:`GradcheckError` on failure (else return False).

    Returns:
        True when every gradient matches.

    Example:

    >>> import numpy as np, pyfrozen
    >>> from pyfrozen.autograd import gradcheck
    >>> x = pyfrozen.tensor(np.array([0.5, 2.0]), requires_grad=True)
    >>> gradcheck(lambda t: t * t * 3.0, [x])
    True
    """
    inputs = list(inputs)
    for i, t in enumerate(inputs):
        if t.requires_grad and t.dtype != np.float64:
            raise ValueError(f"gradcheck: input {i} is {t.dtype}; finite differences need float64")
    with no_grad():
        out = fn(*inputs)
    v = np.random.default_rng(seed).standard_normal(out.shape)
    grads = analytic_grads(fn, inputs, v)
    for i, t in enumerate(inputs):
        problem = _compare(fn, inputs, i, v, grads[i], eps, atol, rtol) if t.requires_grad else (
            None if grads[i] is None else f"input {i} requires no grad but got a gradient")
        if problem is not None:
            if raise_exception:
                raise GradcheckError(problem)
            return False
    return True


def _compare(fn, inputs, i, v, analytic, eps, atol, rtol) -> str | None:
    if analytic is None:
        return f"input {i} {inputs[i].shape} requires grad but got no gradient"
    numeric = numeric_grad(fn, inputs, i, v, eps)
    err = np.abs(analytic - numeric)
    bad = err > atol + rtol * np.abs(numeric)
    if not bad.any():
        return None
    j = np.unravel_index(int(np.argmax(np.where(bad, err, -1))), err.shape)
    return (
        f"gradient of input {i} {inputs[i].shape}: {int(bad.sum())} of {err.size} elements "
        f"differ; worst at {tuple(int(k) for k in j)}: analytic {analytic[j]!r}, "
        f"numeric {numeric[j]!r}"
    )
