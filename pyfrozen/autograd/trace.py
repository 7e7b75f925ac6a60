"""trace(): what ran and what was saved, so freezing can be verified, not assumed.

While a trace is active the tape reads the C++ kernel counters around every forward
and backward call and attributes the difference to the op (and the layer whose scope
it ran in). Ops computed with numpy, which no counter sees, appear under their own
name with the pass the tape asked for. Saved bytes are the arrays nodes keep for
backward, each buffer counted once; a Parameter's own storage is not counted (it is
alive anyway).

A trace belongs to the thread that opened it: it sees the ops that thread records and
the kernels that thread calls (the core counts per calling thread too), never those of
another thread running at the same time.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from pyfrozen import _core
from pyfrozen.autograd import tape


class KernelRecord(NamedTuple):
    """One kernel that ran: ``calls`` calls doing ``work`` units for ``op`` in ``layer``."""

    layer: str
    op: str
    kernel: str
    pass_: str
    calls: int
    work: int


class Trace:
    """Kernels run and bytes saved while the ``trace()`` context was active.

    Attributes:
        kernels: list of :class:`KernelRecord`, in the order they ran.
        saved_bytes: bytes of arrays the recorded nodes keep for backward, each buffer
            once (``by_layer()`` gives each layer's own, so shared buffers appear twice).
        nodes: how many nodes were recorded.
    """

    def __init__(self) -> None:
        self.kernels: list[KernelRecord] = []
        self.saved_bytes = 0
        self.nodes = 0
        self._saved: dict[tuple[int, int], weakref.ref] = {}  # (address, size) -> array
        self._bytes_by_layer: dict[str, int] = {}

    # Called by the tape (compiled) around each forward / backward.
    def begin(self) -> dict[tuple[str, str], tuple[int, int]]:
        return {(k, p): (c, w) for k, p, c, w in _core.kernel_counts(this_thread=True)}

    def end(self, node: tape.Node, before: dict, phase: str) -> None:
        layer = node.scope or node.name
        found = False
        for k, p, calls, work in _core.kernel_counts(this_thread=True):
            c0, w0 = before.get((k, p), (0, 0))
            if calls != c0:
                self.kernels.append(KernelRecord(layer, node.name, k, p, calls - c0, work - w0))
                found = True
        if not found:
            self._record_numpy(node, layer, phase)
        if phase == "forward" and node.recording:
            self.nodes += 1
            self._count_saved(node, layer)

    def _record_numpy(self, node: tape.Node, layer: str, phase: str) -> None:
        if phase == "forward":
            self.kernels.append(KernelRecord(layer, node.name, node.name, "forward", 1, 0))
            return
        for needed, parent in zip(node.needs_input_grad, node.parents, strict=True):
            if needed:
                weight = isinstance(parent, tape_parameter_type())
                pass_ = "backward_weight" if weight else "backward_input"
                self.kernels.append(KernelRecord(layer, node.name, node.name, pass_, 1, 0))

    def _count_saved(self, node: tape.Node, layer: str) -> None:
        # Per layer: everything its nodes keep. In total: each buffer once, since a
        # layer's output is often kept both by it (activation) and by the next layer.
        self._bytes_by_layer[layer] = self._bytes_by_layer.get(layer, 0) + node.saved_bytes
        for a in node.counted:
            key = (a.__array_interface__["data"][0], a.nbytes)
            seen = self._saved.get(key)
            if seen is None or seen() is None:  # a dead buffer's address may be reused
                self._saved[key] = weakref.ref(a)
                self.saved_bytes += a.nbytes

    # --- queries -------------------------------------------------------------------------

    def by_layer(self) -> dict[str, int]:
        """Saved bytes per layer (or op name outside layers)."""
        return dict(self._bytes_by_layer)

    def ran(
        self, *, layer: str | None = None, kernel: str | None = None, pass_: str | None = None
    ) -> list[KernelRecord]:
        """The records matching every given field."""
        return [
            r
            for r in self.kernels
            if (layer is None or r.layer == layer)
            and (kernel is None or r.kernel == kernel)
            and (pass_ is None or r.pass_ == pass_)
        ]

    def layers(self) -> list[str]:
        """Layers (or ops) that ran any kernel, in first-run order."""
        return list(dict.fromkeys(r.layer for r in self.kernels))

    def __str__(self) -> str:
        rows = [("layer", "op", "kernel", "pass", "calls", "work")]
        rows += [
            (r.layer, r.op, r.kernel, r.pass_, str(r.calls), str(r.work)) for r in self.kernels
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(6)]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                 for row in rows]
        lines.append(f"saved for backward: {self.saved_bytes:,} bytes in {self.nodes} nodes")
        for layer, nbytes in self._bytes_by_layer.items():
            lines.append(f"  {layer}: {nbytes:,} bytes")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Trace {len(self.kernels)} kernel records, {self.saved_bytes:,} bytes saved>"


def tape_parameter_type() -> type:
    from pyfrozen.tensor import Parameter  # late: tensor.py imports this package

    return Parameter


@contextmanager
def trace() -> Iterator[Trace]:
    """Records the kernels that run and the bytes the tape saves inside the block
    (in the calling thread).

    >>> import numpy as np, pyfrozen
    >>> from pyfrozen.autograd import trace
    >>> x = pyfrozen.tensor(np.ones((2, 3)))
    >>> w = pyfrozen.Parameter(np.ones((3, 4)), trainable=False)
    >>> with trace() as t:
    ...     y = pyfrozen.ops.matmul(x, w)
    >>> y.requires_grad, t.nodes
    (False, 0)
    """
    recorder = Trace()
    previous = tape.set_tracer(recorder)
    try:
        yield recorder
    finally:
        tape.set_tracer(previous)


