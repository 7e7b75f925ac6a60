"""Gradient clipping as Keras 3 (``clipnorm``, ``clipvalue``, ``global_clipnorm``), with
frozen elements left out of every norm.

The tape gives frozen elements a gradient of exactly +0.0, so leaving them out changes
nothing for gradients that come from ``backward()``; gradients built by hand may hold
anything there (even NaN), and a frozen element must not change how much the others
move. Norms are summed in float64. The clipped gradients are new arrays; what they
hold at frozen elements does not matter: the masked update never reads it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Mask = np.ndarray | None  # True = frozen, full shape (Parameter.update_mask)


def squared_norm(grad: np.ndarray, mask: Mask) -> float:
    """Sum of squares of the trainable elements, in float64."""
    g = grad if mask is None else grad[~mask]
    flat = g.ravel().astype(np.float64, copy=False)
    return float(np.dot(flat, flat))


def clip_by_norm(grad: np.ndarray, mask: Mask, clipnorm: float) -> np.ndarray:
    """``grad * clipnorm / max(norm, clipnorm)`` (a zero norm leaves ``grad`` as is)."""
    norm = np.sqrt(squared_norm(grad, mask))
    if norm <= clipnorm:  # also False for NaN: then the scale below is NaN, as Keras
        return grad
    return grad * grad.dtype.type(clipnorm / norm)


def clip_by_value(grad: np.ndarray, clipvalue: float) -> np.ndarray:
    """Every element into ``[-clipvalue, clipvalue]`` (NaN stays NaN)."""
    return np.clip(grad, -clipvalue, clipvalue)


def clip_by_global_norm(grads: Sequence[np.ndarray], masks: Sequence[Mask],
                        clipnorm: float) -> list[np.ndarray]:
    """All gradients scaled together so that their joint norm is at most ``clipnorm``.

    An infinite or NaN joint norm makes every gradient NaN, as in Keras (the masked
    update still leaves frozen elements untouched).
    """
    norm = np.sqrt(sum(squared_norm(g, m) for g, m in zip(grads, masks, strict=True)))
    if not np.isfinite(norm):
        return [np.full_like(g, np.nan) for g in grads]
    if norm <= clipnorm:
        return list(grads)
    scale = clipnorm / norm
    return [g * g.dtype.type(scale) for g in grads]
