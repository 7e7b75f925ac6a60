"""pyfrozen's per-block, per-pass breakdown of a MobileNet training step.

``pyfrozen.autograd.trace()`` records every kernel a step runs, with its layer, pass
and work. Time per block is estimated from kernel work, not profiled: the step's
median time split by each block's share of the step's multiply-adds (conv, depthwise
and dense kernels; elementwise kernels such as BatchNorm and ReLU count as calls only).
A second table per configuration is measured: each kernel's time in the step, by kernel
and kind (kernel_times.py).
"""

from __future__ import annotations

import re
from typing import Any

from kernel_times import kernel_rows, measure
from report import table
from timing import Stats, repeat, warm_up
from train_setup import Shape, pyfrozen_compiled, pyfrozen_step

MAC_KERNELS = ("conv2d", "depthwise_conv2d", "dense")
PASSES = ("forward", "backward_input", "backward_weight")
TIMED_STEPS = 3
CONFIGS = ("full", "top2", "frozen")


def block_of(layer: str) -> str:
    """MobileNet layer name -> its block (``stem``, ``block 7``, ``head``, ``other``)."""
    if layer.startswith("conv1"):
        return "stem"
    found = re.match(r"conv_(?:dw|pw|pad)_(\d+)", layer)
    if found:
        return f"block {int(found.group(1)):2d}"
    return "head" if layer in ("gap", "head") else "other"


def trace_step(config: str, shape: Shape) -> dict[str, Any]:
    """Kernel calls and multiply-adds per block and pass of one warm step, and its time."""
    from pyfrozen.autograd import trace

    step = pyfrozen_step(pyfrozen_compiled(config, shape), config, shape)
    warm_up(step)
    seconds = Stats.of(repeat(step, 5, 1)).median
    with trace() as t:
        step()
    blocks: dict[str, dict[str, list[int]]] = {}
    for r in t.kernels:
        cell = blocks.setdefault(block_of(r.layer), {}).setdefault(r.pass_, [0, 0])
        cell[0] += r.calls
        if r.kernel in MAC_KERNELS:
            cell[1] += r.work
    return {"seconds": seconds, "blocks": blocks, "saved": t.saved_bytes,
            "kernel_times": measure(step, TIMED_STEPS)}


def breakdown_child(shape: Shape) -> dict[str, Any]:
    """``trace_step`` of each training configuration (run in a child process, 1 thread)."""
    from machine import optional_torch, set_threads

    limiter = set_threads(1, optional_torch())
    result = {config: trace_step(config, shape) for config in CONFIGS}
    del limiter
    return result


def rows_for(result: dict[str, Any]) -> list[list[str]]:
    """One row per block: calls / million MACs per pass, share of MACs, est. ms."""
    total = sum(c[1] for b in result["blocks"].values() for c in b.values()) or 1
    rows = []
    for block in sorted(result["blocks"]):
        passes = result["blocks"][block]
        macs = sum(c[1] for c in passes.values())
        cells = [f"{passes.get(p, [0, 0])[0]} / {passes.get(p, [0, 0])[1] / 1e6:.1f}"
                 for p in PASSES]
        rows.append([block, *cells, f"{100 * macs / total:.1f}",
                     f"{result['seconds'] * 1e3 * macs / total:.2f}"])
    return rows


def breakdown_tables(breakdown: dict[str, Any], shape: Shape, line: str, md: bool) -> None:
    """Print one breakdown table per training configuration."""
    for config in CONFIGS:
        result = breakdown[config]
        print(f"\n{'### ' if md else ''}pyfrozen per block and pass, {config} step: "
              f"{shape.label()} ({result['seconds'] * 1e3:.2f} ms/step, "
              f"{result['saved'] / 1e6:.1f} MB saved for backward)\n")
        print(f"Machine: {line}\n")
        print(table(["block", *(f"{p} calls / MMACs" for p in PASSES), "% of MACs",
                     "est. ms (from MACs)"], rows_for(result), md))
        timed = result["kernel_times"]
        print(f"\n{'### ' if md else ''}pyfrozen kernel time, {config} step: {shape.label()} "
              f"({timed['seconds'] * 1e3:.2f} ms/step over {TIMED_STEPS} timed steps)\n")
        print(f"Machine: {line}\n")
        print(table(["kernel [kind stride]", "calls / step", "ms / step", "% of step"],
                    kernel_rows(timed), md))
    print("\nBreakdown from pyfrozen.autograd.trace() of one warm step; est. ms = median step "
          "time x the block's share of multiply-adds (kernel work, not a profile). Kernel "
          "time: every pyfrozen._core call timed over the timed steps (pw = 1x1, dw = "
          "depthwise, conv = any other; s = stride); rest = Python, numpy and the allocator.")
