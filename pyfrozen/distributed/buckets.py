"""Gradient buckets: what of each trainable weight goes on the wire, packed into a few
large buffers that are summed over the ranks.

Only weights that train now are planned (the trainer passes them every step), so a
frozen weight sends nothing and a weight unfrozen by a callback joins the next step's
plan. A weight with a freeze mask sends only its trainable elements (rows, channels
or any other pattern: the mask's False entries, gathered by flat index) and gets zeros
back where it is frozen, which is what its gradient holds there anyway.

Buckets are filled from the last weight to the first (the order backward finishes
them) up to ``bucket_bytes`` each; all of them are started before any is waited for.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyfrozen.tensor import Parameter, Tensor


class Slot:
    """Where one weight's trainable elements sit in a bucket."""

    __slots__ = ("position", "weight", "index", "bucket", "offset", "size")

    def __init__(self, position: int, weight: Parameter, bucket: int, offset: int) -> None:
        mask = weight.update_mask  # True = frozen, full shape, or None
        self.position = position  # in the trainer's list of weights
        self.weight = weight
        self.index = None if mask is None else np.flatnonzero(~mask.reshape(-1))
        self.bucket = bucket
        self.offset = offset
        self.size = weight.size if self.index is None else int(self.index.size)


class _Same:
    """An object in a key, equal only to itself: the key holds it, so its id cannot be
    reused by a new mask while the plan that was made for the old one still exists."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj

    def __hash__(self) -> int:
        return id(self.obj)


def plan_key(weights: list[Parameter]) -> tuple[Any, ...]:
    """Changes when the set of weights or one of their masks does (a new plan is due)."""
    return tuple((_Same(w), _Same(w.update_mask)) for w in weights)


class BucketPlan:
    """The buckets for one list of trainable weights.

    Args:
        weights: the weights that train this step, in the trainer's order.
        bucket_bytes: the most bytes per bucket (a larger weight gets a bucket alone).
    """

    def __init__(self, weights: list[Parameter], bucket_bytes: int) -> None:
        self.key = plan_key(weights)
        self.slots: list[Slot] = []
        sizes: list[int] = []
        dtypes: list[np.dtype] = []
        for position in reversed(range(len(weights))):
            w = weights[position]
            slot = Slot(position, w, len(sizes) - 1, sizes[-1] if sizes else 0)
            full = sizes and (sizes[-1] + slot.size) * w.dtype.itemsize > bucket_bytes
            if not sizes or dtypes[-1] != w.dtype or full:
                sizes.append(0)
                dtypes.append(w.dtype)
                slot.bucket, slot.offset = len(sizes) - 1, 0
            sizes[-1] += slot.size
            self.slots.append(slot)
        self.buffers = [np.empty(n, d) for n, d in zip(sizes, dtypes, strict=True)]

    @property
    def elements(self) -> int:
        """Trainable elements sent per step."""
        return sum(b.size for b in self.buffers)

    @property
    def nbytes(self) -> int:
        """Bytes each rank sends into the sum per step."""
        return sum(b.nbytes for b in self.buffers)

    def pack(self, scale: float) -> None:
        """Copies every weight's trainable gradient elements into the buckets, times
        ``scale`` (the gradients are read from ``weight.grad``)."""
        for bucket in range(len(self.buffers)):
            self.pack_bucket(bucket, scale)

    def pack_bucket(self, bucket: int, scale: float) -> None:
        """``pack`` for one bucket (its weights' gradients must be final)."""
        for slot in self.slots:
            if slot.bucket != bucket:
                continue
            g = slot.weight.grad
            out = self.buffers[bucket][slot.offset:slot.offset + slot.size]
            if g is None:  # no path from the loss on this rank: it adds nothing
                out.fill(0)
                continue
            flat = (g.data if isinstance(g, Tensor) else np.asarray(g)).reshape(-1)
            if slot.index is None:
                np.copyto(out, flat, casting="same_kind")
            else:
                np.take(flat, slot.index, out=out)
        if scale != 1.0:
            buffer = self.buffers[bucket]
            buffer *= buffer.dtype.type(scale)

    def unpack(self) -> list[np.ndarray]:
        """The summed gradients, one array per weight in the trainer's order (views of the
        buckets for unmasked weights: valid until the next ``pack``)."""
        out: list[Any] = [None] * len(self.slots)
        for slot in self.slots:
            flat = self.buffers[slot.bucket][slot.offset:slot.offset + slot.size]
            if slot.index is None:
                out[slot.position] = flat.reshape(slot.weight.shape)
            else:
                full = np.zeros(slot.weight.size, flat.dtype)
                full[slot.index] = flat
                out[slot.position] = full.reshape(slot.weight.shape)
        return out
