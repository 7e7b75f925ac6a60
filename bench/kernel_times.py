"""Measured time of the kernels a step calls, by kernel and kind.

Every function of ``pyfrozen._core`` is wrapped with a timer while the steps run (also
where a module imported it by name), so the table says where a step's time goes by
measurement, next to the trace's estimate from multiply-adds. Convolutions are told apart
by kind: 1x1 (``pw``), depthwise (``dw``) or any other (``conv``), and stride. What the
kernels do not account for is Python, numpy and the allocator ("rest"; it also holds the
timers' own cost, ~1 us a call: ~0.3 ms of a MobileNet step's ~300 calls).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

Totals = dict[str, list[float]]  # key -> [seconds, calls]
CONV_KERNELS = ("conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight")


def conv_kind(name: str, args: tuple, kwargs: dict) -> str:
    """``conv2d_forward[pw s1]``: a convolution call's kind and stride."""
    stride = kwargs.get("stride", 1)
    stride = stride[0] if isinstance(stride, (tuple, list)) else stride
    if kwargs.get("groups", 1) != 1:
        kind = "dw"
    else:
        size = kwargs.get("kernel_size") or (args[1].shape[:2] if len(args) > 1 else None)
        size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        kind = "pw" if size == (1, 1) else "conv"
    return f"{name}[{kind} s{stride}]"


def _timed(name: str, fn: Callable, totals: Totals) -> Callable:
    def call(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            key = conv_kind(name, args, kwargs) if name in CONV_KERNELS else name
            cell = totals.setdefault(key, [0.0, 0])
            cell[0] += time.perf_counter() - start
            cell[1] += 1
    return call


@contextmanager
def timed_kernels() -> Iterator[Totals]:
    """Within the block every ``_core`` function is timed into the yielded totals."""
    from pyfrozen import _core

    totals: Totals = {}
    originals = {n: getattr(_core, n) for n in dir(_core)
                 if not n.startswith("_") and callable(getattr(_core, n))}
    patched = [(_core, n, f) for n, f in originals.items()]
    for module in list(sys.modules.values()):
        if module is _core or not getattr(module, "__name__", "").startswith("pyfrozen"):
            continue
        patched += [(module, n, f) for n, f in originals.items()
                    if getattr(module, n, None) is f]
    try:
        for module, name, fn in patched:
            setattr(module, name, _timed(name, fn, totals))
        yield totals
    finally:
        for module, name, fn in patched:
            setattr(module, name, fn)


def measure(step: Callable[[], object], steps: int) -> dict[str, Any]:
    """Per-step kernel seconds and calls over ``steps`` timed steps, and the step time."""
    with timed_kernels() as totals:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        seconds = (time.perf_counter() - start) / steps
    return {"seconds": seconds,
            "kernels": {k: [s / steps, c / steps] for k, (s, c) in totals.items()}}


def kernel_rows(result: dict[str, Any]) -> list[list[str]]:
    """One row per kernel key, slowest first, then the rest of the step."""
    step_ms = result["seconds"] * 1e3
    rows, spent = [], 0.0
    for key, (seconds, calls) in sorted(result["kernels"].items(), key=lambda kv: -kv[1][0]):
        ms = seconds * 1e3
        spent += ms
        rows.append([key, f"{calls:g}", f"{ms:.2f}", f"{100 * ms / step_ms:.1f}"])
    rest = step_ms - spent
    rows.append(["rest (Python, numpy, allocator)", "", f"{rest:.2f}",
                 f"{100 * rest / step_ms:.1f}"])
    return rows
